"""Where the time of a demo run goes, and the CDPAM speed-up, measured on this machine.

Runs ``bench run`` on the demo set into a fresh directory (so nothing is reused), reports wall seconds of
each stage (reference loading, synthesis per vocoder, each metric) and each metric's throughput in seconds
of scored (degraded) audio per wall second; then times the cdpam package's own forward against this
suite's CDPAM on pairs from that run (same pairs, same run) and checks the values agree.

Run: ``python -m bench.perf.demo_profile [--limit N] [--cdpam-clips K] [--cdpam-seconds S] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench.perf.cdpam_speed import compare
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run


def profile(limit: int, out: Path, device: str = "cpu") -> dict:
    """Fresh demo run of ``limit`` clips per domain; returns stage seconds and per-metric throughput."""
    t0 = time.perf_counter()
    summary = run(RunConfig(out=out, dataset="demo", limit=limit, device=device, progress=False))
    total = time.perf_counter() - t0
    with ResultsStore.open(out) as store:
        scores = store.scores()
        durations = {c["clip_id"]: c["duration"] for c in store.clips() if c["status"] == "ok"}
        config = store.config()
    audio_per_metric: dict[str, float] = {}
    for s in scores:
        audio_per_metric[s["metric"]] = audio_per_metric.get(s["metric"], 0.0) + durations[s["clip_id"]]
    stages = dict(summary.timings)
    metrics = {m: {"seconds": stages.get(f"metric:{m}", float("nan")), "audio_s": a,
                   "audio_s_per_s": a / stages[f"metric:{m}"] if stages.get(f"metric:{m}") else float("nan")}
               for m, a in audio_per_metric.items()}
    return {"total_s": total, "stages": stages, "metrics": metrics, "clips": len(durations),
            "clip_audio_s": sum(durations.values()), "vocoders": config["vocoders"]}


def cdpam_pairs(run_dir: Path, clips: int, seconds: float) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """(reference, [each vocoder's output]) of the first ``clips`` clips, cut to ``seconds``."""
    with ResultsStore.open(run_dir) as store:
        renders = store.renders()
    by_clip: dict[str, list[Path]] = {}
    for r in renders:
        if r["vocoder"] != "reference":
            by_clip.setdefault(r["clip_id"], []).append(r["path"])
    pairs = []
    n = int(seconds * 44100)
    for clip_id, paths in list(by_clip.items())[:clips]:
        ref, _ = sf.read(run_dir / "audio" / "reference" / f"{clip_id}.wav", dtype="float32")
        pairs.append((ref[:n], [sf.read(p, dtype="float32")[0][:n] for p in paths]))
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.demo_profile", description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=4, help="demo clips per domain (make demo uses 4)")
    p.add_argument("--cdpam-clips", type=int, default=2)
    p.add_argument("--cdpam-seconds", type=float, default=4.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        prof = profile(args.limit, Path(tmp) / "run", args.device)
        pairs = cdpam_pairs(Path(tmp) / "run", args.cdpam_clips, args.cdpam_seconds)
        cd = compare(pairs, repeats=1, device=args.device)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print(f"# Demo run profile ({machine})\n")
    print(f"{prof['clips']} clips ({prof['clip_audio_s']:.1f} s of reference audio) x {len(prof['vocoders'])} vocoders "
          f"({', '.join(prof['vocoders'])}); total {prof['total_s']:.1f} s\n")
    print("| stage | seconds | share |\n|---|---:|---:|")
    for k, v in prof["stages"].items():
        print(f"| {k} | {v:.1f} | {v / prof['total_s']:.0%} |")
    print("\n| metric | scored audio (s) | seconds | audio s per s |\n|---|---:|---:|---:|")
    for m, d in prof["metrics"].items():
        print(f"| {m} | {d['audio_s']:.1f} | {d['seconds']:.1f} | {d['audio_s_per_s']:.2f} |")
    print(f"\nCDPAM on {cd['pairs']} pairs from this run ({cd['degraded_audio_s']:.1f} s of degraded audio, "
          f"{cd['clips']} references): package forward {cd['package_s']:.1f} s "
          f"({cd['package_audio_s_per_s']:.2f} audio s/s), bench {cd['ours_s']:.1f} s "
          f"({cd['ours_audio_s_per_s']:.2f} audio s/s): speed-up x{cd['speedup']:.2f}, "
          f"max |difference| {cd['max_abs_diff']:.2e}")
    if args.json:
        args.json.write_text(json.dumps({"profile": prof, "cdpam": {k: v for k, v in cd.items()
                                                                    if not k.startswith("values")}}, indent=2))
    return 0 if cd["max_abs_diff"] <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
