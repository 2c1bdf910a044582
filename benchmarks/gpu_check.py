"""GPU check: every vocoder and CDPAM on the device against the CPU, throughput, a paper-size run, wall-time model.

Sections (all in one run, printed as tables and written to ``OUT/gpu_check.json``):

- ``correctness``: each vocoder (random weights, the real architectures: full size, or tiny with ``--tiny``) and
  CDPAM run on ``--device`` in float32 and on the CPU in float32, same inputs; the largest difference in units
  of float32 epsilon x the output's scale must stay under ``FP32_TOL_ULPS``. bf16 and fp16 outputs of the
  neural vocoders on the device are compared with the CPU float32 output and their relative error reported.
  With ``--device cpu`` the float32 comparison is CPU against CPU (a determinism check only) and bf16/fp16 run
  on the CPU where torch supports them: the output says so.
- ``throughput``: each vocoder's synthesis speed (audio seconds per wall second) three ways, measured side by
  side on the same features: the plain float32 single-item loop, batched float32, batched bf16. FLOPs are counted
  with ``torch.utils.flop_counter.FlopCounterMode`` on one float32 forward of one item (matmuls and
  convolutions only: activations, FFTs and resampling filters count as 0) and the batched bf16 rate is given as
  a fraction of the device's dense bf16 peak from ``PEAK_BF16_TFLOPS`` ("peak unknown" for other devices).
- ``metrics``: CDPAM (on the device), ViSQOL, MR-STFT and MR-mel (CPU, one torch thread: cost per core) in
  pairs per second and degraded-audio seconds per second, each reference prepared once for its K versions.
- ``costs``: audio write + read per audio second, and one value stored in the SQLite store.
- ``paper_run``: ``bench run`` on 4 vocoders with random weights x 4 metrics x 50 synthetic 10 s clips
  (``--dataset folder``), timed end to end in a subprocess (``--tiny``: 2 clips x 1 s, tiny models).
- ``model``: :mod:`bench.perf.scaling_model` fed with the costs measured here: the paper table and a 5,000-clip
  study on 1, 8 and 64 GPUs, and what bounds each.

Usage: python benchmarks/gpu_check.py [--device cuda|cpu] [--tiny] [--out DIR] [--sections a,b,...]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.audio.io import load_audio, save_audio
from bench.cuda_numerics import float32_settings, use_exact_fp32
from bench.environment import device_name
from bench.metrics.registry import metric_registry
from bench.perf.cdpam_speed import degradations, music_like
from bench.perf.scaling_model import Cluster, Study, UnitCosts, costs_from_run, format_table, predict, scenarios
from bench.perf.timing import median_seconds, sync
from bench.results.store import ResultsStore
from bench.vocoders.base import LoadOptions, Vocoder
from bench.vocoders.bigvgan import VARIANTS
from bench.vocoders.discoder import RELEASED_CONFIG
from bench.vocoders.registry import vocoder_registry

SECTIONS = ("correctness", "throughput", "metrics", "costs", "paper_run", "model")
F32_EPS = float(np.finfo(np.float32).eps)
#: float32 device vs CPU: at most this many float32 epsilons of the output's scale. Rounding alone (other
#: summation orders, other convolution algorithms) stays far below; TF32 (10-bit mantissa, ~4.9e-4 per
#: operation, i.e. ~4000 eps) would not.
FP32_TOL_ULPS = 1024.0
#: Stated tolerance of bf16/fp16 outputs: relative RMS error against the CPU float32 output. Measured with
#: ``--device cpu --tiny`` (README "GPU check"): bf16 0.0057-0.011 (DAC 0.037, its codes flip), fp16 0.0007-0.002;
#: the bounds leave room above those. Reported per vocoder ("within"), not part of the exit status, until a GPU
#: run measures the GPU's own figures.
LOW_PRECISION_REL_RMS = {"bf16": 0.05, "fp16": 0.005}
#: The four vocoders of the paper-size table and the metrics.
PAPER_VOCODERS = ("discoder", "bigvgan-v2-44k-256x", "vocos-mel-24k", "hifigan")
PAPER_METRICS = ("mrstft", "mrmel", "cdpam", "visqol")
#: Vocoders checked: the neural ones (random weights) and the signal-processing ones.
CHECKED = ("discoder", "bigvgan-v2-44k-256x", "vocos-mel-24k", "hifigan", "dac", "griffinlim", "anchor35",
           "reference")

#: Tiny architectures of the real networks (few channels and layers; front-ends as published).
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "bigvgan-v2-44k-256x": {**VARIANTS["bigvgan-v2-44k-256x"][1], "upsample_rates": [4, 4, 4, 4],
                            "upsample_kernel_sizes": [8, 8, 8, 8], "upsample_initial_channel": 32,
                            "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]},
    "hifigan": {"upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
                "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 7],
                "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]]},
    "vocos-mel-24k": {"dim": 32, "intermediate_dim": 48, "num_layers": 2},
    "dac": {"encoder_dim": 4, "encoder_rates": [2, 4], "latent_dim": 16, "decoder_dim": 16, "decoder_rates": [4, 2],
            "n_codebooks": 3, "codebook_size": 32, "codebook_dim": 4},
}
_TINY_DISCODER = copy.deepcopy(RELEASED_CONFIG)
_TINY_DISCODER["model"].update(latent_dim=16, codebook_size=16, initial_out_channels=16, intermediate_dim=12,
                               n_resblocks=2, resblock_kernel_sizes=[3, 5], resblock_dilations=[[1, 3, 5], [1, 3]],
                               dac_decoder={"channels": 32, "rates": [8, 8, 4, 2]})
TINY_CONFIGS["discoder"] = _TINY_DISCODER

#: Dense (no sparsity) bf16 tensor-core peak in TFLOPS, keyed by the words of torch.cuda.get_device_name().
#: NVIDIA datasheets give "with sparsity" figures; dense is half of them. Checked first to last.
PEAK_BF16_TFLOPS: tuple[tuple[str, float, str], ...] = (
    ("H200 NVL", 835.5, "NVIDIA H200 NVL datasheet: BF16 tensor core 1,671 TFLOPS with sparsity"),
    ("H200", 989.5, "NVIDIA H200 SXM datasheet: BF16 tensor core 1,979 TFLOPS with sparsity"),
    ("H100 NVL", 835.5, "NVIDIA H100 NVL datasheet: BF16 tensor core 1,671 TFLOPS with sparsity"),
    ("H100 PCIe", 756.5, "NVIDIA H100 PCIe datasheet: BF16 tensor core 1,513 TFLOPS with sparsity"),
    ("H100", 989.5, "NVIDIA H100 SXM datasheet: BF16 tensor core 1,979 TFLOPS with sparsity"),
    ("A100", 312.0, "NVIDIA A100 datasheet: BF16 tensor core 312 TFLOPS dense (624 with sparsity)"),
    ("L40S", 362.05, "NVIDIA L40S datasheet: BF16 tensor core 362.05 TFLOPS dense (733 with sparsity)"),
    ("L4", 121.0, "NVIDIA L4 datasheet: BF16 tensor core 242 TFLOPS with sparsity"),
    ("A10", 125.0, "NVIDIA A10 datasheet: BF16 tensor core 125 TFLOPS dense (250 with sparsity)"),
)


def peak_bf16(name: str) -> tuple[float | None, str]:
    """(dense bf16 peak in FLOP/s, source) for a device name, or (None, "peak unknown")."""
    words = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    for key, tflops, source in PEAK_BF16_TFLOPS:
        k = key.lower().split()
        if any(words[i:i + len(k)] == k for i in range(len(words))):
            return tflops * 1e12, source
    return None, "peak unknown"


# -- helpers ---------------------------------------------------------------------------------------------------

def _params(name: str, tiny: bool) -> dict[str, Any]:
    entry = vocoder_registry().get(name)
    params = dict(entry.default_params)
    if entry.family == "neural":
        params.update(random_init=True, seed=0)
        if tiny:
            params["config"] = copy.deepcopy(TINY_CONFIGS[name])
    return params


def build(name: str, device: str, precision: str, tiny: bool) -> Vocoder:
    """Vocoder ``name`` with seeded random weights (neural ones), through its registry factory."""
    entry = vocoder_registry().get(name)
    dev = device if entry.gpu_capable else "cpu"
    return entry.factory(LoadOptions(device=dev, precision=precision if entry.uses_precision else "fp32",
                                     params=_params(name, tiny)))


def _clips(sr: int, seconds: float, n: int) -> list[torch.Tensor]:
    return [torch.from_numpy(music_like(seconds, sr, seed=i)) for i in range(n)]


def _err(actual: list[torch.Tensor], expected: list[torch.Tensor]) -> dict[str, float]:
    a = torch.cat([x.double().reshape(-1) for x in actual])
    e = torch.cat([x.double().reshape(-1) for x in expected])
    if a.shape != e.shape:
        raise ValueError(f"output lengths differ: {tuple(a.shape)} vs {tuple(e.shape)}")
    scale = float(e.abs().max())
    d = (a - e).abs()
    return {"scale": scale, "max_abs": float(d.max()), "ulps": float(d.max()) / (F32_EPS * scale) if scale else 0.0,
            "rel_max": float(d.max()) / scale if scale else 0.0,
            "rel_rms": float(d.norm() / e.norm()) if float(e.norm()) else 0.0,
            "finite": bool(torch.isfinite(a).all())}


def _line(err: str | BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if isinstance(err, BaseException) and text else str(err)


# -- sections --------------------------------------------------------------------------------------------------

def correctness(device: str, tiny: bool, seconds: float, vocoders: tuple[str, ...] = CHECKED) -> dict[str, Any]:
    """Device vs CPU float32 (and bf16/fp16 vs CPU float32) for every vocoder and for CDPAM."""
    compared = f"{device} vs cpu" if device != "cpu" else "cpu vs cpu (determinism only: no GPU here)"
    rows = []
    for name in vocoders:
        print(f"  correctness: {name}", file=sys.stderr, flush=True)
        entry = vocoder_registry().get(name)
        row: dict[str, Any] = {"vocoder": name, "compared": compared if entry.gpu_capable else "cpu vs cpu (runs "
                               "on the CPU on every machine)"}
        try:
            clips = _clips(entry.sample_rate, seconds, 2)
            on_cpu, on_dev = build(name, "cpu", "fp32", tiny), build(name, device, "fp32", tiny)
            with torch.inference_mode():
                expected = [y.float().cpu() for y in on_cpu.copy_synthesis_items(clips)]
                got = [y.float().cpu() for y in on_dev.copy_synthesis_items(clips)]
                codes = on_cpu.analyse(torch.stack(clips))
                if codes.is_floating_point():
                    row["fp32"] = {**_err(got, expected), "path": "analysis + synthesis"}
                else:
                    # Discrete features (DAC's codes): a latent within rounding of two codebook entries may pick
                    # either on another device, and one flipped code changes its whole frame. So the decoder is
                    # compared on the CPU's codes, and how many codes the device picks alike is reported.
                    dev_codes = on_dev.analyse(torch.stack(clips).to(on_dev.device)).cpu()
                    same = _err([on_dev.synthesise(codes.to(on_dev.device)).float().cpu()],
                                [on_cpu.synthesise(codes).float().cpu()])
                    row["fp32"] = {**same, "path": "synthesis from the CPU's codes",
                                   "codes_agree": float((dev_codes == codes).double().mean()),
                                   "full_path": _err(got, expected)}
            del on_cpu, on_dev
            row["fp32"]["tol_ulps"] = FP32_TOL_ULPS
            row["fp32"]["passed"] = row["fp32"]["finite"] and row["fp32"]["ulps"] <= FP32_TOL_ULPS
            if entry.uses_precision:
                for precision in ("bf16", "fp16"):
                    try:
                        with torch.inference_mode():
                            low = [y.float().cpu() for y in build(name, device, precision, tiny)
                                   .copy_synthesis_items(clips)]
                        row[precision] = _err(low, expected)
                        row[precision]["within"] = (row[precision]["finite"] and row[precision]["rel_rms"]
                                                    <= LOW_PRECISION_REL_RMS[precision])
                    except Exception as err:  # noqa: BLE001 - e.g. an op without a half kernel on this device
                        row[precision] = {"error": _line(err)}
        except Exception as err:  # noqa: BLE001 - one vocoder that fails is reported, the others go on
            row["fp32"] = {"passed": False, "error": _line(err)}
        rows.append(row)
    return {"vocoders": rows, "cdpam": _cdpam_correctness(device, seconds), "compared": compared,
            "fp32_tol_ulps": FP32_TOL_ULPS, "low_precision_rel_rms": LOW_PRECISION_REL_RMS}


def _cdpam_correctness(device: str, seconds: float) -> dict[str, Any]:
    entry = metric_registry().get("cdpam")
    refs = [music_like(seconds, seed=10 + i) for i in range(2)]
    pairs = [(r, degradations(r, 2, seed=i)) for i, r in enumerate(refs)]

    def values(dev: str) -> list[float]:
        m = entry.factory(device=dev)
        return [v for r, degs in pairs for v in m.score_many(m.prepare(r, 44100, "music"), degs, 44100, "music")]

    try:
        cpu, dev = values("cpu"), values(device)
    except Exception as err:  # noqa: BLE001
        return {"passed": False, "error": _line(err)}
    e = _err([torch.tensor(dev)], [torch.tensor(cpu)])
    return {**e, "compared": f"{device} vs cpu", "values_cpu": cpu, "values_device": dev, "tol_ulps": FP32_TOL_ULPS,
            "passed": e["finite"] and e["ulps"] <= FP32_TOL_ULPS}


def throughput(device: str, tiny: bool, seconds: float, batch: int, repeats: int,
               vocoders: tuple[str, ...] = CHECKED) -> dict[str, Any]:
    """Plain fp32 single-item loop vs batched fp32 vs batched bf16 synthesis, side by side, with FLOPs."""
    peak, peak_source = peak_bf16(device_name(device)) if device.startswith("cuda") else (None, "peak unknown")
    rows = []
    for name in vocoders:
        print(f"  throughput: {name}", file=sys.stderr, flush=True)
        if name == "reference":
            continue  # a copy, nothing to measure
        entry = vocoder_registry().get(name)
        row: dict[str, Any] = {"vocoder": name, "device": device if entry.gpu_capable else "cpu"}
        try:
            fp32 = build(name, device, "fp32", tiny)
            audio = torch.stack(_clips(entry.sample_rate, seconds, batch))
            with torch.inference_mode():
                features = fp32.analyse(audio.to(fp32.device)).clone()
            items = [features[i:i + 1] for i in range(batch)]

            def single() -> torch.Tensor:
                with torch.inference_mode():
                    return torch.cat([fp32.synthesise(x) for x in items])

            def batched(v: Vocoder) -> Callable[[], torch.Tensor]:
                def f() -> torch.Tensor:
                    with torch.inference_mode():
                        return v.synthesise(features)
                return f

            row["plain_fp32_single_s"], out = median_seconds(single, fp32.device, repeats)
            audio_s = out.shape[0] * out.shape[-1] / fp32.sample_rate
            row["batched_fp32_s"], _ = median_seconds(batched(fp32), fp32.device, repeats)
            if entry.uses_precision:
                low = build(name, device, "bf16", tiny)
                row["batched_bf16_s"], _ = median_seconds(batched(low), low.device, repeats)
                del low
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                one = fp32.synthesise(items[0])
            one_s = one.shape[-1] / fp32.sample_rate
            row["flops_per_audio_s"] = counter.get_total_flops() / one_s
            row["audio_s"] = audio_s
            for k in ("plain_fp32_single", "batched_fp32", "batched_bf16"):
                if f"{k}_s" in row:
                    row[f"{k}_audio_s_per_s"] = audio_s / row[f"{k}_s"]
            fast = row.get("batched_bf16_audio_s_per_s")
            row["bf16_speedup_vs_plain"] = fast / row["plain_fp32_single_audio_s_per_s"] if fast else None
            row["fraction_of_bf16_peak"] = (row["flops_per_audio_s"] * fast / peak
                                            if peak and fast and row["flops_per_audio_s"] else None)
            del fp32
        except Exception as err:  # noqa: BLE001
            row["error"] = _line(err)
        rows.append(row)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return {"vocoders": rows, "clip_seconds": seconds, "batch": batch, "repeats": repeats,
            "device_name": device_name(device), "peak_bf16_flops": peak, "peak_source": peak_source,
            "flops_method": "torch.utils.flop_counter.FlopCounterMode on one float32 synthesise() of one item "
                            "(matmul/convolution FLOPs only)"}


def metrics_speed(device: str, seconds: float, refs: int, k: int) -> dict[str, Any]:
    """Each paper metric: prepare ``refs`` references once, score ``k`` degraded versions of each."""
    rows = []
    pairs = [(r, degradations(r, k, seed=i)) for i, r in enumerate(music_like(seconds, seed=20 + i)
                                                                    for i in range(refs))]
    for name in PAPER_METRICS:
        entry = metric_registry().get(name) if name in metric_registry().names() else None
        row: dict[str, Any] = {"metric": name}
        if entry is None:
            row["error"] = f"metric {name} not available (missing extra?)"
            rows.append(row)
            continue
        dev = device if entry.gpu_capable else "cpu"
        row["device"] = dev
        threads = torch.get_num_threads()
        try:
            if dev == "cpu":
                torch.set_num_threads(1)  # cost per CPU core, as the model schedules CPU metrics
            m = entry.factory(device=dev)
            r0, d0 = pairs[0]
            m.score_many(m.prepare(r0[: 44100], 44100, "music"), [d[: 44100] for d in d0[:1]], 44100, "music")  # warm
            sync(torch.device(dev))
            t0 = time.perf_counter()
            for r, degs in pairs:
                m.score_many(m.prepare(r, 44100, "music"), degs, 44100, "music")
            sync(torch.device(dev))
            wall = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001
            row["error"] = _line(err)
            rows.append(row)
            continue
        finally:
            torch.set_num_threads(threads)
        n = sum(len(d) for _, d in pairs)
        audio = sum(x.size for _, d in pairs for x in d) / 44100
        row.update(pairs=n, audio_s=audio, seconds=wall, pairs_per_s=n / wall, audio_s_per_s=audio / wall,
                   s_per_audio_s=wall / audio, threads=1 if dev == "cpu" else None)
        rows.append(row)
    return {"metrics": rows, "clip_seconds": seconds, "references": refs, "versions_per_reference": k}


def costs(seconds: float, values: int = 200) -> dict[str, Any]:
    """Audio write + read per audio second (float WAV, 44.1 kHz) and one value stored per SQLite transaction."""
    x = music_like(seconds)
    with tempfile.TemporaryDirectory(prefix="gpu-check-io-") as tmp:
        path = Path(tmp) / "clip.wav"
        t0 = time.perf_counter()
        for _ in range(5):
            save_audio(path, x, 44100)
            load_audio(path)
        io = (time.perf_counter() - t0) / (5 * 2 * seconds)  # one write and one read each time
        variant = {"metric": "x", "sample_rate": 44100}
        with ResultsStore.create(Path(tmp) / "run") as store:
            t0 = time.perf_counter()
            for i in range(values):
                store.put_score("v", f"clip{i}", "x", float(i), variant)
            per_value = (time.perf_counter() - t0) / values
    return {"io_s_per_audio_s": io, "store_s_per_value": per_value, "clip_seconds": seconds, "values": values}


def write_random_checkpoints(models_dir: Path, tiny: bool) -> dict[str, Path]:
    """Seeded random weights of the paper's vocoders written as their published files (``models_dir/NAME/``),
    so that ``bench run`` loads them through the real loaders, weight norm in the published layout."""
    import yaml

    from bench.vocoders.hifigan import CHECKPOINT as HIFIGAN_FILE
    from bench.vocoders.hifigan import PUBLISHED_CONFIG as HIFIGAN_CONFIG
    from bench.vocoders.vocos import PUBLISHED_CONFIG as VOCOS_CONFIG

    out = {}
    for name in PAPER_VOCODERS:
        entry = vocoder_registry().get(name)
        params = {**_params(name, tiny), "remove_weight_norm": False}
        state = entry.factory(LoadOptions(params=params)).model.state_dict()
        d = models_dir / name
        d.mkdir(parents=True, exist_ok=True)
        if name == "discoder":
            (d / "config.json").write_text(json.dumps(params.get("config") or RELEASED_CONFIG))
            torch.save({"model_state_dict": state, "training_step": 300000}, d / "model.pt")
        elif name == "bigvgan-v2-44k-256x":
            (d / "config.json").write_text(json.dumps(params.get("config") or VARIANTS[name][1]))
            torch.save({"generator": state}, d / "bigvgan_generator.pt")
        elif name == "hifigan":
            (d / "config.json").write_text(json.dumps({**HIFIGAN_CONFIG, **(params.get("config") or {})}))
            torch.save({"generator": state}, d / HIFIGAN_FILE)
        elif name == "vocos-mel-24k":
            c = {**VOCOS_CONFIG, **(params.get("config") or {})}
            layout = {
                "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                                      "init_args": {k: c[k] for k in ("sample_rate", "n_fft", "hop_length", "n_mels",
                                                                       "padding")}},
                "backbone": {"class_path": "vocos.models.VocosBackbone",
                             "init_args": {k: c[k] for k in ("input_channels", "dim", "intermediate_dim",
                                                              "num_layers")}},
                "head": {"class_path": "vocos.heads.ISTFTHead",
                         "init_args": {"dim": c["dim"], "n_fft": c["head_n_fft"], "hop_length": c["head_hop_length"],
                                       "padding": c["head_padding"]}},
            }
            (d / "config.yaml").write_text(yaml.safe_dump(layout))
            torch.save(state, d / "pytorch_model.bin")
        out[name] = d
    return out


def paper_run(device: str, tiny: bool, clips: int, seconds: float, out: Path) -> dict[str, Any]:
    """``bench run`` (a subprocess, timed end to end) on synthetic clips in a folder dataset, with random weights
    in the published file formats in a models folder."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-data-") as tmp:
        data, models = Path(tmp) / "clips", Path(tmp) / "models"
        for i in range(clips):
            save_audio(data / f"clip{i:03d}.wav", music_like(seconds, seed=100 + i), 44100)
        write_random_checkpoints(models, tiny)
        run_dir = out / "paper_run"
        cmd = [sys.executable, "-m", "bench.cli", "run", "--dataset", "folder", "--path", str(data), "--domain",
               "music", "--vocoders", ",".join(PAPER_VOCODERS), "--metrics", ",".join(PAPER_METRICS),
               "--device", device, "--models-dir", str(models), "--out", str(run_dir), "--quiet"]
        if not tiny:  # every core for the CPU metrics (ViSQOL is 10-30 x slower than CDPAM on a GPU)
            cmd += ["--jobs", str(max(1, (os.cpu_count() or 2) - 1))]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    result: dict[str, Any] = {"command": "bench " + " ".join(cmd[3:]), "clips": clips, "clip_seconds": seconds,
                              "vocoders": list(PAPER_VOCODERS), "metrics": list(PAPER_METRICS), "wall_s": wall,
                              "returncode": res.returncode, "tiny": tiny}
    if res.returncode != 0:
        result["error"] = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        return result
    with ResultsStore.open(run_dir) as store:
        result["values"] = len(store.scores())
        result["expected_values"] = clips * len(PAPER_VOCODERS) * len(PAPER_METRICS)
        result["failures"] = [f"{f['stage']} {f['vocoder'] or ''} {f['metric'] or ''} {f['clip_id'] or ''}: "
                              f"{f['error']}" for f in store.failures()]
        result["stages_s"] = store.get_meta("last_timings", {})
        result["environment_float32"] = (store.get_meta("environment") or {}).get("float32")
    result["run_dir"] = str(run_dir)
    return result


