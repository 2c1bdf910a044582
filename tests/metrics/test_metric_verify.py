"""`bench metrics verify` on a tiny data folder laid out like the public ones (files written here, no third-party
data): values computed through `bench score`'s path, pass/fail judged against the published table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main
from bench.metrics import verify as V
from bench.perf.cdpam_speed import music_like


def _stereo48(path: Path, seconds: float, seed: int, gain: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = gain * music_like(seconds, 48000, seed=seed)
    sf.write(path, np.stack([x, 0.7 * x], axis=1), 48000, subtype="PCM_16")


def test_judge_rules() -> None:
    case = V.Case("visqol", "c", "r", "d", 4.0, 1e-3)
    assert V.judge(case, 4.0005, 4.0001) == ("pass", "within 0.001 of the published value")
    assert V.judge(case, 3.99, 3.99) == ("FAIL", "off by -1.00e-02 (tolerance 0.001)")
    assert V.judge(case, 4.003, None)[0] == "FAIL"
    # Only a declared deviation of the backend itself is not counted, and only while bench equals the backend.
    known = V.Case("visqol", "c", "r", "d", 4.0, 1e-3, backend_deviation="the port gives 4.003")
    status, why = V.judge(known, 4.003, 4.003)
    assert status == "not counted" and why.startswith("known backend deviation (the port gives 4.003)")
    assert V.judge(known, 4.010, 4.003)[0] == "FAIL"  # bench adds an error of its own
    assert V.judge(known, 4.0005, 4.0005)[0] == "pass"


def test_published_tables_name_every_case_once() -> None:
    names = [c.name for c in V.VISQOL_CASES]
    assert len(names) == len(set(names)) == 13 and all(c.domain == "music" for c in V.VISQOL_CASES)
    assert V.CDPAM_CASES[0].expected == 0.1696 and V.CDPAM_CASES[0].tolerance == 2e-4


def test_verify_on_a_fake_visqol_testdata_folder(tmp_path: Path, capsys) -> None:
    pytest.importorskip("visqol")
    root = tmp_path / "testdata"
    sub = root / "conformance_testdata_subset"
    _stereo48(sub / "castanets48_stereo.wav", 1.2, seed=1)  # identity: any signal scores the mode's maximum
    _stereo48(sub / "strauss48_stereo.wav", 1.2, seed=2)
    _stereo48(sub / "strauss48_stereo_lp35.wav", 1.2, seed=3, gain=0.9)  # not Google's file: cannot match
    assert main(["metrics", "verify", "--visqol-testdata", str(root), "--device", "cpu"]) == 1
    out = capsys.readouterr().out.splitlines()
    by_name = {line.split()[1]: line for line in out if line.startswith("visqol ")}
    assert len(by_name) == 13 and out[-1] == "1 pass, 12 fail, 0 not counted (known backend deviation) of 13 cases"
    assert " 4.732101 " in by_name["kConformanceCastanetsIdentity"]
    assert by_name["kConformanceCastanetsIdentity"].endswith("pass: within 0.001 of the published value")
    strauss = by_name["kConformanceStraussLp35"]
    assert "FAIL: off by" in strauss and strauss.split()[2] == "1.388879"  # files that are not Google's fail
    got, backend = float(strauss.split()[4]), float(strauss.split()[3])
    assert got == backend  # `bench score`'s path gives the backend's own value for the files
    assert by_name["kConformanceSopr256aac"].endswith(f"FAIL: missing file {sub / 'sopr48_stereo.wav'}")


def test_verify_cdpam_example_folder_pass_and_fail(tmp_path: Path, capsys) -> None:
    pytest.importorskip("cdpam")
    from bench.metrics.registry import metric_registry

    root = tmp_path / "sample_audio"
    root.mkdir()
    ref, deg = music_like(0.5, 22050, seed=4), music_like(0.5, 22050, seed=5)
    sf.write(root / "ref.wav", ref, 22050, subtype="PCM_16")
    sf.write(root / "2.wav", deg, 22050, subtype="PCM_16")
    assert main(["metrics", "verify", "--cdpam-example", str(root), "--device", "cpu"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cdpam "))
    assert line.split()[2] == "0.169600" and "FAIL: off by" in line  # these files are not the authors' pair
    # The same check passes when the expected value is this pair's value, computed here directly.
    a, _ = sf.read(root / "ref.wav", dtype="float32")
    b, _ = sf.read(root / "2.wav", dtype="float32")
    value = metric_registry().get("cdpam").factory(device="cpu")(a, b, 22050)
    case = V.Case("cdpam", "here", "ref.wav", "2.wav", value, 2e-4)
    (outcome,) = V.verify([("test", root, (case,))], "cpu")
    assert outcome.passed and outcome.bench == pytest.approx(value, rel=1e-6)


def test_verify_needs_a_folder(tmp_path: Path, capsys) -> None:
    assert main(["metrics", "verify"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: bench metrics verify needs --visqol-testdata DIR") and "\n" not in err
    assert main(["metrics", "verify", "--cdpam-example", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["metrics"]) == 0  # listing unchanged
