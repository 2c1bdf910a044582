"""benchmarks/vocoder_speed.py: discovers the neural vocoders and measures both paths on the same input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from numerics import F32_EPS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vocoder_speed.py"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("vocoder_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_discovers_registered_neural_vocoders(speed):
    names = speed.neural_vocoders()
    assert {"bigvgan-v2-44k-256x", "bigvgan-v2-44k-512x", "bigvgan-24k-100band", "hifigan", "vocos-mel-24k"} <= \
        set(names)
    assert "griffinlim" not in names and "reference" not in names


def test_bench_one_reports_consistent_numbers(speed):
    tiny = {"config": {"dim": 32, "intermediate_dim": 48, "num_layers": 2}}
    r = speed.bench_one("vocos-mel-24k", device="cpu", precision="fp32", seconds=0.1, batch=2, repeats=1,
                        params=tiny)
    assert r["params_m"] == pytest.approx(0.0634, abs=0.001)
    assert r["audio_s"] == pytest.approx(2 * (2400 // 256) * 256 / 24000)
    assert r["speedup"] == pytest.approx(r["plain_s"] / r["optimised_s"])
    assert r["speedup_single"] == pytest.approx(r["plain_s"] / r["optimised_single_s"])
    assert r["rtf_optimised"] == pytest.approx(r["audio_s"] / r["optimised_s"])
    # the optimised path computes the same audio in float32: rounding relative to the output's scale
    assert r["max_abs_diff"] <= 256 * F32_EPS * r["out_scale"], (r["max_abs_diff"], r["out_scale"])


def test_main_skips_what_cannot_be_built_and_writes_json(speed, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = speed.main(["--vocoders", "vocos-mel-24k,no-such-vocoder", "--seconds", "0.05", "--batch", "2",
                     "--params", '{"config": {"dim": 16, "intermediate_dim": 16, "num_layers": 1}}',
                     "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert [r["vocoder"] for r in data["results"]] == ["vocos-mel-24k"]
    assert data["results"][0]["params_m"] < 0.05
    assert "no-such-vocoder" in data["skipped"]
    assert "skipped" in capsys.readouterr().out
