"""The local executor: same values whatever --jobs, units where they belong, bounded in flight, prompt stop."""

import os
import signal
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from bench.execution.base import MAIN
from bench.execution.local import IN_FLIGHT_PER_WORKER, LocalExecutor
from bench.execution.units import MetricUnit
from bench.execution.worker import METRIC_THREADS, compute_threads
from bench.metrics.registry import metric_registry
from bench.results.store import ResultsStore
from bench.runner import RunConfig, RunSummary, run
from bench_datasets.base import Clip
from testsignals import music_like

METRICS = [m for m in ("mrstft", "mrmel", "cdpam", "visqol") if m in metric_registry()]


FAST = ["mrstft", "mrmel"]  # the thread-sensitive ones (1 and 2 threads differ in the last bit); CDPAM: slow test


def _run(folder, out, jobs, metrics) -> tuple[RunSummary, dict]:
    summary = run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(folder), "domain": "music"},
                            vocoders=["anchor35", "griffinlim"], vocoder_params={"griffinlim": {"iterations": 4}},
                            metrics=metrics, device="cpu", progress=False, jobs=jobs))
    with ResultsStore.open(out) as s:
        return summary, {(r["vocoder"], r["clip_id"], r["metric"]): r["value"] for r in s.scores()}


def _direct(run_dir, values) -> dict:
    """Each metric called directly on the run's stored files, the clip's vocoders scored together as a unit does
    (CDPAM's batched distance is not bit-identical to one vocoder at a time), with METRIC_THREADS threads."""
    reg = metric_registry()
    out = {}
    with compute_threads(METRIC_THREADS):
        for clip, metric in sorted({(c, m) for _, c, m in values}):
            vocs = [v for v, c, m in values if (c, m) == (clip, metric)]
            ref = sf.read(run_dir / "audio" / "reference" / f"{clip}.wav", dtype="float32")[0]
            degs = [sf.read(run_dir / "audio" / v / f"{clip}.wav", dtype="float32")[0] for v in vocs]
            m = reg.get(metric).factory(device="cpu")
            out.update({(v, clip, metric): x
                        for v, x in zip(vocs, m.score_many(m.prepare(ref, 44100, "music"), degs, 44100, "music"))})
    return out


def _in_process_with_two_threads(songs, out, metrics):
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # where 1 and 2 threads differ (MR-STFT, MR-MEL), in-process values would differ
    try:
        return _run(songs, out, 0, metrics)
    finally:
        torch.set_num_threads(before)


def test_values_do_not_depend_on_jobs_and_are_the_metric_called_directly(songs, tmp_path):
    """--jobs 0 (all in this process, here with 2 torch threads) and --jobs 2 store bit-identical values, equal
    to each metric called directly on the stored files with METRIC_THREADS threads."""
    metrics = [m for m in FAST if m in metric_registry()]
    inproc, values0 = _in_process_with_two_threads(songs, tmp_path / "j0", metrics)
    two, values2 = _run(songs, tmp_path / "j2", 2, metrics)
    assert len(values0) == 2 * 2 * len(metrics)
    assert values0 == values2  # bit for bit
    assert values2 == _direct(tmp_path / "j2", values2)

    # where the units ran: everything in-process with 0 jobs; metrics in workers otherwise, references and
    # synthesis (one model, loaded once) in the driver
    assert inproc.units == {"references": {MAIN: 2}, "synthesis": {MAIN: 4}, "metrics": {MAIN: 2 * len(metrics)}}
    assert two.units["synthesis"] == {MAIN: 4}
    assert set(two.units["metrics"]) <= {"worker-1", "worker-2"}
    assert sum(two.units["metrics"].values()) == 2 * len(metrics)
    assert two.placement_lines()[-1].startswith(f"metrics: {2 * len(metrics)} units: worker-")


@pytest.mark.slow
def test_all_four_metrics_with_0_1_and_2_jobs(songs, tmp_path):
    """The same with ViSQOL too and one worker (slow: ViSQOL compiles its numba code in each new process)."""
    inproc, values0 = _in_process_with_two_threads(songs, tmp_path / "j0", METRICS)
    one, values1 = _run(songs, tmp_path / "j1", 1, METRICS)
    two, values2 = _run(songs, tmp_path / "j2", 2, METRICS)
    assert len(values0) == 2 * 2 * len(METRICS)

    # every value bit for bit, ViSQOL included: it runs its numba loops on one thread (bench.metrics.visqol), so
    # its value no longer varies between processes in the 14th digit as it did with numba's 2 threads
    direct = _direct(tmp_path / "j1", values1)
    for name, other in (("--jobs 1", values1), ("--jobs 2", values2), ("called directly", direct)):
        differ = {k: (values0[k], other.get(k)) for k in values0 if other.get(k) != values0[k]}
        assert not differ and other.keys() == values0.keys(), f"{name} vs --jobs 0: {differ}"
    assert one.units["metrics"] == {"worker-1": 2 * len(METRICS)}


