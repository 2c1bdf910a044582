"""`bench metrics verify`: the metric backends against their authors' published reference values.

Each case is a pair of public files and the value its authors publish for it. The pair is scored through
:func:`bench.pair.score_pair`, the code path of `bench score`, and compared with the published value. The files
are not part of this repository: the user points at their own copies (see the README, "Checking the metrics").

Sources of the expected values (facts, quoted with their origin):

- ViSQOL: github.com/google/visqol, ``src/include/conformance.h`` (expected MOS-LQO) with the pairs and modes
  of ``tests/conformance_test.cc`` (``use_speech_mode`` false = audio mode, search window 60) and, for
  ``kCA01_01AsAudio``, ``tests/visqol_manager_test.cc`` (RegressionTest.Mono: the speech file pair in audio
  mode). Only audio-mode cases are listed: music is scored in audio mode; the Python port's speech mode is
  known to deviate from the C++ by up to ~0.03.
- CDPAM: github.com/pranaymanocha/PerceptualAudio, ``cdpam/README.md``: ``sample_audio/ref.wav`` against
  ``sample_audio/2.wav`` "should return (approx) distance = 0.1696".
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

VISQOL_SOURCE = "github.com/google/visqol src/include/conformance.h + tests/conformance_test.cc"
CDPAM_SOURCE = "github.com/pranaymanocha/PerceptualAudio cdpam/README.md"
#: Tolerances: ViSQOL within 1e-3 MOS of Google's C++ values; CDPAM's README value has 4 decimals (0.1696).
VISQOL_TOLERANCE = 1e-3
CDPAM_TOLERANCE = 2e-4

_C = "conformance_testdata_subset/"
_GUITAR_5S = "short_duration/5_second/guitar48_stereo_5_sec.wav"


@dataclass(frozen=True)
class Case:
    """A published value: ``metric`` on ``ref`` vs ``deg`` (paths relative to the data folder) in ``domain``."""

    metric: str
    name: str  # the constant or label the source uses
    ref: str
    deg: str
    expected: float
    tolerance: float
    domain: str = "music"
    #: the installed backend is known not to reproduce this published value itself (why, as measured); such a
    #: case cannot check this suite against the publication, so it is reported and not counted
    backend_deviation: str = ""


#: Audio-mode (``--domain music``) ViSQOL conformance cases, paths relative to visqol's ``testdata/``.
VISQOL_CASES: tuple[Case, ...] = tuple(
    Case("visqol", name, ref, deg, value, VISQOL_TOLERANCE)
    for name, ref, deg, value in (
        ("kConformanceStraussLp35", _C + "strauss48_stereo.wav", _C + "strauss48_stereo_lp35.wav", 1.3888791489130758),
        ("kConformanceSteelyLp7", _C + "steely48_stereo.wav", _C + "steely48_stereo_lp7.wav", 2.2501683734385183),
        ("kConformanceSopr256aac", _C + "sopr48_stereo.wav", _C + "sopr48_stereo_256kbps_aac.wav", 4.68228969737946),
        ("kConformanceRavel128opus", _C + "ravel48_stereo.wav", _C + "ravel48_stereo_128kbps_opus.wav",
         4.465141897255348),
        ("kConformanceMoonlight128aac", _C + "moonlight48_stereo.wav", _C + "moonlight48_stereo_128kbps_aac.wav",
         4.684292801646114),
        ("kConformanceHarpsichord96mp3", _C + "harpsichord48_stereo.wav", _C + "harpsichord48_stereo_96kbps_mp3.wav",
         4.22374532766003),
        ("kConformanceGuitar64aac", _C + "guitar48_stereo.wav", _C + "guitar48_stereo_64kbps_aac.wav",
         4.349722308064298),
        ("kConformanceGlock48aac", _C + "glock48_stereo.wav", _C + "glock48_stereo_48kbps_aac.wav", 4.332452943882108),
        ("kConformanceContrabassoon24aac", _C + "contrabassoon48_stereo.wav",
         _C + "contrabassoon48_stereo_24kbps_aac.wav", 2.346868205375293),
        ("kConformanceCastanetsIdentity", _C + "castanets48_stereo.wav", _C + "castanets48_stereo.wav",
         4.732101253042348),
        ("kConformanceGuitarShortDegradedPatch", _C + "guitar48_stereo.wav", _GUITAR_5S, 4.314508583690198),
        ("kConformanceGuitarShortReferencePatch", _GUITAR_5S, _C + "guitar48_stereo.wav", 4.550791119387646),
    )
) + (
    Case("visqol", "kCA01_01AsAudio", "clean_speech/CA01_01.wav", "clean_speech/transcoded_CA01_01.wav",
         1.7658378752958486, VISQOL_TOLERANCE,
         backend_deviation="visqol-python 3.8.0's own VisqolApi.measure on these files gives 1.768980 (+3.1e-3)"),
)

#: CDPAM's published example, paths relative to PerceptualAudio's ``sample_audio/``.
CDPAM_CASES: tuple[Case, ...] = (Case("cdpam", "README_ref_vs_2", "ref.wav", "2.wav", 0.1696, CDPAM_TOLERANCE),)


@dataclass(frozen=True)
class Outcome:
    case: Case
    bench: float | None  # value through `bench score`'s path
    backend: float | None  # the backend package on the same files, called directly (ViSQOL only)
    status: str  # "pass", "FAIL" or "not counted" (a known deviation of the backend itself)
    reason: str  # why, one line

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


def judge(case: Case, bench: float, backend: float | None) -> tuple[str, str]:
    """(status, reason). Pass when `bench score` gives the published value within the case's tolerance.

    A case whose published value the backend itself is known not to reproduce (``backend_deviation``) is "not
    counted" when the backend, called directly, indeed misses it and `bench score` equals the backend; any other
    miss fails (so files that are not the published ones cannot pass).
    """
    tol = case.tolerance
    if abs(bench - case.expected) <= tol:
        return "pass", f"within {tol:g} of the published value"
    if case.backend_deviation and backend is not None and abs(backend - case.expected) > tol \
            and abs(bench - backend) <= tol:
        return "not counted", f"known backend deviation ({case.backend_deviation}); `bench score` equals the backend"
    return "FAIL", f"off by {bench - case.expected:+.2e} (tolerance {tol:g})"


def backend_value(case: Case, root: Path) -> float | None:
    """The backend package's own value for the pair from its own file reader (ViSQOL); None for CDPAM."""
    if case.metric != "visqol":
        return None
    from bench.metrics.visqol import ViSQOL, _mode

    api = ViSQOL().api(_mode(case.domain)[0])
    return float(api.measure(str(root / case.ref), str(root / case.deg)).moslqo)


