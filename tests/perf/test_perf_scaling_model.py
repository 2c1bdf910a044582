"""bench.perf.scaling_model on constructed costs whose wall times are worked out by hand."""

import pytest

from bench.perf.scaling_model import Cluster, Study, UnitCosts, format_table, makespan, predict, scenarios


def test_makespan_of_equal_units_is_ceil_of_units_over_workers():
    assert makespan([2.0] * 10, 4) == 6.0  # 3 rounds of 2 s
    assert makespan([2.0] * 10, 64) == 2.0  # more workers than units: one unit long
    assert makespan([], 3) == 0.0
    assert makespan([5.0, 1.0, 1.0, 1.0, 1.0, 1.0], 2) == 5.0  # the long unit alone, the rest beside it
    with pytest.raises(ValueError):
        makespan([1.0], 0)


COSTS = UnitCosts(synthesis_s_per_audio_s={"a": 0.01, "b": 0.03}, metric_s_per_audio_s={"cdpam": 0.02, "visqol": 0.5},
                  io_s_per_audio_s=0.001, store_s_per_value=0.002, source="constructed")
STUDY = Study(clips=16, clip_seconds=10.0, vocoders=("a", "b"), metrics=("cdpam", "visqol"), batch_size=8)


def test_one_gpu_known_answer():
    p = predict(STUDY, COSTS, Cluster(gpus=1, cpu_cores_per_gpu=4))
    # GPU: synthesis 16 x 10 s x (0.01 + 0.03) = 6.4 s; CDPAM 16 clips x 2 vocoders x 10 s x 0.02 = 6.4 s
    assert p.work_s["synthesis:a"] == pytest.approx(1.6) and p.work_s["synthesis:b"] == pytest.approx(4.8)
    assert p.work_s["metric:cdpam"] == pytest.approx(6.4)
    assert p.busy_s["gpu"] == pytest.approx(12.8)
    # CPU: ViSQOL 16 units of 2 x 10 x 0.5 = 10 s on 4 cores: 4 rounds = 40 s
    assert p.busy_s["cpu"] == pytest.approx(40.0)
    # I/O: 16 x 10 s x (1 + 2 + 2 x 3) = 1440 audio s x 0.001 = 1.44 s on 1 stream
    assert p.busy_s["io"] == pytest.approx(1.44)
    # store: 16 x 2 x (2 + 1) = 96 rows x 0.002 = 0.192 s
    assert p.busy_s["store"] == pytest.approx(0.192)
    assert p.pipelined_s == pytest.approx(40.0) and p.bound == "cpu (visqol)"
    # staged: synthesis 6.4 + max(CDPAM 6.4, CPU 40) + I/O 1.44 + store 0.192
    assert p.staged_s == pytest.approx(6.4 + 40 + 1.44 + 0.192)
    assert p.units == {"render_units": 4, "metric_units": 32, "values": 64}


def test_many_gpus_are_limited_by_unit_count():
    # 64 GPUs, 1 CPU core each: 4 render units and 16 CDPAM units cannot fill 64 GPUs; the largest unit is
    # vocoder b's batch (8 x 10 x 0.03 = 2.4 s); ViSQOL's 16 units of 10 s run side by side on 64 cores.
    p = predict(STUDY, COSTS, Cluster(gpus=64, cpu_cores_per_gpu=1))
    assert p.busy_s["gpu"] == pytest.approx(2.4)
    assert p.busy_s["cpu"] == pytest.approx(10.0)
    assert p.bound == "cpu (visqol)"


def test_gpu_bound_names_its_largest_part():
    costs = UnitCosts(synthesis_s_per_audio_s={"a": 1.0, "b": 0.1}, metric_s_per_audio_s={"cdpam": 0.2, "visqol": 0.01},
                      source="constructed")
    p = predict(STUDY, costs, Cluster(gpus=2, cpu_cores_per_gpu=8))
    # GPU units: a's two batches of 80 s, b's two of 8 s, CDPAM 16 x 4 s: 160 + 16 + 64 = 240 s on 2 GPUs
    assert p.busy_s["gpu"] == pytest.approx(120.0)
    assert p.bound == "gpu (a)"


def test_store_bound_and_missing_costs():
    costs = UnitCosts(synthesis_s_per_audio_s={"a": 0.0, "b": 0.0}, metric_s_per_audio_s={"cdpam": 0.0, "visqol": 0.0},
                      store_s_per_value=1.0)
    assert predict(STUDY, costs, Cluster(gpus=8, cpu_cores_per_gpu=8)).bound == "store"
    with pytest.raises(ValueError, match="no measured cost for visqol"):
        predict(STUDY, UnitCosts({"a": 1, "b": 1}, {"cdpam": 1}), Cluster(1, 1))
    with pytest.raises(ValueError):
        predict(STUDY, COSTS, Cluster(gpus=0, cpu_cores_per_gpu=1))


def test_scenarios_cover_both_sizes_and_gpu_counts():
    rows = scenarios(COSTS, ["a", "b"], ["cdpam", "visqol"], gpus=(1, 8, 64), cpu_cores_per_gpu=4)
    assert [(r["study"][:5], r["gpus"]) for r in rows] == [(s, g) for s in ("paper", "5,000") for g in (1, 8, 64)]
    # 5,000 clips on 1 GPU, 4 cores: ViSQOL 5000 units of 10 s on 4 cores = 12500 s
    big = rows[3]
    assert big["busy_s"]["cpu"] == pytest.approx(12500.0) and big["bound"] == "cpu (visqol)"
    # more GPUs (and their cores) never make it slower
    for a, b in zip(rows, rows[1:]):
        if a["study"] == b["study"]:
            assert b["pipelined_s"] <= a["pipelined_s"]
    text = format_table(rows, "constructed")
    assert "costs: constructed" in text and "3.5 h" in text  # 12500 s


def test_costs_from_run_divides_recorded_seconds_by_audio_seconds(tmp_path):
    from bench.perf.scaling_model import costs_from_run
    from bench.results.store import ResultsStore

    with ResultsStore.create(tmp_path) as store:
        store.set_meta("environment", {"device": "cpu", "device_name": "test cpu", "torch_threads": 1})
        for i, n in enumerate((44100, 88200)):  # 1 s and 2 s clips
            store.put_clip(f"c{i}", dataset="folder", domain="music", path=f"c{i}.wav", offset=0.0,
                           duration=n / 44100, sha256=f"h{i}")
            for v, per_s in (("a", 0.5), ("b", 2.0)):
                store.put_render(v, f"c{i}", sample_rate=44100, n_samples=n, sha256="x", native_sample_rate=44100,
                                 length_diff=0, rtf=None, seconds=per_s * n / 44100, device="cpu", precision=None,
                                 batch_size=1, config_hash="k")
                store.put_score(v, f"c{i}", "visqol", 4.0, {"metric": "visqol"}, seconds=0.25 * n / 44100)
        store.put_render("c", "c0", sample_rate=44100, n_samples=44100, sha256="x", native_sample_rate=44100,
                         length_diff=0, rtf=None, seconds=None, device="cpu", precision=None, batch_size=1,
                         config_hash="k")  # no time recorded (a pre-rendered folder): not counted
    costs = costs_from_run(tmp_path, store_s_per_value=0.001)
    assert costs.synthesis_s_per_audio_s == pytest.approx({"a": 0.5, "b": 2.0})
    assert costs.metric_s_per_audio_s == pytest.approx({"visqol": 0.25})
    assert costs.store_s_per_value == 0.001 and "test cpu" in costs.source
