"""Scoring one pair of files as given (`bench score REF DEG`): each metric sees the files at their native rates.

Data flow: read each file at its own rate and channel layout -> mono downmix (said) -> per metric: equal
lengths only where the metric needs them (trimmed at the end, said), otherwise the files as they are -> the
metric resamples its own copy to its own rate, once (said) -> value. Two diagnostics are estimated on the side
and printed as warnings when they are large enough to dominate a metric: the delay of DEG against REF
(cross-correlation) and their level difference.

``bench metrics verify`` (:mod:`bench.metrics.verify`) goes through :func:`score_pair` too, so the published
reference values are checked on exactly this path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.audio.checks import rms_dbfs, validate
from bench.audio.io import read_info
from bench.audio.resample import resample
from bench.errors import AudioError, BenchError
from bench.metrics.base import Metric, MetricEntry

#: Thresholds for the delay and level warnings: where the shift or gain alone adds ~0.1 to MR-STFT. Measured on a
#: 3 s music-like test signal at 44.1 kHz (tests/conftest.py music_like, seed 3) against itself shifted/scaled:
#: MR-STFT 0.064 / 0.157 / 0.286 / 0.496 / 1.026 for 0.1 / 0.25 / 0.5 / 1 / 5 ms of delay (MR-MEL 0.02 ... 0.15),
#: 0.117 / 0.237 / 0.489 for +0.5 / 1 / 2 dB of gain: more than the difference between two good vocoders.
DELAY_WARN_S = 0.2e-3
LEVEL_WARN_DB = 0.5
#: Largest delay searched, and the excerpt (from the start) the delay is estimated on, in seconds (bounds memory).
MAX_DELAY_S = 0.5
DELAY_EXCERPT_S = 30.0
#: A delay is reported only when the correlation peak is this strong (unrelated signals have no delay).
MIN_CORRELATION = 0.3


@dataclass(frozen=True)
class PairFile:
    """One input file as read: mono downmix [T] float32 at the file's own rate."""

    path: str
    samples: np.ndarray
    sample_rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.samples.size / self.sample_rate


@dataclass
class MetricResult:
    """A metric's value for the pair (or the one-line reason it has none) and what was done to its inputs."""

    metric: str
    value: float | None
    error: str | None
    sample_rate: int | None  # rate the metric computed at
    detail: str  # e.g. "audio mode"
    notes: list[str] = field(default_factory=list)  # one line each: resampling, trimming


@dataclass
class PairReport:
    ref: PairFile
    deg: PairFile
    notes: list[str]  # file-level lines (downmix)
    warnings: list[str]  # delay, level
    results: list[MetricResult]

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.results)


def read_file(path: str | os.PathLike) -> PairFile:
    """Read ``path`` at its native rate; channels are averaged (mono downmix). Raises AudioError."""
    import soundfile as sf

    info = read_info(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(f"{path}: cannot decode audio ({err})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples")
    x = data.mean(axis=1, dtype=np.float64).astype(np.float32)  # exact for 16-bit stereo
    validate(x, int(sr), min_samples=1, what=str(path))
    return PairFile(path=str(path), samples=x, sample_rate=int(sr), channels=int(info.channels))


def downmix_note(f: PairFile, role: str) -> str | None:
    if f.channels == 1:
        return None
    return f"{role}: {f.channels} channels, scored as the mono downmix (mean of the channels)"


def trim_to_common(ref: PairFile, deg: PairFile) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Both signals cut to the shorter one's duration at their own rates; the note says what was trimmed.

    The end is trimmed, never the start (no shift: a delay is reported, not hidden). With different rates the
    lengths at the metric's rate may still differ by one sample after resampling; metrics that need equal
    lengths compare the common frames.
    """
    dur = min(ref.seconds, deg.seconds)
    keep_ref = min(ref.samples.size, int(round(dur * ref.sample_rate)))
    keep_deg = min(deg.samples.size, int(round(dur * deg.sample_rate)))
    cut_ref, cut_deg = ref.samples.size - keep_ref, deg.samples.size - keep_deg
    note = None
    for role, cut, f in (("REF", cut_ref, ref), ("DEG", cut_deg, deg)):
        if cut > 0:
            other = "DEG" if role == "REF" else "REF"
            note = (f"trimmed {cut} samples ({cut / f.sample_rate:.3f} s) at the end of {role} "
                    f"to {other}'s length")
    return ref.samples[:keep_ref], deg.samples[:keep_deg], note


def resample_note(metric_sr: int, ref: PairFile, deg: PairFile) -> str:
    """One line: the rate the metric computes at and which inputs it resampled (its own copies)."""
    parts = []
    for role, f in (("REF", ref), ("DEG", deg)):
        parts.append(f"{role} {f.sample_rate} Hz -> {metric_sr} Hz" if f.sample_rate != metric_sr
                     else f"{role} {f.sample_rate} Hz as is")
    resampled = any(f.sample_rate != metric_sr for f in (ref, deg))
    return f"computed at {metric_sr} Hz: " + ", ".join(parts) + (" (soxr VHQ, once)" if resampled else "")


def score_with(metric: Metric, entry: MetricEntry, ref: PairFile, deg: PairFile, domain: str) -> MetricResult:
    """Value of one metric for the pair; a :class:`BenchError` becomes the result's one-line error."""
    notes: list[str] = []
    try:
        rate = metric.sample_rate(domain)
        v = metric.variant(domain)
        detail = ", ".join(str(x) for x in (v.get("mode") and f"{v['mode']} mode",) if x)
        notes.append(resample_note(rate, ref, deg))
        if entry.handles_unequal_lengths:
            r, d = ref.samples, deg.samples
            if abs(ref.seconds - deg.seconds) * max(ref.sample_rate, deg.sample_rate) >= 1:
                notes.append(f"lengths differ ({ref.seconds:.3f} s vs {deg.seconds:.3f} s); passed as they are: "
                             f"{entry.name} handles unequal lengths itself")
        else:
            r, d, trim = trim_to_common(ref, deg)
            if trim:
                notes.append(trim)
        value = metric.score(metric.prepare(r, ref.sample_rate, domain), d, deg.sample_rate, domain)
        return MetricResult(entry.name, value, None, rate, detail, notes)
    except BenchError as err:
        return MetricResult(entry.name, None, str(err), None, "", notes)


def estimate_delay(ref: PairFile, deg: PairFile) -> tuple[int, int, float]:
    """(delay of DEG after REF in samples, at rate in Hz, normalised correlation peak 0..1), by FFT cross-correlation.

    Computed on copies of the first :data:`DELAY_EXCERPT_S` seconds at the lower of the two rates, over lags up
    to :data:`MAX_DELAY_S`.
    """
    sr = min(ref.sample_rate, deg.sample_rate)
    a = resample(ref.samples[: int(DELAY_EXCERPT_S * ref.sample_rate)], ref.sample_rate, sr).astype(np.float64)
    b = resample(deg.samples[: int(DELAY_EXCERPT_S * deg.sample_rate)], deg.sample_rate, sr).astype(np.float64)
    n = a.size + b.size - 1
    nfft = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(b, nfft) * np.conj(np.fft.rfft(a, nfft)), nfft)  # xc[k] = sum b[t+k] a[t]
    max_lag = min(int(MAX_DELAY_S * sr), a.size - 1, b.size - 1)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    vals = np.concatenate([xc[: max_lag + 1], xc[nfft - max_lag:]])
    i = int(np.argmax(np.abs(vals)))
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    peak = abs(float(vals[i])) / norm if norm > 0 else 0.0
    return int(lags[i]), sr, peak


