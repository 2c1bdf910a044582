"""`bench run --executor ray` on a real two-node Ray cluster on loopback (tests/execution/conftest.py): the same
values as the local executor, a worker SIGKILLed mid-unit, the driver SIGKILLed, a node without the weights."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError, MissingExtraError
from bench.results.store import ResultsStore
from bench.runner import RunConfig, run
from bench.vocoders.base import LoadOptions
from bench.vocoders.discoder import RELEASED_CONFIG
from bench.vocoders.registry import vocoder_registry

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

#: A DisCoder small enough to render a 1.2 s clip in well under a second on one thread (random weights).
TINY_DISCODER = copy.deepcopy(RELEASED_CONFIG)
TINY_DISCODER["model"].update(latent_dim=8, codebook_size=8, initial_out_channels=8, intermediate_dim=8,
                              n_resblocks=1, resblock_kernel_sizes=[3], resblock_dilations=[[1, 3]],
                              dac_decoder={"channels": 16, "rates": [8, 8, 4, 2]})


def _place_tiny_discoder(models: Path) -> Path:
    """``models/discoder/`` with config.json and model.pt in the published formats; returns ``models``."""
    d = models / "discoder"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(TINY_DISCODER))
    torch.manual_seed(0)
    model = vocoder_registry().get("discoder").factory(LoadOptions(params={"random_init": True, "config": TINY_DISCODER,
                                                                           "remove_weight_norm": False})).model
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, d / "model.pt")
    return models


@pytest.fixture(scope="session")
def node0_models(ray_cluster) -> Path:
    """Tiny DisCoder weights in the head node's directory only (``<node0>/models``)."""
    return _place_tiny_discoder(ray_cluster.node_dirs[0] / "models")


def _cfg(folder: Path, out: Path, executor: str, address: str | None = None, **kw) -> RunConfig:
    base = dict(out=out, dataset="folder", dataset_options={"path": str(folder), "domain": "music"},
                vocoders=["reference", "anchor35", "griffinlim"], metrics=["mrstft", "mrmel"], device="cpu",
                progress=False, vocoder_params={"griffinlim": {"iterations": 4}}, executor=executor,
                executor_options={"address": address} if address else {})
    base.update(kw)
    return RunConfig(**base)


def _stored(run_dir: Path) -> tuple[dict, dict, dict]:
    """(clip -> reference hash, (vocoder, clip) -> render hash, (vocoder, clip, metric) -> value) of a run."""
    with ResultsStore.open(run_dir) as s:
        clips = {c["clip_id"]: c["sha256"] for c in s.clips()}
        renders = {(r["vocoder"], r["clip_id"]): r["sha256"] for r in s.renders()}
        values = {(r["vocoder"], r["clip_id"], r["metric"]): r["value"] for r in s.scores(all_variants=True)}
    return clips, renders, values


def _score_rows(run_dir: Path) -> list[tuple]:
    """Every row of the scores table (a duplicate would show as two rows of one key)."""
    with sqlite3.connect(run_dir / "results.sqlite") as c:
        return c.execute("SELECT vocoder, clip_id, metric, created FROM scores").fetchall()


def test_two_nodes_store_the_values_of_the_local_executor(ray_cluster, node0_models, clips_folder, tmp_path,
                                                          deadline):
    vocoders = ["reference", "anchor35", "discoder"]
    metrics = ["mrstft", "mrmel", "cdpam", "visqol"]
    kw = dict(vocoders=vocoders, metrics=metrics, models_dir=str(node0_models))
    with deadline(150):
        local = run(_cfg(clips_folder, tmp_path / "local", "local", jobs=1, **kw))
        on_ray = run(_cfg(clips_folder, tmp_path / "ray", "ray", ray_cluster.address, **kw))
    expected = 2 * len(vocoders) * len(metrics)
    assert local.scores.computed == on_ray.scores.computed == expected and on_ray.scores.failed == 0
    a, b = _stored(tmp_path / "local"), _stored(tmp_path / "ray")
    assert a[0] == b[0] and len(a[0]) == 2  # references, sample for sample (their hashes)
    assert a[1] == b[1] and len(a[1]) == 2 * len(vocoders)  # renders, DisCoder's in a 1-thread actor included
    assert len(a[2]) == expected and a[2].keys() == b[2].keys()
    differ = {k: (a[2][k], b[2][k]) for k in a[2] if a[2][k] != b[2][k]}
    # Every value bit-identical, ViSQOL's included (its numba loops run on one thread: bench.metrics.visqol)
    assert not differ, f"values differ between the executors: {differ}"
    # Ray placed work on both nodes, and every unit came back once
    assert on_ray.executor.startswith("ray, 2 nodes, 2 CPUs")
    where = on_ray.units
    assert sum(where["metrics"].values()) == 2 * len(metrics) and sum(where["synthesis"].values()) == 2 * len(vocoders)
    assert len(where["metrics"]) == 2 and all(w.startswith("node ") for w in where["metrics"])


