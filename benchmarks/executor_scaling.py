"""Wall time of the same `bench run` under several executors, side by side in one invocation.

Each mode is one `bench run` command (a fresh process and a fresh run folder, so nothing is reused between
modes) on the same run config; the modes run one after another, and with ``--rounds`` > 1 they are
interleaved (round 2 runs them in reverse order, ...) so that a machine whose load changes during the benchmark
weighs on every mode alike. Reported per mode: wall seconds of the whole command (start-up, references,
synthesis, metrics, tables), values stored, throughput (values per second) and its ratio to the first mode,
and whether its values are bit-identical to those of the first mode of this tree; the exit status is 1 when they
are not.

Modes (``--modes``, comma-separated; default ``local-1,local-N``):

- ``local-1``: the local executor with one worker process (``--jobs 1``);
- ``local-N``: the local executor with one worker process per core (``--jobs N``, N = ``--jobs`` or the cores);
- ``local-0``: everything in the driver process (``--jobs 0``);
- ``ray-1``: the Ray executor on a one-node Ray cluster with N CPUs, ``ray-2``: on a two-node cluster with N/2 CPUs
  each (at least 1), both on this machine on loopback, started before the mode's command and stopped after it
  by PID (bench.execution.ray_cluster; the start is not part of the mode's wall time, it is printed apart). Their
  CPU seconds count the driver only: the Ray workers are the nodes' children, not the command's;
- ``baseline``: `bench run` of another source tree (``--baseline-src DIR``, e.g. the previous release unpacked
  with ``git archive``), with its own defaults: the "before" of a change. Its values are compared, not required
  to be identical (see the README: MR-STFT/MR-MEL moved by one float32 ulp when the thread count was fixed).

A mode is a :class:`Mode` (name, extra `bench run` arguments, environment); other executors add theirs to
:func:`modes` (e.g. Ray with one and two nodes).

Usage: python benchmarks/executor_scaling.py [--dataset demo] [--limit 1] [--vocoders a,b] [--metrics a,b]
       [--modes local-1,local-N] [--jobs N] [--rounds 1] [--baseline-src DIR] [--work DIR] [--json FILE]
       [-- extra bench run arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mode:
    """One way to run the same `bench run` command."""

    name: str
    args: tuple[str, ...] = ()  # extra `bench run` arguments, e.g. ("--jobs", "2")
    env: dict[str, str] = field(default_factory=dict)  # extra environment, e.g. PYTHONPATH of another tree
    compare_only: bool = False  # values are compared with the first mode's but need not be identical
    cluster: tuple[int, ...] = ()  # a Ray cluster on loopback for this mode: CPUs of each node (head first)


@dataclass
class Outcome:
    mode: str
    round: int
    seconds: float  # wall
    cpu_seconds: float  # user + system of the command and its worker processes
    load: tuple[float, float]  # 1-minute load average before and after (other users of the machine show here)
    values: dict[tuple[str, str, str], float]
    placement: list[str]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def modes(names: list[str], jobs: int, baseline_src: str | None) -> list[Mode]:
    known = {
        "local-0": Mode("local-0", ("--executor", "local", "--jobs", "0")),
        "local-1": Mode("local-1", ("--executor", "local", "--jobs", "1")),
        "local-N": Mode(f"local-{jobs}", ("--executor", "local", "--jobs", str(jobs))),
        "ray-1": Mode("ray-1", ("--executor", "ray"), cluster=(jobs,)),
        "ray-2": Mode("ray-2", ("--executor", "ray"), cluster=(max(jobs // 2, 1),) * 2),
    }
    if baseline_src:
        src = str(Path(baseline_src).resolve())
        known["baseline"] = Mode("baseline", (), {"PYTHONPATH": src}, compare_only=True)
    out = []
    for n in names:
        if n not in known:
            sys.exit(f"unknown mode {n!r}; known: {', '.join(known)}" + ("" if baseline_src else
                                                                          " (baseline needs --baseline-src)"))
        out.append(known[n])
    return out


def stored_values(run_dir: Path) -> dict[tuple[str, str, str], float]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return {(v, c, m): x for v, c, m, x in con.execute("SELECT vocoder, clip_id, metric, value FROM scores")}
    finally:
        con.close()


def run_mode(mode: Mode, base_args: list[str], out: Path, rnd: int) -> Outcome:
    if mode.cluster:  # the command joins a Ray cluster started for it (and stopped after it, by PID)
        from bench.execution.ray_cluster import ENV, LoopbackCluster, NodeSpec

        start = time.perf_counter()
        with LoopbackCluster([NodeSpec(num_cpus=c) for c in mode.cluster]) as cluster:
            print(f"[round {rnd}] {mode.name}: Ray cluster of {len(mode.cluster)} node(s), "
                  f"{'+'.join(map(str, mode.cluster))} CPUs, at {cluster.address}, started in "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
            joined = Mode(mode.name, (*mode.args, "--ray-address", cluster.address), {**mode.env, **ENV},
                          mode.compare_only)
            return run_mode(joined, base_args, out, rnd)
    # the data folder of the invoking directory (bench's default, ./data) for every mode, whatever its cwd
    env = {"BENCH_DATA_DIR": str(Path("data").resolve()), **os.environ, **mode.env}
    cmd = [sys.executable, "-m", "bench.cli", "run", *base_args, *mode.args, "--out", str(out), "--quiet"]
    print(f"[round {rnd}] {mode.name}: {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # `python -m` puts its cwd first on sys.path: a baseline tree runs from its own folder
    res = subprocess.run(cmd, env=env, cwd=mode.env.get("PYTHONPATH", str(REPO)), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if res.returncode != 0:
        sys.exit(f"{mode.name} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    placement = [line for line in res.stderr.splitlines() if " units: " in line]
    print(f"[round {rnd}] {mode.name}: {seconds:.1f} s" + "".join(f"\n    {p}" for p in placement), file=sys.stderr,
          flush=True)
    return Outcome(mode.name, rnd, seconds, cpu, (load_before, os.getloadavg()[0]), stored_values(out), placement)


def compare(a: dict, b: dict) -> str:
    if a == b:
        return "identical"
    if a.keys() != b.keys():
        return f"different keys ({len(a.keys() ^ b.keys())} differ)"
    diffs = [(abs(a[k] - b[k]) / max(abs(a[k]), 1e-30), k) for k in a if a[k] != b[k]]
    worst = max(diffs)
    metrics = sorted({k[2] for _, k in diffs})
    return (f"{len(diffs)}/{len(a)} values differ ({', '.join(metrics)}), max relative difference {worst[0]:.2g} "
            f"({'/'.join(worst[1])})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="demo")
    p.add_argument("--limit", type=int, default=1, help="clips per domain")
    p.add_argument("--vocoders", default=None, help="default: bench run's (every ready vocoder)")
    p.add_argument("--metrics", default=None, help="default: bench run's (mrstft,mrmel,cdpam,visqol)")
    p.add_argument("--modes", default="local-1,local-N")
    p.add_argument("--jobs", type=int, default=cores(), help="N of local-N (default: the cores)")
    p.add_argument("--rounds", type=int, default=1, help="repeat the modes, alternating their order")
    p.add_argument("--baseline-src", help="source tree for the 'baseline' mode")
    p.add_argument("--work", help="folder for the run folders (default: a temporary one, removed)")
    p.add_argument("--json", help="write the outcomes here")
    args = p.parse_args(argv)

    base = ["--dataset", args.dataset, "--limit", str(args.limit), "--device", "cpu", *extra]
    if Path("models").is_dir():  # bench's default models folder, for every mode whatever its cwd
        base += ["--models-dir", str(Path("models").resolve())]
    if args.vocoders:
        base += ["--vocoders", args.vocoders]
    if args.metrics:
        base += ["--metrics", args.metrics]
    chosen = modes(args.modes.split(","), args.jobs, args.baseline_src)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="executor-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    try:
        for rnd in range(1, args.rounds + 1):
            order = chosen if rnd % 2 else list(reversed(chosen))
            for mode in order:
                out = work / f"{mode.name}-round{rnd}"
                if out.exists():
                    shutil.rmtree(out)
                outcomes.append(run_mode(mode, base, out, rnd))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    first = chosen[0].name  # throughput ratios are against it
    # values must be bit-identical across the modes of this tree; a baseline tree's are compared only
    exact = next((m.name for m in chosen if not m.compare_only), first)
    exact_values = next(o.values for o in outcomes if o.mode == exact)
    print(f"# executor scaling: {platform.node()}, {cores()} cores; bench run {' '.join(base)}")
    print(f"| mode | round | wall s | CPU s | load avg before → after | values | values/s | throughput vs {first} "
          f"| values vs {exact} |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for o in outcomes:
        mode = next(m for m in chosen if m.name == o.mode)
        base_s = [x.seconds for x in outcomes if x.mode == first and x.round == o.round][0]
        same = compare(exact_values, o.values)
        if not mode.compare_only and o.values != exact_values:
            ok = False
        print(f"| {o.mode} | {o.round} | {o.seconds:.1f} | {o.cpu_seconds:.1f} | {o.load[0]:.1f} → {o.load[1]:.1f} | "
              f"{len(o.values)} | {len(o.values) / o.seconds:.3f} | {base_s / o.seconds:.2f} | {same} |")
    first_total = sum(o.seconds for o in outcomes if o.mode == first)
    for name in dict.fromkeys(o.mode for o in outcomes):
        total = sum(o.seconds for o in outcomes if o.mode == name)
        print(f"- {name}: {total:.1f} s wall over {args.rounds} round(s), throughput ratio {first_total / total:.2f} "
              f"vs {first}")
    if args.json:
        Path(args.json).write_text(json.dumps([{"mode": o.mode, "round": o.round, "seconds": o.seconds,
                                                "cpu_seconds": o.cpu_seconds, "load": o.load,
                                                "values": len(o.values), "placement": o.placement}
                                               for o in outcomes], indent=1))
    if not ok:
        print("values differ between modes that must agree (bit for bit)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