def level_difference_db(ref: PairFile, deg: PairFile) -> float:
    """RMS level of DEG minus REF in dB, over their common duration."""
    dur = min(ref.seconds, deg.seconds)
    r = ref.samples[: max(1, int(dur * ref.sample_rate))]
    d = deg.samples[: max(1, int(dur * deg.sample_rate))]
    return rms_dbfs(d) - rms_dbfs(r)


def diagnostics(ref: PairFile, deg: PairFile) -> list[str]:
    """Warning lines for a delay or a level difference large enough to dominate a metric."""
    out = []
    lag, rate, peak = estimate_delay(ref, deg)
    if peak >= MIN_CORRELATION and abs(lag) / rate >= DELAY_WARN_S:
        way = "after" if lag > 0 else "before"
        out.append(f"DEG starts {abs(lag) / rate * 1000:.2f} ms ({abs(lag)} samples at {rate} Hz) {way} REF "
                   f"(cross-correlation peak {peak:.2f}); "
                   "sample-aligned metrics (MR-STFT, MR-MEL) score the shift, not only the degradation")
    level = level_difference_db(ref, deg)
    if abs(level) >= LEVEL_WARN_DB:
        out.append(f"DEG is {abs(level):.1f} dB {'louder' if level > 0 else 'quieter'} than REF (RMS); "
                   "level-sensitive metrics (MR-STFT, MR-MEL, CDPAM) score the gain too")
    return out


def score_pair(ref_path: str | os.PathLike, deg_path: str | os.PathLike, metrics: list[str], domain: str,
               device: str = "cpu") -> PairReport:
    """Score DEG against REF with each named metric, each at its own rate from the native-rate files.

    A metric that fails (too short, missing backend...) gets its one-line error; the others still run.
    """
    from bench.metrics.registry import metric_registry

    reg = metric_registry()
    entries = [reg.get(name) for name in metrics]  # unknown names fail before any work
    ref, deg = read_file(Path(ref_path)), read_file(Path(deg_path))
    notes = [n for n in (downmix_note(ref, "REF"), downmix_note(deg, "DEG")) if n]
    warnings = diagnostics(ref, deg)
    results = []
    for entry in entries:
        try:
            metric = entry.factory(device=device if entry.gpu_capable else "cpu")
        except BenchError as err:
            results.append(MetricResult(entry.name, None, str(err), None, ""))
            continue
        results.append(score_with(metric, entry, ref, deg, domain))
    return PairReport(ref=ref, deg=deg, notes=notes, warnings=warnings, results=results)


def print_report(report: PairReport, directions: dict[str, str], file=None) -> None:
    """The values, one line each, followed by what was done and the warnings (all one line each)."""
    import sys

    out = file or sys.stdout
    for r in report.results:
        if r.error is not None:
            print(f"{r.metric}: error: {r.error}", file=out)
            continue
        arrow = "↓" if directions.get(r.metric) == "lower" else "↑"
        detail = ", ".join(x for x in (f"{r.sample_rate} Hz", r.detail) if x)
        print(f"{r.metric:8s} {arrow} {r.value:.4f}   ({detail})", file=out)
    for line in report.notes:
        print(f"note: {line}", file=out)
    for r in report.results:
        for line in r.notes:
            print(f"note: {r.metric}: {line}", file=out)
    for line in report.warnings:
        print(f"warning: {line}", file=out)