def test_worker_killed_mid_unit_is_retried_and_every_value_stored_once(ray_cluster, clips_folder, tmp_path,
                                                                      deadline):
    out = tmp_path / "r"
    vocoders = ["reference", "anchor35"]
    with deadline(60):
        run(_cfg(clips_folder, out, "ray", ray_cluster.address, vocoders=vocoders, metrics=["mrstft"]))
    # The second run has only ViSQOL units (references, renders and MR-STFT are stored): every unit actor busy with
    # one is in the middle of a metric unit. Kill the first one seen running a unit for 0.3 s, exactly that process.
    killed: list[tuple[int, str]] = []
    stop = threading.Event()

    def killer() -> None:
        seen: dict[int, float] = {}
        while not stop.is_set() and not killed:
            now = time.monotonic()
            running = ray_cluster.processes_titled("ray::UnitWorker.execute")
            seen = {pid: seen.get(pid, now) for pid in running}
            for pid, since in seen.items():
                if now - since >= 0.3:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, running[pid]))
                    break
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        with deadline(120):
            summary = run(_cfg(clips_folder, out, "ray", ray_cluster.address, vocoders=vocoders,
                               metrics=["mrstft", "visqol"]))
    finally:
        stop.set()
        thread.join(timeout=5)
    assert len(killed) == 1, "no unit was seen running long enough to be killed"
    pid, title = killed[0]
    assert title.startswith("ray::UnitWorker.execute") and not Path(f"/proc/{pid}").exists()
    # the killed unit was retried on a restarted actor: every value is there, once, and nothing failed
    assert summary.scores.computed == 2 * 2 and summary.scores.skipped == 2 * 2 and summary.scores.failed == 0
    assert sum(summary.units["metrics"].values()) == 2  # one Done per unit, the retried one included
    rows = _score_rows(out)
    keys = [(v, c, m) for v, c, m, _ in rows]
    assert len(rows) == 2 * 2 * 2 and len(set(keys)) == len(keys)  # mrstft (first run) and visqol, once each
    with ResultsStore.open(out) as s:
        assert not s.failures()


def test_driver_killed_then_rerun_resumes(ray_cluster, clips_folder, tmp_path, deadline):
    out = tmp_path / "r"
    code = ("import sys\nfrom pathlib import Path\nfrom bench.runner import RunConfig, run\n"
            f"run(RunConfig(out=Path({str(out)!r}), dataset='folder', dataset_options={{'path': {str(clips_folder)!r}, "
            "'domain': 'music'}, vocoders=['reference', 'anchor35', 'anchor70'], metrics=['mrstft', 'mrmel', 'visqol'],"
            f" device='cpu', progress=False, executor='ray', executor_options={{'address': {ray_cluster.address!r}}}))\n")
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # kill the driver as soon as it has stored some values, not all
        end = time.monotonic() + 120
        before: list[tuple] = []
        while time.monotonic() < end and driver.poll() is None:
            if (out / "results.sqlite").exists():
                try:
                    before = _score_rows(out)
                except sqlite3.OperationalError:  # the schema is being created
                    before = []
                if before:
                    break
            time.sleep(0.05)
        assert driver.poll() is None, f"the driver ended before it could be killed: {driver.stderr.read()[-500:]}"
        driver.kill()
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait(timeout=30)
    before = _score_rows(out)  # what it had committed when it died
    total = 2 * 3 * 3
    assert 0 < len(before) < total
    with deadline(120):
        summary = run(_cfg(clips_folder, out, "ray", ray_cluster.address, vocoders=["reference", "anchor35", "anchor70"],
                           metrics=["mrstft", "mrmel", "visqol"]))
    after = _score_rows(out)
    assert len(after) == total and len({r[:3] for r in after}) == total  # complete, once each
    assert set(before) <= set(after)  # stored values were kept as they were (same creation time), not recomputed
    assert summary.scores.skipped == len(before) and summary.scores.computed == total - len(before)


def test_node_without_the_weights_stops_the_run_before_any_work(ray_cluster, node0_models, clips_folder, tmp_path,
                                                                monkeypatch, deadline):
    # "models/discoder" relative: the head (started in node0/) has it, the second node (node1/) has not
    monkeypatch.chdir(ray_cluster.node_dirs[0])
    out = tmp_path / "r"
    with deadline(60), pytest.raises(BenchError) as err:
        run(_cfg(clips_folder, out, "ray", ray_cluster.address, vocoders=["discoder"],
                 weights={"discoder": "models/discoder"}))
    msg = str(err.value)
    assert "\n" not in msg and "; " not in msg  # one line, one node
    assert msg.startswith("node ") and "discoder weights not found at models/discoder" in msg
    assert f"relative to {ray_cluster.node_dirs[1]}" in msg
    with ResultsStore.open(out) as s:  # nothing was prepared: the check came first
        assert s.clips() == [] and s.renders() == []
    assert not (out / "audio").exists()


