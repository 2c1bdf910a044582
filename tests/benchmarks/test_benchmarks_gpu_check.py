"""benchmarks/gpu_check.py: the tiny CPU run end to end (every section in the JSON, float32 check passed), and
the peak table's device-name matching."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, tflops", [
    ("NVIDIA H100 80GB HBM3", 989.5), ("NVIDIA H100 PCIe", 756.5), ("NVIDIA H200", 989.5),
    ("NVIDIA H200 NVL", 835.5), ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A10", 125.0), ("NVIDIA L4", 121.0),
    ("NVIDIA L40S", 362.05), ("NVIDIA L40", None), ("Tesla T4", None), ("x86_64", None),
])
def test_peak_table_matches_whole_words(gpu_check, name, tflops):
    peak, source = gpu_check.peak_bf16(name)
    if tflops is None:
        assert peak is None and source == "peak unknown"
    else:
        assert peak == pytest.approx(tflops * 1e12) and "datasheet" in source


@pytest.mark.slow
def test_tiny_cpu_run_end_to_end(tmp_path):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    r = json.loads((out / "gpu_check.json").read_text())
    assert {"meta", "correctness", "throughput", "metrics", "costs", "paper_run", "model"} <= set(r)
    assert r["meta"]["device"] == "cpu" and "no GPU figures" in r["meta"]["note"]

    c = r["correctness"]
    assert c["compared"].startswith("cpu vs cpu")
    assert {v["vocoder"] for v in c["vocoders"]} >= {"discoder", "bigvgan-v2-44k-256x", "vocos-mel-24k", "hifigan",
                                                     "dac", "griffinlim", "anchor35", "reference"}
    assert all(v["fp32"]["passed"] for v in c["vocoders"]) and c["cdpam"]["passed"]
    dac = next(v for v in c["vocoders"] if v["vocoder"] == "dac")
    assert dac["fp32"]["path"] == "synthesis from the CPU's codes" and dac["fp32"]["codes_agree"] == 1.0
    for v in c["vocoders"]:
        if v["vocoder"] in ("discoder", "hifigan", "vocos-mel-24k"):
            # bf16 runs on this CPU and differs from float32 by rounding, not by a broken model
            assert 0 < v["bf16"]["rel_rms"] < 0.1 and v["bf16"]["within"], v

    t = r["throughput"]
    assert t["peak_source"] == "peak unknown" and "FlopCounterMode" in t["flops_method"]
    neural = [v for v in t["vocoders"] if v["vocoder"] in ("discoder", "bigvgan-v2-44k-256x", "vocos-mel-24k",
                                                           "hifigan", "dac")]
    assert len(neural) == 5
    for v in neural:
        assert "error" not in v, v
        assert v["flops_per_audio_s"] > 0 and v["plain_fp32_single_audio_s_per_s"] > 0
        assert v["batched_bf16_audio_s_per_s"] > 0 and v["fraction_of_bf16_peak"] is None

    ms = {m["metric"]: m for m in r["metrics"]["metrics"]}
    assert set(ms) == {"mrstft", "mrmel", "cdpam", "visqol"}
    assert all(m["pairs_per_s"] > 0 and m["audio_s_per_s"] > 0 for m in ms.values())
    assert r["costs"]["io_s_per_audio_s"] > 0 and r["costs"]["store_s_per_value"] > 0

    p = r["paper_run"]
    assert p["returncode"] == 0 and p["values"] == p["expected_values"] == 2 * 4 * 4 and p["failures"] == []
    assert p["wall_s"] > 0

    mo = r["model"]
    assert [(row["study"][:5], row["gpus"]) for row in mo["rows"]] == \
        [(s, g) for s in ("paper", "5,000") for g in (1, 8, 64)]
    assert "CPU-measured" in mo["source"] and "paper_run_check" in mo
    assert "## Wall-time model" in res.stdout and "peak unknown" in res.stdout