def model(report: dict[str, Any], device: str, tiny: bool, cores_per_gpu: int) -> dict[str, Any]:
    """The wall-time model fed with this run's measured costs (batched float32 synthesis: bench run's default)."""
    synth = {r["vocoder"]: 1 / r["batched_fp32_audio_s_per_s"] for r in report["throughput"]["vocoders"]
             if "batched_fp32_audio_s_per_s" in r}
    metric = {r["metric"]: r["s_per_audio_s"] for r in report["metrics"]["metrics"] if "s_per_audio_s" in r}
    missing = [v for v in PAPER_VOCODERS if v not in synth] + [m for m in PAPER_METRICS if m not in metric]
    if missing:
        return {"error": f"no measured cost for {', '.join(missing)}"}
    gpu_metrics = frozenset(r["metric"] for r in report["metrics"]["metrics"]
                            if r.get("device", "cpu") != "cpu" or (device == "cpu" and r["metric"] == "cdpam"))
    where = report["throughput"]["device_name"] + (" (CPU-measured: every 'GPU' below runs at this CPU's speed)"
                                                   if device == "cpu" else "")
    src = f"{where}; {'tiny models (not representative)' if tiny else 'full-size random-weight models'}"
    costs_ = UnitCosts(synthesis_s_per_audio_s={v: synth[v] for v in PAPER_VOCODERS},
                       metric_s_per_audio_s={m: metric[m] for m in PAPER_METRICS}, gpu_metrics=gpu_metrics,
                       io_s_per_audio_s=report["costs"]["io_s_per_audio_s"],
                       store_s_per_value=report["costs"]["store_s_per_value"], source=src)
    batch = 8 if device.startswith("cuda") else 1
    rows = scenarios(costs_, PAPER_VOCODERS, PAPER_METRICS, cpu_cores_per_gpu=cores_per_gpu, batch_size=batch)
    out: dict[str, Any] = {"source": src, "cpu_cores_per_gpu": cores_per_gpu, "batch_size": batch,
                           "costs": {"synthesis_s_per_audio_s": costs_.synthesis_s_per_audio_s,
                                     "metric_s_per_audio_s": costs_.metric_s_per_audio_s,
                                     "gpu_metrics": sorted(gpu_metrics),
                                     "io_s_per_audio_s": costs_.io_s_per_audio_s,
                                     "store_s_per_value": costs_.store_s_per_value},
                           "rows": rows, "table": format_table(rows, src)}
    run = report.get("paper_run") or {}
    if "wall_s" in run and run.get("returncode") == 0:
        # the run just measured, as the model sees it: this machine's one device and its cores
        same = predict(Study(clips=run["clips"], clip_seconds=run["clip_seconds"], vocoders=PAPER_VOCODERS,
                             metrics=PAPER_METRICS, batch_size=batch),
                       costs_, Cluster(gpus=1, cpu_cores_per_gpu=os.cpu_count() or 1))
        recorded = costs_from_run(run["run_dir"])
        out["paper_run_check"] = {"measured_wall_s": run["wall_s"], "predicted_pipelined_s": same.pipelined_s,
                                  "predicted_staged_s": same.staged_s,
                                  "note": "the measured wall time also loads models and prepares references, "
                                          "which the model leaves out",
                                  # the same costs as the run itself recorded them per render and per value
                                  "run_recorded_costs": {"synthesis_s_per_audio_s": recorded.synthesis_s_per_audio_s,
                                                         "metric_s_per_audio_s": recorded.metric_s_per_audio_s}}
    return out


