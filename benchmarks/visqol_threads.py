"""Is ViSQOL's value reproducible call to call, whatever the memory its arrays lie in?

Gives visqol-python's ``measure_from_arrays`` the same two float64 arrays (bench's own ViSQOL input: the clip
resampled to the mode's rate) copied to buffers at several byte offsets from a 64-byte boundary, then the first
offset again, and prints each value (repr, every digit), how many distinct values there are and their spread:
once with numba's default thread count (the package as it comes) and once inside
:func:`bench.metrics.visqol.one_numba_thread` (how bench scores). Measured on the 2-core machine: with 2 numba
threads the values differ from call to call (the same offset twice included: the variation comes from the
parallel loops, not from the addresses); with one thread every call gives the same value.

Usage: python benchmarks/visqol_threads.py [REF.wav DEG.wav] [--domain music|speech] [--offsets 0,8,16,...]
(without files: a synthetic 3 s music-like clip and a noisy copy of it)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testsignals import music_like  # noqa: E402

from bench.audio.io import load_audio  # noqa: E402
from bench.metrics.registry import metric_registry  # noqa: E402
from bench.metrics.visqol import one_numba_thread  # noqa: E402

SR = 44100


def at_offset(x: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``x`` whose data starts ``offset`` bytes after a 64-byte boundary."""
    raw = np.empty(x.nbytes + 128, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    y = raw[start:start + x.nbytes].view(x.dtype)
    y[:] = x
    return y


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", help="reference and degraded audio files (default: synthetic)")
    p.add_argument("--domain", default="music", choices=["music", "speech"])
    p.add_argument("--offsets", default="0,8,16,24,32,40,48,56", help="byte offsets from a 64-byte boundary")
    args = p.parse_args(argv)
    if args.files and len(args.files) != 2:
        p.error("give two files (reference, degraded) or none")
    if args.files:
        ref, sr = load_audio(args.files[0])
        deg, sr_deg = load_audio(args.files[1])
        if sr_deg != sr:
            p.error(f"the files have different rates ({sr} and {sr_deg} Hz)")
    else:
        sr = SR
        ref = music_like(3.0, SR, seed=1).astype(np.float32)
        deg = (ref + 0.01 * np.random.default_rng(0).standard_normal(ref.size)).astype(np.float32)
    metric = metric_registry().get("visqol").factory()
    state = metric.prepare(ref, sr, args.domain)  # the float64 input at the mode's rate, as bench scores it
    x = metric._input(deg, sr, args.domain, "degraded")
    api = metric.api(state.mode)
    offsets = [int(o) for o in args.offsets.split(",")]
    import numba

    for label, threads in ((f"numba's default ({numba.get_num_threads()} threads)", None), ("one numba thread", 1)):
        values = []
        with one_numba_thread() if threads == 1 else contextlib.nullcontext():
            for off in [*offsets, offsets[0]]:
                v = api.measure_from_arrays(at_offset(state.samples, off), at_offset(x, off),
                                            sample_rate=state.sample_rate).moslqo
                values.append(v)
                print(f"{label}, offset {off:2d} bytes: {v!r}")
        distinct = sorted(set(values))
        spread = (distinct[-1] - distinct[0]) / abs(distinct[0]) if distinct[0] else float("nan")
        print(f"{label}: {len(distinct)} distinct value(s) in {len(values)} calls; spread {spread:.2g} relative; "
              f"offset {offsets[0]} twice: {'same' if values[0] == values[-1] else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