def check_case(case: Case, root: Path, device: str) -> Outcome:
    from bench.pair import score_pair

    missing = [p for p in (case.ref, case.deg) if not (root / p).is_file()]
    if missing:
        return Outcome(case, None, None, "FAIL", f"missing file {root / missing[0]}")
    report = score_pair(root / case.ref, root / case.deg, [case.metric], case.domain, device)
    (result,) = report.results
    if result.error is not None or result.value is None or not math.isfinite(result.value):
        return Outcome(case, None, None, "FAIL", f"error: {result.error}")
    backend = backend_value(case, root)
    status, reason = judge(case, result.value, backend)
    return Outcome(case, result.value, backend, status, reason)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6f}"


def verify(groups: list[tuple[str, Path, tuple[Case, ...]]], device: str = "cpu", out=None) -> list[Outcome]:
    """Check each group's cases under its data folder; prints one line per case and returns the outcomes."""
    import sys

    out = out or sys.stdout
    outcomes = []
    print(f"{'metric':7s} {'case':38s} {'expected':>9s} {'backend':>9s} {'bench':>9s} {'diff':>9s}  result", file=out)
    for source, root, cases in groups:
        print(f"# {source}; data: {root}", file=out)
        for case in cases:
            o = check_case(case, root, device)
            diff = "-" if o.bench is None else f"{o.bench - case.expected:+.1e}"
            print(f"{case.metric:7s} {case.name:38s} {case.expected:9.6f} {_fmt(o.backend):>9s} {_fmt(o.bench):>9s} "
                  f"{diff:>9s}  {o.status}: {o.reason}", file=out, flush=True)
            outcomes.append(o)
    count = {k: sum(o.status == k for o in outcomes) for k in ("pass", "FAIL", "not counted")}
    print(f"{count['pass']} pass, {count['FAIL']} fail, {count['not counted']} not counted (known backend deviation)"
          f" of {len(outcomes)} cases", file=out)
    return outcomes


def run_verify(visqol_testdata: str | os.PathLike | None, cdpam_example: str | os.PathLike | None,
               device: str = "cpu") -> int:
    """CLI entry: 0 when every case passes, 1 otherwise; a one-line error when no or a wrong folder is given."""
    groups = []
    for given, option, source, cases in (
        (visqol_testdata, "--visqol-testdata", VISQOL_SOURCE, VISQOL_CASES),
        (cdpam_example, "--cdpam-example", CDPAM_SOURCE, CDPAM_CASES),
    ):
        if given is None:
            continue
        root = Path(given).expanduser()
        if not root.is_dir():
            raise BenchError(f"{option} {root}: not a folder")
        groups.append((source, root, cases))
    if not groups:
        raise BenchError("bench metrics verify needs --visqol-testdata DIR (testdata/ of github.com/google/visqol) "
                         "and/or --cdpam-example DIR (sample_audio/ of github.com/pranaymanocha/PerceptualAudio)")
    outcomes = verify(groups, device)
    return 0 if all(o.passed for o in outcomes) else 1
