"""Is a ViSQOL value reproducible, call to call and process to process?

Scores the same pair ``--calls`` times in each of ``--processes`` fresh Python processes per way, and prints
every value (repr, every digit); the two ways:

- ``package``: visqol-python's ``measure_from_arrays`` as it comes (numba's default thread count and threading
  layer, BLAS/OpenMP pools as the process has them), on bench's own ViSQOL input (the clips resampled to the
  mode's rate);
- ``bench``: the same call inside :func:`bench.metrics.visqol.single_threaded`, as ``bench`` scores.

Each process first does what a ``bench run`` worker may have done before its first ViSQOL unit: it imports numba
(as librosa, used by the MR-MEL front-end, does) and runs a torch computation (MR-MEL) with torch's default
threads, which starts torch's OpenMP pool. The summary counts the distinct values within each process and over
all processes, with their spread. Measured on the 2-core machine (README, "Running on every core").

Usage: python benchmarks/visqol_threads.py [REF.wav DEG.wav] [--domain music|speech] [--processes 4] [--calls 3]
(without files: a synthetic 3 s music-like clip and a noisy copy of it)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SR = 44100
HERE = Path(__file__).resolve()


def load_pair(files: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(reference [T], degraded [T], rate) from two files, or the synthetic pair."""
    if files:
        from bench.audio.io import load_audio

        ref, sr = load_audio(files[0])
        deg, sr_deg = load_audio(files[1])
        if sr_deg != sr:
            raise SystemExit(f"the files have different rates ({sr} and {sr_deg} Hz)")
        return ref, deg, sr
    sys.path.insert(0, str(HERE.parent.parent / "tests"))
    from testsignals import music_like

    ref = music_like(3.0, SR, seed=1).astype(np.float32)
    deg = (ref + 0.01 * np.random.default_rng(0).standard_normal(ref.size)).astype(np.float32)
    return ref, deg, SR


def child(files: list[str], domain: str, calls: int, way: str) -> None:
    """One process's values (reprs) scored the ``way`` given, as a JSON list on stdout."""
    import numba  # noqa: F401  (imported before visqol-python, as in a bench worker)

    from bench.metrics.registry import metric_registry
    from bench.metrics.visqol import single_threaded
    from bench.scoring import compute

    ref, deg, sr = load_pair(files)
    reg = metric_registry()
    compute(reg.get("mrmel").factory(), ref, sr, domain, [deg])  # torch with its default threads
    metric = reg.get("visqol").factory()
    state = metric.prepare(ref, sr, domain)
    x = metric._input(deg, sr, domain, "degraded")
    api = metric.api(state.mode)
    ctx = single_threaded if way == "bench" else contextlib.nullcontext
    values = []
    for _ in range(calls):
        with ctx():
            values.append(repr(api.measure_from_arrays(state.samples, x, sample_rate=state.sample_rate).moslqo))
    print(json.dumps(values))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", help="reference and degraded audio files (default: synthetic)")
    p.add_argument("--domain", default="music", choices=["music", "speech"])
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--child", choices=["package", "bench"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.files and len(args.files) != 2:
        p.error("give two files (reference, degraded) or none")
    if args.child:
        child(args.files, args.domain, args.calls, args.child)
        return 0
    runs: dict[str, list[list[str]]] = {"package": [], "bench": []}
    for i in range(args.processes):
        for way in runs:
            cmd = [sys.executable, str(HERE), *args.files, "--domain", args.domain, "--calls", str(args.calls),
                   "--child", way]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                print(res.stderr[-2000:], file=sys.stderr)
                return 1
            runs[way].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"process {i + 1}, {way}: {', '.join(runs[way][-1])}", flush=True)
    for way, values in runs.items():
        allv = sorted({float(v) for r in values for v in r})
        spread = (allv[-1] - allv[0]) / abs(allv[0]) if allv[0] else float("nan")
        print(f"{way}: distinct values within a process {[len(set(r)) for r in values]}; over "
              f"{args.processes} processes {len(allv)} distinct, spread {spread:.2g} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
