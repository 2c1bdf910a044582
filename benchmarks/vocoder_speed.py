"""Synthesis speed of every registered neural vocoder at full size, plain vs optimised, in the same run.

Each vocoder (registry entries with ``family == "neural"``) is built with seeded random weights through its own
factory (``params={"random_init": True}``; the speed of a network does not depend on its weights). Its own
front-end turns seeded noise into features once (not timed); then synthesis is timed two ways:

- plain: float32, weight norm kept (``remove_weight_norm=False``), one clip at a time, outside
  ``torch.inference_mode`` (parameters are frozen, so no graph is recorded either way);
- optimised: weight norm folded into the weights, ``torch.inference_mode``, all clips in one batch, and on a GPU
  the ``--precision`` given (default bf16).

The optimised model is also timed clip by clip, which separates the gain of batching from the rest.
Reported: time per pass over all clips, speed-ups (plain / optimised), real-time factor (seconds of audio
synthesised per wall-clock second) and the largest difference between the plain and optimised outputs.

Usage: python benchmarks/vocoder_speed.py [--vocoders a,b] [--seconds 2] [--batch 2] [--repeats 1]
       [--device cpu|cuda] [--precision fp32|bf16|fp16] [--params JSON] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
from typing import Any

import torch

from bench.perf.timing import median_seconds, sync
from bench.vocoders.base import LoadOptions
from bench.vocoders.registry import vocoder_registry


def neural_vocoders() -> list[str]:
    """Names of the registered neural vocoders (each can be built with ``params={"random_init": True}``)."""
    return [e.name for e in vocoder_registry() if e.family == "neural"]


def _plain_pass(entry, device: str, audio: torch.Tensor, repeats: int, params: dict[str, Any]):
    """Build the plain model, compute its features (untimed) and time clip-by-clip float32 synthesis."""
    voc = entry.factory(LoadOptions(device=device, precision="fp32", params={**params, "remove_weight_norm": False}))
    with torch.inference_mode():
        features = voc.analyse(audio.to(voc.device)).clone()
    clips = [features[i:i + 1] for i in range(features.shape[0])]
    seconds, out = median_seconds(lambda: torch.cat([voc.synthesise(c) for c in clips]), voc.device, repeats)
    n_params = sum(p.numel() for p in voc.model.parameters()) if hasattr(voc, "model") else None
    return seconds, out, features, n_params


def _optimised_pass(entry, device: str, precision: str, features: torch.Tensor, repeats: int,
                    params: dict[str, Any]):
    """Build the optimised model; time it clip by clip, then on all clips in one batch (inference_mode)."""
    voc = entry.factory(LoadOptions(device=device, precision=precision, params=params))
    clips = [features[i:i + 1] for i in range(features.shape[0])]

    def one_by_one() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([voc.synthesise(c) for c in clips])

    def batched() -> torch.Tensor:
        with torch.inference_mode():
            return voc.synthesise(features)

    single_s, _ = median_seconds(one_by_one, voc.device, repeats)
    batch_s, out = median_seconds(batched, voc.device, repeats)
    return single_s, batch_s, out


def bench_one(name: str, *, device: str, precision: str, seconds: float, batch: int, repeats: int,
              seed: int = 0, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain and optimised synthesis times of vocoder ``name`` on ``batch`` seeded noise clips of ``seconds``.

    ``params`` are added to the vocoder's params of both builds (e.g. ``{"config": {...}}`` for a smaller network).
    """
    entry = vocoder_registry().get(name)
    params = {**(params or {}), "random_init": True, "seed": seed}
    sr = entry.sample_rate
    audio = 0.1 * torch.randn(batch, int(seconds * sr), generator=torch.Generator().manual_seed(seed))
    plain_s, plain_out, features, n_params = _plain_pass(entry, device, audio, repeats, params)
    gc.collect()
    single_s, fast_s, fast_out = _optimised_pass(entry, device, precision, features, repeats, params)
    gc.collect()
    out_seconds = batch * fast_out.shape[-1] / sr
    diff = (fast_out.float() - plain_out.float()).abs().max().item() if fast_out.shape == plain_out.shape else None
    return {
        "vocoder": name, "sample_rate": sr, "params_m": None if n_params is None else n_params / 1e6,
        "clips": batch, "audio_s": out_seconds, "plain_s": plain_s, "optimised_single_s": single_s,
        "optimised_s": fast_s, "speedup_single": plain_s / single_s, "speedup": plain_s / fast_s, "rtf_plain": out_seconds / plain_s, "rtf_optimised": out_seconds / fast_s,
        "max_abs_diff": diff, "out_scale": plain_out.float().abs().max().item(), "precision": precision,
    }


def main(argv: list[str] | None = None) -> int:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocoders", default=",".join(neural_vocoders()),
                        help="comma-separated registry names (default: all neural vocoders)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip (s)")
    parser.add_argument("--batch", type=int, default=8 if cuda else 2, help="number of clips")
    parser.add_argument("--repeats", type=int, default=3 if cuda else 1, help="timed passes (median reported)")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--precision", default=None, choices=["fp32", "bf16", "fp16"],
                        help="precision of the optimised path (default: bf16 on cuda, fp32 on cpu)")
    parser.add_argument("--params", default="{}",
                        help='JSON object added to every vocoder\'s params, e.g. \'{"config": {"num_layers": 2}}\'')
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
    names = [n.strip() for n in args.vocoders.split(",") if n.strip()]
    extra = json.loads(args.params)
    if not isinstance(extra, dict):
        parser.error("--params must be a JSON object")
    print(f"# torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else
             f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
          + f"; {args.batch} clips x {args.seconds:g} s; optimised precision {precision}; "
            f"median of {args.repeats} pass(es)")
    header = (f"{'vocoder':22} {'params':>7} {'plain s':>8} {'opt 1x1 s':>9} {'opt batch s':>11} {'x (1x1)':>8} "
              f"{'x (batch)':>9} {'RTF plain':>9} {'RTF opt':>8} {'max|diff|':>9}")
    print(header)
    results, failures = [], {}
    for name in names:
        try:
            r = bench_one(name, device=args.device, precision=precision, seconds=args.seconds, batch=args.batch,
                          repeats=args.repeats, params=extra)
        except Exception as err:  # one vocoder that cannot be built must not stop the others
            failures[name] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            print(f"{name:22} skipped: {failures[name]}")
            continue
        results.append(r)
        params = f"{r['params_m']:.1f}M" if r["params_m"] is not None else "?"
        diff = f"{r['max_abs_diff']:.1e}" if r["max_abs_diff"] is not None else "n/a"
        print(f"{name:22} {params:>7} {r['plain_s']:8.2f} {r['optimised_single_s']:9.2f} {r['optimised_s']:11.2f} "
              f"{r['speedup_single']:7.2f}x {r['speedup']:8.2f}x {r['rtf_plain']:9.2f} {r['rtf_optimised']:8.2f} "
              f"{diff:>9}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "torch": torch.__version__, "seconds": args.seconds,
                       "batch": args.batch, "repeats": args.repeats, "precision": precision,
                       "results": results, "skipped": failures}, f, indent=2)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