def test_weights_differing_from_the_drivers_are_named(ray_cluster, node0_models, clips_folder, tmp_path,
                                                      monkeypatch, deadline):
    # node1/models/discoder holds other weights than node0's: the same files, model.pt one byte longer
    here, there = node0_models / "discoder", ray_cluster.node_dirs[1] / "models" / "discoder"
    there.mkdir(parents=True, exist_ok=True)
    (there / "config.json").write_bytes((here / "config.json").read_bytes())
    (there / "model.pt").write_bytes((here / "model.pt").read_bytes() + b"\0")
    monkeypatch.chdir(ray_cluster.node_dirs[0])
    try:
        with deadline(60), pytest.raises(BenchError, match=r"discoder weights at models/discoder .*differ from the "
                                                            r"driver's \(model.pt\)"):
            run(_cfg(clips_folder, tmp_path / "r", "ray", ray_cluster.address, vocoders=["discoder"],
                     weights={"discoder": "models/discoder"}))
    finally:
        shutil.rmtree(there)


def test_ray_executor_without_ray_is_a_one_line_error(monkeypatch):
    from bench.execution import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'vocoder-bench\[ray\]'") as err:
        make_executor("ray")
    assert "\n" not in str(err.value)


def test_audio_on_a_url_reaches_nodes_that_do_not_see_the_run_folder(ray_cluster, clips_folder, tmp_path,
                                                                     monkeypatch, deadline):
    # The dataset and the run folder are given relative to the driver's directory, node0/: the head node sees
    # them, the second node (in node1/) does not. Every file a unit reads goes through the URL instead.
    node0 = ray_cluster.node_dirs[0]
    here = node0 / tmp_path.name
    shutil.copytree(clips_folder, here / "clips")
    monkeypatch.chdir(node0)
    remote = tmp_path / "remote"
    kw = dict(vocoders=["reference", "anchor35"], metrics=["mrstft", "mrmel"],
              dataset_options={"path": f"{tmp_path.name}/clips", "domain": "music"})
    with deadline(90):
        summary = run(_cfg(clips_folder, Path(tmp_path.name) / "r", "ray", executor_options={
            "address": ray_cluster.address, "audio_url": remote.as_uri()}, **kw))
        local = run(_cfg(clips_folder, tmp_path / "local", "local", jobs=1, **kw))
    assert summary.scores.computed == 2 * 2 * 2 and summary.scores.failed == 0 and not summary.clips_failed
    assert len(summary.units["references"]) == 2 and len(summary.units["metrics"]) == 2  # both nodes worked
    assert _stored(here / "r")[2] == _stored(tmp_path / "local")[2]
    shared = sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file())
    assert shared == sorted([f"sources/clip{i}.wav" for i in range(2)]
                            + [f"audio/{v}/clip{i}.wav" for v in ("reference", "anchor35") for i in range(2)])
    with ResultsStore.open(here / "r") as s:  # the store says where the audio went
        assert s.get_meta("executor") == {"name": "ray", "address": ray_cluster.address, "audio_url": remote.as_uri()}
    assert (here / "r" / "audio" / "anchor35" / "clip0.wav").is_file()  # and the run folder keeps its copy


def test_out_on_a_url_is_refused_in_one_line(capsys):
    from bench.cli import main

    assert main(["run", "--out", "s3://bucket/run", "--executor", "ray", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--audio-url" in err and "local path" in err


def test_dashboard_link_as_ray_init_reports_it():
    """The link printed as a run connects: ray.init's RayContext gives ``host:port`` (no scheme) when the cluster
    runs a dashboard (ray[default]) and an empty string when it does not (plain ray, as in these tests). Checked
    by hand against a real dashboard: README "Running on a Ray cluster"."""
    from types import SimpleNamespace

    from bench.execution.ray_executor import _dashboard

    assert _dashboard(SimpleNamespace(dashboard_url="127.0.0.1:8265")) == "http://127.0.0.1:8265"
    assert _dashboard(SimpleNamespace(dashboard_url="https://ray.example:443")) == "https://ray.example:443"
    assert _dashboard(SimpleNamespace(dashboard_url="")) is None
    assert _dashboard({"webui_url": "10.0.0.1:8265"}) == "http://10.0.0.1:8265"
