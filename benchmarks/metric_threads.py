"""Do the torch metrics give bit-identical values with different torch intra-op thread counts, and how fast?

Scores two degraded versions (added noise, -3 dB) of a synthetic music-like clip with each metric, with 1 thread,
with each count in ``--threads``, and with 1 thread again, and prints the values (repr, every digit), whether
they are identical, and the wall seconds of each scoring (reference prepared and both versions scored). The
differences are why bench.execution computes every metric unit with one thread
(bench.execution.worker.METRIC_THREADS): otherwise the stored values would depend on --jobs and on the machine.

Usage: python benchmarks/metric_threads.py [--seconds 3] [--threads 2,4] [--metrics mrstft,mrmel,cdpam]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testsignals import music_like  # noqa: E402

from bench.metrics.registry import metric_registry  # noqa: E402

SR = 44100


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--threads", default="2", help="thread counts to compare with 1")
    p.add_argument("--metrics", default="mrstft,mrmel,cdpam")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.threads.split(",")]
    ref = music_like(args.seconds, SR, seed=1).astype(np.float32)
    rng = np.random.default_rng(0)
    degs = [(ref + 0.01 * rng.standard_normal(ref.size)).astype(np.float32), (0.7 * ref).astype(np.float32)]
    reg = metric_registry()
    before = torch.get_num_threads()
    print(f"# {args.seconds:g} s clip at {SR} Hz, torch {torch.__version__}, threads 1 vs {args.threads}")
    try:
        for name in args.metrics.split(","):
            if name not in reg:
                print(f"{name}: not installed")
                continue
            metric = reg.get(name).factory(device="cpu")
            values = {}
            seconds: dict[int, list[float]] = {}
            for n in [1, *counts, 1]:
                torch.set_num_threads(n)
                start = time.perf_counter()
                got = metric.score_many(metric.prepare(ref, SR, "music"), degs, SR, "music")
                seconds.setdefault(n, []).append(time.perf_counter() - start)
                if n in values and values[n] != got:
                    print(f"{name}: 1 thread is not reproducible itself: {values[n]} then {got}")
                values[n] = got
            same = all(values[n] == values[1] for n in counts)
            print(f"{name}: {'identical' if same else 'DIFFERENT'}: "
                  + "; ".join(f"{n} thread{'s' if n > 1 else ''}: {', '.join(repr(v) for v in vs)}"
                              for n, vs in values.items()))
            print(f"{name}: seconds " + "; ".join(f"{n} thread{'s' if n > 1 else ''}: "
                                                  + ", ".join(f"{t:.2f}" for t in ts) for n, ts in seconds.items()))
    finally:
        torch.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
