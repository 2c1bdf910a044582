"""Weight resolution order, the Hugging Face cache, offline behaviour and the one-line missing message."""

import pytest

from bench.vocoders.weights import WeightSpec, missing_message, resolve

SPEC = WeightSpec(files=("config.json", "model.pt"), repo_id="someone/some-vocoder")


def _write(d, files=("config.json", "model.pt")):
    d.mkdir(parents=True, exist_ok=True)
    for f in files:
        (d / f).write_text("x")
    return d


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("BENCH_WEIGHTS_MYVOC", raising=False)
    monkeypatch.setenv("BENCH_MODELS_DIR", str(tmp_path / "models"))


def test_order_override_env_models_dir(tmp_path, monkeypatch):
    models = _write(tmp_path / "models" / "myvoc")
    assert resolve("myvoc", SPEC).path == models
    env = _write(tmp_path / "env")
    monkeypatch.setenv("BENCH_WEIGHTS_MYVOC", str(env))
    assert resolve("myvoc", SPEC).path == env
    over = _write(tmp_path / "over")
    res = resolve("myvoc", SPEC, override=over)
    assert res.path == over and res.source == "--weights"


def test_incomplete_directory_is_not_ready(tmp_path):
    _write(tmp_path / "models" / "myvoc", files=("config.json",))
    res = resolve("myvoc", SPEC)
    assert not res.ready
    assert any("models dir" in s for s in res.searched)


def test_huggingface_cache(tmp_path):
    snap = tmp_path / "hf" / "models--someone--some-vocoder" / "snapshots" / "abc123"
    _write(snap)
    refs = tmp_path / "hf" / "models--someone--some-vocoder" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("abc123")
    res = resolve("myvoc", SPEC)
    assert res.ready and res.source == "Hugging Face cache" and res.path == snap


def test_offline_never_downloads(tmp_path):
    res = resolve("myvoc", SPEC, download=True)
    assert not res.ready
    assert not any(s.startswith("download") for s in res.searched)


def test_single_file_weights_under_any_name(tmp_path):
    spec = WeightSpec(files=("weights.pth",), url="https://example.invalid/w.pth")
    f = tmp_path / "weights_44khz_8kbps_0.0.1.pth"
    f.write_text("x")
    assert resolve("dac", spec, override=f).path == f


def test_missing_message_is_one_line(tmp_path):
    res = resolve("myvoc", SPEC)
    msg = missing_message("myvoc", SPEC, res)
    assert "\n" not in msg
    assert "config.json, model.pt" in msg and "bench weights fetch myvoc" in msg and "--weights myvoc=DIR" in msg
