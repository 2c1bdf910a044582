"""CDPAM speed: the package's own forward per pair against this suite's metric, same pairs, same run.

(a) ``cdpam.CDPAM().forward(ref, deg)`` once per (reference, degraded) pair, as a per-pair script would call
it (both encoders every time, autograd on), on inputs already converted to 22.05 kHz int16-range arrays.
(b) :class:`bench.metrics.cdpam.CDPAM` as the harness uses it: ``prepare`` each reference once, then
``score_many`` its K degraded versions (one per vocoder), from the 44.1 kHz signals (resampling included).

Run: ``python -m bench.perf.cdpam_speed [--seconds S] [--pairs N] [--vocoders K] [--ref A.wav --deg B.wav ...]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.audio.resample import resample
from bench.metrics.cdpam import CDPAM, SAMPLE_RATE, checkpoint_path, to_model_input

INPUT_RATE = 44100

Clip = tuple[np.ndarray, "np.ndarray | Sequence[np.ndarray]"]


def package_model(device: str = "cpu") -> Any:
    """The package's ``cdpam.CDPAM`` object with the package's own model classes and forward.

    Its constructor calls ``torch.load`` without ``weights_only=False``, which torch >= 2.6 refuses for this
    checkpoint; so the object is built the way its ``__init__`` builds it (same hyper-parameters) with the
    checkpoint loaded explicitly, leaving torch's global state alone.
    """
    import cdpam
    import torch
    from cdpam.models import FINnet

    pk = object.__new__(cdpam.CDPAM)
    pk.device = torch.device(device)
    model = FINnet(dev=pk.device, encoder_layers=16, encoder_filters=64, ndim=[16, 6], classif_dp=0.05,
                   classif_BN=0, classif_act="no", input_size=512)
    model.load_state_dict(torch.load(checkpoint_path(), map_location="cpu", weights_only=False)["state"])
    model.to(pk.device)
    model.eval()
    pk.model = model
    return pk


def music_like(seconds: float, sr: int = INPUT_RATE, seed: int = 0) -> np.ndarray:
    """A music-like test signal [T] float32: notes of 8 decaying harmonics with attacks, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = np.zeros_like(t)
    n_notes = max(2, int(seconds * 3))
    for k in range(n_notes):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        onset = k * seconds / n_notes
        age = np.clip(t - onset, 0.0, None)
        env = np.clip(age * 40.0, 0.0, 1.0) * np.exp(-age * rng.uniform(1.5, 4.0)) * (t >= onset)
        for h in range(1, 9):
            if f0 * h < sr / 2:
                x += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
    x += 0.005 * rng.standard_normal(t.size)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def degradations(ref: np.ndarray, k: int, sr: int = INPUT_RATE, seed: int = 0) -> list[np.ndarray]:
    """``k`` differently degraded copies of ``ref`` [T] (noise at various SNRs, low-pass), standing in for vocoders."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        if i % 2 == 0:
            snr_db = 40.0 - 10.0 * (i // 2)
            noise = rng.standard_normal(ref.size) * np.sqrt(np.mean(ref.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
            out.append((ref + noise).astype(np.float32))
        else:
            cutoff = min(max(2000.0, 16000.0 / (i // 2 + 1)), 0.45 * sr)
            out.append(sosfilt(butter(8, cutoff, fs=sr, output="sos"), ref).astype(np.float32))
    return out


def compare(pairs: Sequence[Clip], repeats: int = 1, device: str = "cpu") -> dict[str, Any]:
    """Time (a) the package's forward per pair and (b) our metric (prepare once, score the K versions).

    Args:
        pairs: (ref [T], deg [T] or a sequence of K degraded versions [T]) at 44.1 kHz.
        repeats: each side is timed this many times; the fastest is reported.
    Returns:
        seconds, audio seconds of degraded signal scored per second, speed-up (a)/(b), max |value difference|.
    """
    import torch

    clips = [(ref, [deg] if np.ndim(deg) == 1 else list(deg)) for ref, deg in pairs]
    n_pairs = sum(len(d) for _, d in clips)
    audio_s = sum(d.size for _, degs in clips for d in degs) / INPUT_RATE

    # The package gets exactly the arrays our metric feeds its model: same resampler, same int16 scaling.
    pk_inputs = [
        (torch.from_numpy(to_model_input(resample(ref, INPUT_RATE, SAMPLE_RATE)))[None],
         [torch.from_numpy(to_model_input(resample(d, INPUT_RATE, SAMPLE_RATE)))[None] for d in degs])
        for ref, degs in clips
    ]
    pk = package_model(device)
    metric = CDPAM(device=device)
    metric.net()  # load outside the timed region, as the package model is

    def run_package(i: int) -> list[float]:
        r, ds = pk_inputs[i]
        return [float(pk.forward(r, d).item()) for d in ds]

    def run_ours(i: int) -> list[float]:
        ref, degs = clips[i]
        return metric.score_many(metric.prepare(ref, INPUT_RATE, "music"), degs, INPUT_RATE, "music")

    # The two sides alternate clip by clip (and swap order each time), so that load from other processes on a
    # shared machine falls on both; wall and CPU time are both reported, the fastest repeat of each.
    sides = {"package": run_package, "ours": run_ours}
    wall = {k: float("inf") for k in sides}
    cpu = {k: float("inf") for k in sides}
    vals: dict[str, list[float]] = {}
    for rep in range(max(1, repeats)):
        w = dict.fromkeys(sides, 0.0)
        c = dict.fromkeys(sides, 0.0)
        v: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(len(clips)):
            order = list(sides) if (rep + i) % 2 == 0 else list(sides)[::-1]
            for k in order:
                t0, c0 = time.perf_counter(), time.process_time()
                v[k] += sides[k](i)
                w[k] += time.perf_counter() - t0
                c[k] += time.process_time() - c0
        for k in sides:
            wall[k], cpu[k] = min(wall[k], w[k]), min(cpu[k], c[k])
        vals = v
    diff = float(np.max(np.abs(np.asarray(vals["package"]) - np.asarray(vals["ours"]))))
    return {
        "clips": len(clips),
        "pairs": n_pairs,
        "degraded_audio_s": audio_s,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "package_s": wall["package"],
        "ours_s": wall["ours"],
        "package_cpu_s": cpu["package"],
        "ours_cpu_s": cpu["ours"],
        "package_audio_s_per_s": audio_s / wall["package"],
        "ours_audio_s_per_s": audio_s / wall["ours"],
        "speedup": wall["package"] / wall["ours"],
        "speedup_cpu": cpu["package"] / cpu["ours"],
        "max_abs_diff": diff,
        "values_package": vals["package"],
        "values_ours": vals["ours"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.cdpam_speed", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="length of each generated clip (s)")
    p.add_argument("--pairs", type=int, default=2, help="number of generated reference clips")
    p.add_argument("--vocoders", type=int, default=4, help="degraded versions scored per reference (K)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--ref", help="reference audio file (instead of generated clips)")
    p.add_argument("--deg", action="append", default=[], help="degraded audio file (repeatable; with --ref)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    a = p.parse_args(argv)

    if a.ref:
        from bench.audio.io import load_audio

        if not a.deg:
            p.error("--ref needs at least one --deg")
        ref, _ = load_audio(a.ref, INPUT_RATE)
        degs = [load_audio(d, INPUT_RATE)[0] for d in a.deg]
        n = min([ref.size] + [d.size for d in degs])
        pairs: list[Clip] = [(ref[:n], [d[:n] for d in degs])]
    else:
        pairs = []
        for i in range(a.pairs):
            ref = music_like(a.seconds, seed=i)
            pairs.append((ref, degradations(ref, a.vocoders, seed=i)))

    r = compare(pairs, repeats=a.repeats, device=a.device)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"CDPAM speed: {r['clips']} reference clip(s), {r['pairs']} (ref, deg) pairs, "
          f"{r['degraded_audio_s']:.1f} s of degraded audio, device {r['device']}, {r['torch_threads']} torch threads")
    print(f"  package forward per pair  : {r['package_s']:8.2f} s wall {r['package_cpu_s']:8.2f} s CPU  "
          f"{r['package_audio_s_per_s']:6.3f} audio-s/s")
    print(f"  ours (prepare once, score): {r['ours_s']:8.2f} s wall {r['ours_cpu_s']:8.2f} s CPU  "
          f"{r['ours_audio_s_per_s']:6.3f} audio-s/s")
    print(f"  speed-up                  : {r['speedup']:8.2f} x wall {r['speedup_cpu']:8.2f} x CPU")
    verdict = "ok" if r["max_abs_diff"] <= 1e-5 else "TOO LARGE"
    print(f"  max |value difference|    : {r['max_abs_diff']:.2e}  ({verdict})")
    print("  values (package): " + ", ".join(f"{v:.6f}" for v in r["values_package"]))
    return 0 if r["max_abs_diff"] <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
