"""HiFi-GAN V1: published file format (legacy torch.save of {"generator": ...} + config.json), strict loading,
front-end, and the generator checked against a functional re-statement of the reference forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.errors import MissingWeightsError
from bench.vocoders.base import LoadOptions
from bench.vocoders.hifigan import CHECKPOINT, PUBLISHED_CONFIG, hifigan_mel
from bench.vocoders.nn.checkpoint import CheckpointError
from bench.vocoders.registry import vocoder_registry
from bench.vocoders.weights import missing_message, resolve
from numerics import assert_close_f32

NAME = "hifigan"
TINY = {"upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4], "upsample_initial_channel": 32,
        "resblock_kernel_sizes": [3, 7], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]]}


def _factory():
    return vocoder_registry().get(NAME).factory


def _config(**changes) -> dict:
    return {**PUBLISHED_CONFIG, **TINY, **changes}


def _trained_like_state(config: dict, seed: int = 0) -> dict:
    v = _factory()(LoadOptions(params={"random_init": True, "remove_weight_norm": False, "config": config,
                                       "seed": seed}))
    return {k: t.clone() for k, t in v.model.state_dict().items()}


def _write(directory: Path, state: dict, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    # The 2020 release predates the zip format: write the legacy serialisation, as g_02500000 is.
    torch.save({"generator": state}, directory / CHECKPOINT, _use_new_zipfile_serialization=False)


def _reference_forward(sd: dict, h: dict, mel: torch.Tensor) -> torch.Tensor:
    """jik876/hifi-gan Generator.forward written out with functional ops on the raw (weight-normed) state dict."""

    def w(prefix: str) -> torch.Tensor:
        g, v = sd[prefix + ".weight_g"], sd[prefix + ".weight_v"]
        return g * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)

    n_k = len(h["resblock_kernel_sizes"])
    x = F.conv1d(mel, w("conv_pre"), sd["conv_pre.bias"], padding=3)
    for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"])):
        x = F.conv_transpose1d(F.leaky_relu(x, 0.1), w(f"ups.{i}"), sd[f"ups.{i}.bias"], stride=u,
                               padding=(k - u) // 2)
        total = 0
        for j, (rk, dils) in enumerate(zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"])):
            p = f"resblocks.{i * n_k + j}"
            y = x
            for m, d in enumerate(dils):
                t = F.conv1d(F.leaky_relu(y, 0.1), w(f"{p}.convs1.{m}"), sd[f"{p}.convs1.{m}.bias"],
                             padding=(rk * d - d) // 2, dilation=d)
                t = F.conv1d(F.leaky_relu(t, 0.1), w(f"{p}.convs2.{m}"), sd[f"{p}.convs2.{m}.bias"],
                             padding=(rk - 1) // 2)
                y = y + t
            total = total + y
        x = total / n_k
    x = F.conv1d(F.leaky_relu(x), w("conv_post"), sd["conv_post.bias"], padding=3)  # default slope 0.01
    return torch.tanh(x).squeeze(1)


def test_registry_entry():
    e = vocoder_registry().get(NAME)
    assert e.family == "neural" and e.sample_rate == 22050
    assert e.weights.files == ("config.json", "g_02500000") and e.weights.repo_id is None
    assert "drive.google.com" in e.weights.how_to_get


def test_front_end_is_the_published_one():
    mel = hifigan_mel(PUBLISHED_CONFIG)
    assert (mel.sample_rate, mel.n_fft, mel.hop_length, mel.win_length, mel.n_mels, mel.fmin, mel.fmax) == \
        (22050, 1024, 256, 1024, 80, 0.0, 8000.0)
    assert (mel.framing, mel.mel_scale, mel.mel_norm, mel.mag_eps, mel.clamp_min, mel.log) == \
        ("reflect", "slaney", "slaney", 1e-9, 1e-5, "ln")


def test_mel_matches_reference_definition():
    """HiFi-GAN's meldataset.mel_spectrogram; BigVGAN's package ships the same function (used when it imports)."""
    try:
        from bigvgan.meldataset import mel_spectrogram as reference_mel
    except Exception as err:
        pytest.skip(f"bigvgan package (carrier of the reference mel function) does not import: {err}")
    v = _factory()(LoadOptions(params={"random_init": True, "config": _config()}))
    audio = (0.3 * torch.randn(2, 11025, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    ref = reference_mel(audio, 1024, 80, 22050, 256, 1024, 0, 8000)
    ours = v.analyse(audio)
    assert ours.shape == ref.shape == (2, 80, 11025 // 256)
    assert_close_f32(ours, ref, ulps=256)


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_generator_matches_reference_forward(tmp_path, resblock):
    config = _config(resblock=resblock) if resblock == "1" else \
        _config(resblock="2", resblock_dilation_sizes=[[1, 3], [1, 3]])
    state = _trained_like_state(config, seed=1)
    _write(tmp_path, state, config)
    v = _factory()(LoadOptions(weights_path=str(tmp_path)))
    mel = torch.randn(2, 80, 7, generator=torch.Generator().manual_seed(2)) - 3
    with torch.inference_mode():
        ours = v.synthesise(mel)
        if resblock == "1":
            ref = _reference_forward(state, config, mel)
            assert ((ours - ref).norm() / ref.norm()).item() < 1e-5
    assert ours.shape == (2, 7 * 256)


def test_checkpoint_found_by_resolve(tmp_path, monkeypatch):
    spec = vocoder_registry().get(NAME).weights
    config = _config()
    _write(tmp_path / "hifi", _trained_like_state(config), config)
    monkeypatch.setenv("BENCH_WEIGHTS_HIFIGAN", str(tmp_path / "hifi"))
    res = resolve(NAME, spec, models_dir=tmp_path / "nothing")
    assert res.ready and res.source == "$BENCH_WEIGHTS_HIFIGAN"
    v = _factory()(LoadOptions(weights_path=str(res.path)))
    audio = 0.1 * torch.randn(1, 5000, generator=torch.Generator().manual_seed(3))
    out = v.copy_synthesis(audio)
    assert v.sample_rate == 22050 and out.shape == (1, (5000 // 256) * 256) and torch.isfinite(out).all()


def test_missing_weights_message_says_how_to_get_them(tmp_path):
    spec = vocoder_registry().get(NAME).weights
    res = resolve(NAME, spec, models_dir=tmp_path)
    msg = missing_message(NAME, spec, res)
    assert not res.ready and "\n" not in msg and "g_02500000" in msg and "drive.google.com" in msg
    with pytest.raises(MissingWeightsError):
        _factory()(LoadOptions())


def test_truncated_file(tmp_path):
    config = _config()
    _write(tmp_path, _trained_like_state(config), config)
    path = tmp_path / CHECKPOINT
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as err:
        _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert "truncated or corrupt" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("change,expected", [("drop", "missing keys: ups.1.bias"),
                                             ("extra", "unexpected keys: mpd.conv"),
                                             ("shape", "shape mismatch: conv_post.bias")])
def test_mismatched_state_dict(tmp_path, change, expected):
    config = _config()
    state = _trained_like_state(config)
    if change == "drop":
        del state["ups.1.bias"]
    elif change == "extra":
        state["mpd.conv"] = torch.zeros(1)
    else:
        state["conv_post.bias"] = torch.zeros(3)
    _write(tmp_path, state, config)
    with pytest.raises(CheckpointError) as err:
        _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_weight_norm_removal_and_batching():
    params = {"random_init": True, "config": _config(), "seed": 7}
    kept = _factory()(LoadOptions(params={**params, "remove_weight_norm": False}))
    removed = _factory()(LoadOptions(params=params))
    mel = torch.randn(3, 80, 6, generator=torch.Generator().manual_seed(4)) - 3
    with torch.inference_mode():
        a, b = kept.synthesise(mel), removed.synthesise(mel)
        single = torch.cat([removed.synthesise(mel[i:i + 1]) for i in range(3)])
    assert_close_f32(b, a, ulps=256)
    assert_close_f32(single, b, ulps=256)