def _metric_units(folder, n):
    """n MR-STFT units, one per clip (a reference and one render each, files in ``folder``)."""
    units = []
    for i in range(n):
        x = music_like(1.0, 44100, seed=i)
        sf.write(folder / f"ref{i}.wav", x, 44100, subtype="FLOAT")
        sf.write(folder / f"deg{i}.wav", 0.5 * x, 44100, subtype="FLOAT")
        units.append(MetricUnit(f"c{i}", "music", "mrstft", "cpu", str(folder / f"ref{i}.wav"), 44100, ("v",),
                                (str(folder / f"deg{i}.wav"),)))
    return units


def test_each_unit_once_from_a_lazily_read_iterable(tmp_path):
    units = _metric_units(tmp_path, 7)
    pulled = []
    at_first_result = []

    def feed():
        for u in units:
            pulled.append(u.clip_id)
            yield u

    got = []
    with LocalExecutor(2) as ex:
        for done in ex.run(feed()):
            at_first_result.append(len(pulled))
            got.append(done)
    assert sorted(d.unit.clip_id for d in got) == [u.clip_id for u in units]
    assert all(d.error is None and isinstance(d.result.values[0], float) for d in got)
    assert at_first_result[0] <= IN_FLIGHT_PER_WORKER * 2  # bounded in flight, not the whole stage at once
    assert {d.where for d in got} <= {"worker-1", "worker-2"}
    # a worker's value is the metric's, called here on the same files with the same thread count
    metric = metric_registry().get("mrstft").factory(device="cpu")
    with compute_threads(METRIC_THREADS):
        for d in got:
            ref = sf.read(d.unit.reference, dtype="float32")[0]
            assert d.result.values == [metric(ref, 0.5 * ref, 44100, "music")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_a_lost_worker_fails_its_units_and_the_driver_goes_on(tmp_path):
    """A worker killed mid-unit (SIGKILL): the unit comes back with an error instead of a result, nothing hangs."""
    (unit,) = _metric_units(tmp_path, 1)
    fifo = tmp_path / "blocks.wav"
    os.mkfifo(fifo)  # opening it for reading blocks until someone writes: the worker is busy until killed
    units = [MetricUnit("stuck", "music", "mrstft", "cpu", str(fifo), 44100, ("v",), unit.degraded)]
    ex = LocalExecutor(1)
    with ex:
        it = ex.run(units)

        def kill_when_busy():
            end = time.monotonic() + 60
            while time.monotonic() < end:
                procs = list((getattr(ex._pool, "_processes", None) or {}).values()) if ex._pool else []
                if procs and procs[0].pid:
                    time.sleep(1.0)  # it has taken the unit and blocks on the pipe
                    os.kill(procs[0].pid, signal.SIGKILL)
                    return
                time.sleep(0.05)

        import threading

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        done = list(it)
        killer.join(5)
    assert len(done) == 1 and done[0].result is None and done[0].error.startswith("worker: ")


def test_interrupt_stops_busy_workers_at_once(tmp_path):
    """Ctrl-C/SIGTERM while a worker is busy: its result would be discarded, so it is stopped, not waited for."""
    ex = LocalExecutor(1)
    with pytest.raises(KeyboardInterrupt):
        with ex:
            busy = ex._ensure_pool().submit(time.sleep, 60)
            end = time.monotonic() + 60
            while not busy.running() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)  # the worker has taken the item
            started = time.monotonic()
            raise KeyboardInterrupt
    assert time.monotonic() - started < 15


def test_placement_lines_order_main_then_workers_by_number(tmp_path):
    s = RunSummary(tmp_path, 0, [], {}, [], None, {},
                   units={"references": {}, "metrics": {"worker-10": 1, "worker-2": 3, MAIN: 2}})
    assert s.placement_lines() == ["metrics: 6 units: main 2, worker-2 3, worker-10 1"]