# -- output ----------------------------------------------------------------------------------------------------

def _f(x: Any, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt) if isinstance(x, (int, float)) else str(x)


def print_report(r: dict[str, Any]) -> None:
    m = r["meta"]
    print(f"# GPU check: device {m['device']} ({m['device_name']}), torch {m['torch']}, "
          f"{'tiny models' if m['tiny'] else 'full-size models'}, float32 settings {m['float32']}")
    if "correctness" in r:
        c = r["correctness"]
        print(f"\n## Correctness ({c['compared']}); float32 tolerance {c['fp32_tol_ulps']:g} eps x scale; "
              f"bf16/fp16 relative RMS error vs CPU float32, stated bounds {c['low_precision_rel_rms']} "
              f"('!' = above)")
        print(f"{'vocoder':22} {'fp32 eps x scale':>16} {'ok':>4} {'bf16 rel max':>12} {'bf16 rel rms':>12} "
              f"{'fp16 rel max':>12} {'fp16 rel rms':>12}")
        for v in c["vocoders"]:
            f32 = v["fp32"]
            lows = []
            for p in ("bf16", "fp16"):
                d = v.get(p)
                lows += (["-", "-"] if d is None else [d["error"][:12], ""] if "error" in d
                         else [_f(d["rel_max"]), _f(d["rel_rms"]) + ("" if d["within"] else " !")])
            print(f"{v['vocoder']:22} {_f(f32.get('ulps'), '.1f') if 'ulps' in f32 else f32.get('error', '')[:16]:>16} "
                  f"{'yes' if f32['passed'] else 'NO':>4} " + " ".join(f"{x:>12}" for x in lows))
        for v in c["vocoders"]:
            if "codes_agree" in v["fp32"]:
                print(f"  {v['vocoder']}: float32 decoder compared on the CPU's codes; the device picks "
                      f"{100 * v['fp32']['codes_agree']:.3f} % of the codes alike (full path: "
                      f"{v['fp32']['full_path']['ulps']:.1f} eps x scale)")
        cd = c["cdpam"]
        print(f"{'cdpam':22} {_f(cd.get('ulps'), '.1f') if 'ulps' in cd else cd.get('error', '')[:16]:>16} "
              f"{'yes' if cd['passed'] else 'NO':>4}")
    if "throughput" in r:
        t = r["throughput"]
        print(f"\n## Synthesis throughput, audio s per s ({t['batch']} clips x {t['clip_seconds']:g} s, median of "
              f"{t['repeats']}); FLOPs: {t['flops_method']}; bf16 peak: "
              f"{_f(t['peak_bf16_flops'] and t['peak_bf16_flops'] / 1e12)} TFLOPS ({t['peak_source']})")
        print(f"{'vocoder':22} {'plain fp32 1x1':>14} {'batched fp32':>12} {'batched bf16':>12} {'bf16 x':>7} "
              f"{'GFLOP/audio s':>13} {'of bf16 peak':>12}")
        for v in t["vocoders"]:
            if "error" in v:
                print(f"{v['vocoder']:22} error: {v['error']}")
                continue
            frac = v["fraction_of_bf16_peak"]
            peak = "peak unknown" if t["peak_bf16_flops"] is None else _f(frac and 100 * frac, ".2f") + " %"
            print(f"{v['vocoder']:22} {_f(v['plain_fp32_single_audio_s_per_s']):>14} "
                  f"{_f(v['batched_fp32_audio_s_per_s']):>12} {_f(v.get('batched_bf16_audio_s_per_s')):>12} "
                  f"{_f(v['bf16_speedup_vs_plain']):>7} {_f(v['flops_per_audio_s'] / 1e9):>13} {peak:>12}")
    if "metrics" in r:
        ms = r["metrics"]
        print(f"\n## Metrics ({ms['references']} references x {ms['versions_per_reference']} versions x "
              f"{ms['clip_seconds']:g} s; CPU metrics on one torch thread)")
        for x in ms["metrics"]:
            print(f"{x['metric']:10} " + (f"error: {x['error']}" if "error" in x else
                  f"{x['device']:6} {x['pairs_per_s']:8.3g} pairs/s {x['audio_s_per_s']:8.3g} audio s/s"))
    if "costs" in r:
        c = r["costs"]
        print(f"\n## Costs: audio I/O {c['io_s_per_audio_s'] * 1e3:.3g} ms per audio s; store "
              f"{c['store_s_per_value'] * 1e3:.3g} ms per value")
    if "paper_run" in r:
        p = r["paper_run"]
        print(f"\n## Paper-size run: {len(p['vocoders'])} vocoders x {len(p['metrics'])} metrics x {p['clips']} "
              f"clips x {p['clip_seconds']:g} s: " + (f"error: {p['error']}" if "error" in p else
              f"{p['wall_s']:.1f} s end to end, {p['values']}/{p['expected_values']} values; stages "
              + ", ".join(f"{k} {v:.1f} s" for k, v in p["stages_s"].items())))
    if "model" in r:
        mo = r["model"]
        print("\n## Wall-time model (bench.perf.scaling_model)")
        print(mo.get("error") or mo["table"])
        if "paper_run_check" in mo:
            k = mo["paper_run_check"]
            print(f"\nThis machine's paper run: measured {k['measured_wall_s']:.1f} s, model "
                  f"{k['predicted_pipelined_s']:.1f} s pipelined / {k['predicted_staged_s']:.1f} s staged "
                  f"({k['note']})")
            rc, mc = k["run_recorded_costs"], mo["costs"]
            print("Seconds per audio second, measured here / recorded by that run: " + ", ".join(
                f"{n} {mc[kind][n]:.3g} / {rc[kind].get(n, float('nan')):.3g}"
                for kind in ("synthesis_s_per_audio_s", "metric_s_per_audio_s") for n in mc[kind]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda[:N] or cpu")
    p.add_argument("--tiny", action="store_true", help="tiny models, short clips, 2-clip paper run (CI, CPU)")
    p.add_argument("--out", type=Path, default=Path("gpu_check_out"), help="folder for gpu_check.json and the run")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--vocoders", default=",".join(CHECKED),
                   help="vocoders of the correctness and throughput checks (the model needs the paper's four)")
    p.add_argument("--seconds", type=float, help="clip length of the correctness/throughput checks")
    p.add_argument("--batch", type=int, help="clips per batch in the throughput check")
    p.add_argument("--metric-seconds", type=float, help="clip length of the metric throughput check")
    p.add_argument("--paper-clips", type=int, help="clips of the paper run (default 50; 2 with --tiny)")
    p.add_argument("--paper-seconds", type=float, help="clip length of the paper run (default 10; 1 with --tiny)")
    p.add_argument("--cores-per-gpu", type=int, default=8, help="CPU cores beside each GPU in the model")
    a = p.parse_args(argv)
    sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        p.error(f"unknown sections: {', '.join(unknown)}")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    cuda = a.device.startswith("cuda")
    vocoders = tuple(v.strip() for v in a.vocoders.split(",") if v.strip())
    bad = sorted(set(vocoders) - set(CHECKED))
    if bad:
        p.error(f"--vocoders: not checked here: {', '.join(bad)} (choose from {', '.join(CHECKED)})")
    use_exact_fp32(a.device)
    seconds = a.seconds or (0.25 if a.tiny else 2.0 if cuda else 1.0)
    batch = a.batch or (2 if a.tiny else 8 if cuda else 2)
    repeats = 3 if cuda else 1
    a.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"meta": {
        "device": a.device, "device_name": device_name(a.device), "torch": torch.__version__, "tiny": a.tiny,
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "float32": float32_settings(), "sections": sections,
        "note": None if cuda else "CPU-only run: float32 compared CPU vs CPU, bf16/fp16 on the CPU; no GPU figures",
    }}
    ms = a.metric_seconds or (1.0 if a.tiny else 10.0)
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "correctness": lambda: correctness(a.device, a.tiny, a.seconds or min(seconds, 1.0), vocoders),
        "throughput": lambda: throughput(a.device, a.tiny, seconds, batch, repeats, vocoders),
        "metrics": lambda: metrics_speed(a.device, ms, refs=1 if a.tiny else 8 if cuda else 2, k=2 if a.tiny else 4),
        "costs": lambda: costs(1.0 if a.tiny else 10.0),
        "paper_run": lambda: paper_run(a.device, a.tiny, a.paper_clips or (2 if a.tiny else 50),
                                       a.paper_seconds or (1.0 if a.tiny else 10.0), a.out.resolve()),
        "model": lambda: model(report, a.device, a.tiny, a.cores_per_gpu),
    }
    t0 = time.perf_counter()
    report["meta"]["section_s"], report["meta"]["section_cpu_s"] = {}, {}
    for name in SECTIONS:
        if name not in sections or (name == "model" and not {"throughput", "metrics", "costs"} <= set(report)):
            continue
        t, cpu = time.perf_counter(), time.process_time()
        report[name] = steps[name]()
        report["meta"]["section_s"][name] = time.perf_counter() - t
        report["meta"]["section_cpu_s"][name] = time.process_time() - cpu  # this process only (not bench run's)
        # written after each section, so that a run stopped part-way keeps what it measured
        (a.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
        print(f"[{name}: {report['meta']['section_s'][name]:.1f} s]", file=sys.stderr, flush=True)
    report["meta"]["wall_s"] = time.perf_counter() - t0
    (a.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    print(f"\n{report['meta']['wall_s']:.1f} s in all; JSON: {a.out / 'gpu_check.json'}")
    ok = all(v["fp32"]["passed"] for v in report.get("correctness", {}).get("vocoders", [])) and \
        report.get("correctness", {}).get("cdpam", {}).get("passed", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
