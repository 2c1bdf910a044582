"""BigVGAN: published file format, strict loading, front-ends, and agreement with the official package."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError, MissingWeightsError
from bench.vocoders.base import LoadOptions
from bench.vocoders.bigvgan import VARIANTS, bigvgan_mel
from bench.vocoders.nn.checkpoint import CheckpointError
from bench.vocoders.registry import vocoder_registry
from bench.vocoders.weights import missing_message, resolve
from numerics import assert_close_f32

NAME = "bigvgan-v2-44k-256x"
# A tiny network with the published front-end of bigvgan-v2-44k-256x (hop 256 = 4 * 4 * 4 * 4).
TINY = {"upsample_rates": [4, 4, 4, 4], "upsample_kernel_sizes": [8, 8, 8, 8], "upsample_initial_channel": 32,
        "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}


def _official():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from bigvgan.bigvgan import BigVGAN as OfficialBigVGAN
            from bigvgan.env import AttrDict
            from bigvgan.meldataset import mel_spectrogram as official_mel
    except Exception as err:
        pytest.skip(f"official bigvgan package does not import: {err}")
    return OfficialBigVGAN, AttrDict, official_mel


def _factory(name: str = NAME):
    return vocoder_registry().get(name).factory


def _tiny_config(name: str = NAME, **changes) -> dict:
    return {**VARIANTS[name][1], **TINY, **changes}


def _write_official_checkpoint(directory: Path, config: dict, seed: int = 0) -> torch.nn.Module:
    """Files exactly as the official package saves them (config.json + {"generator": state_dict})."""
    OfficialBigVGAN, AttrDict, _ = _official()
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = OfficialBigVGAN(AttrDict(dict(config)))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # trained-looking activations: move alpha/beta away from their initial zeros
        for name, p in model.named_parameters():
            if name.endswith((".alpha", ".beta")):
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    directory.mkdir(parents=True, exist_ok=True)
    model._save_pretrained(directory)  # the package's own writer for the Hugging Face release format
    return model.eval()


def _write_checkpoint(directory: Path, state: dict, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    torch.save({"generator": state}, directory / "bigvgan_generator.pt")


def _random_state(config: dict) -> dict:
    v = _factory()(LoadOptions(params={"random_init": True, "remove_weight_norm": False, "config": config}))
    return v.model.state_dict()


def _mel(frames: int, n_mels: int = 128, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, n_mels, frames, generator=gen) - 4.0


# -- registry ------------------------------------------------------------------------------------------------------

def test_registry_entries():
    reg = vocoder_registry()
    expected = {"bigvgan-v2-44k-256x": ("nvidia/bigvgan_v2_44khz_128band_256x", 44100),
                "bigvgan-v2-44k-512x": ("nvidia/bigvgan_v2_44khz_128band_512x", 44100),
                "bigvgan-24k-100band": ("nvidia/bigvgan_24khz_100band", 24000)}
    for name, (repo, sr) in expected.items():
        e = reg.get(name)
        assert e.family == "neural" and e.sample_rate == sr
        assert e.weights.repo_id == repo and e.weights.files == ("config.json", "bigvgan_generator.pt")


@pytest.mark.parametrize("name,sr,n_fft,hop,n_mels,fmax", [
    ("bigvgan-v2-44k-256x", 44100, 1024, 256, 128, None),
    ("bigvgan-v2-44k-512x", 44100, 2048, 512, 128, None),
    ("bigvgan-24k-100band", 24000, 1024, 256, 100, 12000.0)])
def test_published_front_ends(name, sr, n_fft, hop, n_mels, fmax):
    mel = bigvgan_mel(VARIANTS[name][1])
    assert (mel.sample_rate, mel.n_fft, mel.hop_length, mel.win_length, mel.n_mels, mel.fmin, mel.fmax) == \
        (sr, n_fft, hop, n_fft, n_mels, 0.0, fmax)
    assert (mel.framing, mel.mel_scale, mel.mel_norm, mel.mag_eps, mel.clamp_min) == \
        ("reflect", "slaney", "slaney", 1e-9, 1e-5)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_mel_matches_official(name):
    _, _, official_mel = _official()
    h = VARIANTS[name][1]
    last = h["hop_size"] // 64  # the tiny network's last rate, so that the rates multiply to the hop
    tiny = _tiny_config(name, upsample_rates=[4, 4, 4, last], upsample_kernel_sizes=[8, 8, 8, 2 * last])
    v = _factory(name)(LoadOptions(params={"random_init": True, "config": tiny}))
    audio = (0.3 * torch.randn(2, h["sampling_rate"] // 2, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    ours = v.analyse(audio)
    ref = official_mel(audio, h["n_fft"], h["num_mels"], h["sampling_rate"], h["hop_size"], h["win_size"], h["fmin"],
                       h["fmax"])
    assert ours.shape == ref.shape == (2, h["num_mels"], audio.shape[1] // h["hop_size"])
    assert_close_f32(ours, ref, ulps=256)


# -- agreement with the official package --------------------------------------------------------------------------

@pytest.mark.parametrize("activation,resblock,tanh", [("snakebeta", "1", False), ("snake", "2", True)])
@pytest.mark.parametrize("remove_wn", [False, True])
def test_matches_official_package(tmp_path, activation, resblock, tanh, remove_wn):
    config = _tiny_config(activation=activation, resblock=resblock, use_tanh_at_final=tanh, use_bias_at_final=tanh,
                          resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=[[1, 3], [1, 2]])
    official = _write_official_checkpoint(tmp_path / "ckpt", config)
    v = _factory()(LoadOptions(weights_path=str(tmp_path / "ckpt"), params={"remove_weight_norm": remove_wn}))
    mel = _mel(12)
    with torch.inference_mode():
        ref = official(mel).squeeze(1)
        ours = v.synthesise(mel)
    assert ours.shape == ref.shape == (2, 12 * 256)
    rel = ((ours - ref).norm() / ref.norm()).item()
    assert rel < 1e-4, rel


# -- published file format: resolution, strict loading, errors ---------------------------------------------------

def test_checkpoint_found_by_resolve_and_synthesises(tmp_path, monkeypatch):
    config = _tiny_config()
    state = _random_state(config)
    spec = vocoder_registry().get(NAME).weights
    override = tmp_path / "override"
    _write_checkpoint(override, state, config)
    assert resolve(NAME, spec, override=override).path == override
    monkeypatch.setenv(spec.env_var(NAME), str(override))
    assert resolve(NAME, spec, models_dir=tmp_path / "none").source == f"${spec.env_var(NAME)}"
    monkeypatch.delenv(spec.env_var(NAME))
    models = tmp_path / "models"
    _write_checkpoint(models / NAME, state, config)
    res = resolve(NAME, spec, models_dir=models)
    assert res.ready and res.path == models / NAME
    v = _factory()(LoadOptions(weights_path=str(res.path)))
    assert v.sample_rate == 44100 and v.mel == bigvgan_mel(config)
    audio = 0.1 * torch.randn(1, 4410, generator=torch.Generator().manual_seed(0))
    out = v.copy_synthesis(audio)
    assert out.shape == (1, (4410 // 256) * 256) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0 and out.abs().max() > 0
    # the loaded weights are the file's, not a fresh initialisation
    reloaded = _factory()(LoadOptions(weights_path=str(res.path), params={"remove_weight_norm": False}))
    for key, value in state.items():
        torch.testing.assert_close(reloaded.model.state_dict()[key], value)


def test_missing_weights_message(tmp_path, monkeypatch):
    import bench.vocoders.weights as weights

    monkeypatch.setattr(weights, "_hf_cache", lambda spec: None)  # independent of the developer's own HF cache
    spec = vocoder_registry().get(NAME).weights
    res = resolve(NAME, spec, models_dir=tmp_path)
    assert not res.ready
    msg = missing_message(NAME, spec, res)
    assert "\n" not in msg and "bigvgan_generator.pt" in msg
    with pytest.raises(MissingWeightsError, match="no weights given"):
        _factory()(LoadOptions())
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text(json.dumps(_tiny_config()))
    with pytest.raises(MissingWeightsError, match="not found"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "partial")))


def test_truncated_and_corrupt_files(tmp_path):
    config = _tiny_config()
    _write_checkpoint(tmp_path, _random_state(config), config)
    path = tmp_path / "bigvgan_generator.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert "truncated or corrupt" in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot parse"):
        _factory()(LoadOptions(weights_path=str(tmp_path)))


def test_pickled_objects_refused(tmp_path):
    config = _tiny_config()
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save({"generator": _random_state(config), "extra": Path("x")}, tmp_path / "bigvgan_generator.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        _factory()(LoadOptions(weights_path=str(tmp_path)))


@pytest.mark.parametrize("change,expected", [
    ("drop", "missing keys: conv_post.weight_g"),
    ("extra", "unexpected keys: conv_post.extra"),
    ("shape", "shape mismatch: conv_pre.bias"),
    ("no_generator", "no 'generator' entry"),
])
def test_mismatched_state_dict(tmp_path, change, expected):
    config = _tiny_config()
    state = _random_state(config)
    if change == "drop":
        del state["conv_post.weight_g"]
    elif change == "extra":
        state["conv_post.extra"] = torch.zeros(1)
    elif change == "shape":
        state["conv_pre.bias"] = torch.zeros(7)
    _write_checkpoint(tmp_path, state, config)
    if change == "no_generator":
        torch.save(state, tmp_path / "bigvgan_generator.pt")
    with pytest.raises(CheckpointError) as err:
        _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_config_that_does_not_fit(tmp_path):
    config = _tiny_config()
    state = _random_state(config)
    _write_checkpoint(tmp_path / "sr", state, {**config, "sampling_rate": 22050})
    with pytest.raises(CheckpointError, match="22050 Hz"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "sr")))
    _write_checkpoint(tmp_path / "hop", state, {**config, "hop_size": 512})
    with pytest.raises(CheckpointError, match="hop_size"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "hop")))
    missing = dict(config)
    del missing["upsample_rates"]
    _write_checkpoint(tmp_path / "key", state, missing)
    with pytest.raises(BenchError, match="upsample_rates"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "key")))


def test_checkpoint_without_weight_norm_loads(tmp_path):
    """Exports saved after weight-norm removal (plain ``weight`` keys) load strictly as well."""
    config = _tiny_config()
    v = _factory()(LoadOptions(params={"random_init": True, "config": config, "seed": 3}))
    plain_state = v.model.state_dict()
    assert not any(k.endswith("weight_g") for k in plain_state)
    _write_checkpoint(tmp_path, plain_state, config)
    loaded = _factory()(LoadOptions(weights_path=str(tmp_path)))
    mel = _mel(6)
    torch.testing.assert_close(loaded.synthesise(mel), v.synthesise(mel))


# -- inference behaviour -------------------------------------------------------------------------------------------

def test_weight_norm_removal_gives_same_output():
    params = {"random_init": True, "config": _tiny_config(), "seed": 4}
    kept = _factory()(LoadOptions(params={**params, "remove_weight_norm": False}))
    removed = _factory()(LoadOptions(params=params))
    assert any(k.endswith("weight_g") for k in kept.model.state_dict())
    assert not any(k.endswith(("weight_g", "weight_v")) for k in removed.model.state_dict())
    mel = _mel(10)
    with torch.inference_mode():
        assert_close_f32(removed.synthesise(mel), kept.synthesise(mel), ulps=256)


def test_batched_equals_unbatched():
    v = _factory()(LoadOptions(params={"random_init": True, "config": _tiny_config(), "seed": 5}))
    mel = _mel(9)
    with torch.inference_mode():
        batched = v.synthesise(mel)
        single = torch.cat([v.synthesise(mel[i:i + 1]) for i in range(mel.shape[0])])
    assert_close_f32(batched, single, ulps=256)


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    params = {"random_init": True, "config": _tiny_config()}
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = _factory()(LoadOptions(params={**params, "seed": 1}))
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = _factory()(LoadOptions(params={**params, "seed": 1}))
    c = _factory()(LoadOptions(params={**params, "seed": 2}))
    mel = _mel(4)
    assert torch.equal(a.synthesise(mel), b.synthesise(mel))
    assert not torch.equal(a.synthesise(mel), c.synthesise(mel))


def test_low_precision_runs_and_returns_float32():
    v = _factory()(LoadOptions(precision="bf16", params={"random_init": True, "config": _tiny_config(), "seed": 6}))
    ref = _factory()(LoadOptions(params={"random_init": True, "config": _tiny_config(), "seed": 6}))
    mel = _mel(5)
    with torch.inference_mode():
        out, expected = v.synthesise(mel), ref.synthesise(mel)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert ((out - expected).norm() / expected.norm()).item() < 0.1


def test_unknown_params_rejected():
    with pytest.raises(ValueError, match="unknown params"):
        _factory()(LoadOptions(params={"random_init": True, "config": _tiny_config(), "iterations": 3}))


def test_config_records_architecture():
    v = _factory()(LoadOptions(params={"random_init": True, "config": _tiny_config()}))
    cfg = v.config()
    assert cfg["architecture"]["upsample_rates"] == [4, 4, 4, 4]
    assert cfg["weights_source"] == "random initialisation" and cfg["weight_norm_removed"] is True
    assert cfg["mel"]["n_mels"] == 128


@pytest.mark.slow
@pytest.mark.parametrize("name,params_m", [("bigvgan-v2-44k-256x", 112.7), ("bigvgan-v2-44k-512x", 122.2),
                                           ("bigvgan-24k-100band", 112.4)])
def test_full_size_parameter_count(name, params_m):
    v = _factory(name)(LoadOptions(params={"random_init": True, "remove_weight_norm": False}))
    assert v.num_parameters() / 1e6 == pytest.approx(params_m, abs=0.1)  # README: 112 M, 122 M, 112 M


@pytest.mark.slow
def test_full_size_matches_official_package(tmp_path):
    """The published 256x architecture at full size (112 M parameters), official files in, same waveform out."""
    official = _write_official_checkpoint(tmp_path, dict(VARIANTS[NAME][1]), seed=11)
    v = _factory()(LoadOptions(weights_path=str(tmp_path)))
    mel = _mel(4)
    with torch.inference_mode():
        ref = official(mel).squeeze(1)
        ours = v.synthesise(mel)
    assert ours.shape == ref.shape == (2, 4 * 256)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-4
