"""Vocos mel 24 kHz: torchaudio-equivalent front-end, ISTFT head, published file format and strict loading."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from bench.vocoders.base import LoadOptions
from bench.vocoders.nn.checkpoint import CheckpointError
from bench.vocoders.nn.vocos import ISTFT
from bench.vocoders.registry import vocoder_registry
from bench.vocoders.vocos import PUBLISHED_CONFIG, flatten_config
from bench.vocoders.weights import resolve
from numerics import F64_EPS, assert_close_f32

NAME = "vocos-mel-24k"
TINY = {"dim": 32, "intermediate_dim": 48, "num_layers": 2}


def _factory():
    return vocoder_registry().get(NAME).factory


def _torchaudio_htk_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sr: int) -> torch.Tensor:
    """torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk") restated: [n_freqs, n_mels], float32."""
    all_freqs = torch.linspace(0, sr // 2, n_freqs)
    m_min, m_max = (2595.0 * math.log10(1.0 + f / 700.0) for f in (f_min, f_max))
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


def _reference_features(audio: torch.Tensor) -> torch.Tensor:
    """MelSpectrogramFeatures(padding="center"): torchaudio MelSpectrogram(24000, 1024, 256, 100, power=1), safe_log."""
    spec = torch.stft(audio, 1024, 256, 1024, torch.hann_window(1024), center=True, pad_mode="reflect",
                      return_complex=True).abs()
    fb = _torchaudio_htk_filterbank(513, 0.0, 12000.0, 100, 24000)
    mel = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)
    return torch.log(torch.clamp(mel, min=1e-7))


def _yaml_config(dim=32, intermediate_dim=48, num_layers=2, padding="center", head_padding="center") -> dict:
    """config.yaml in the published layout (class_path / init_args)."""
    return {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100,
                                            "padding": padding}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": 100, "dim": dim, "intermediate_dim": intermediate_dim,
                                   "num_layers": num_layers}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": dim, "n_fft": 1024, "hop_length": 256, "padding": head_padding}},
    }


def _published_state(seed: int = 0, **arch) -> dict:
    """A state dict laid out like pytorch_model.bin, with torchaudio's own buffers for the feature extractor."""
    v = _factory()(LoadOptions(params={"random_init": True, "config": {**TINY, **arch}, "seed": seed}))
    state = {k: t.clone() for k, t in v.model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed + 10)
    for k in state:  # trained-looking layer scales and norms
        if k.endswith(("gamma", "norm.weight")):
            state[k] = state[k] + 0.1 * torch.randn(state[k].shape, generator=gen)
    state["feature_extractor.mel_spec.mel_scale.fb"] = _torchaudio_htk_filterbank(513, 0.0, 12000.0, 100, 24000)
    state["feature_extractor.mel_spec.spectrogram.window"] = torch.hann_window(1024)
    return state


def _write(directory: Path, state: dict, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(state, directory / "pytorch_model.bin")


def _reference_decode(sd: dict, mel: torch.Tensor, num_layers: int) -> torch.Tensor:
    """VocosBackbone + ISTFTHead(padding="center") of the reference, restated with functional ops."""
    x = F.conv1d(mel, sd["backbone.embed.weight"], sd["backbone.embed.bias"], padding=3)
    dim = x.shape[1]
    x = F.layer_norm(x.transpose(1, 2), (dim,), sd["backbone.norm.weight"], sd["backbone.norm.bias"], 1e-6)
    x = x.transpose(1, 2)
    for i in range(num_layers):
        p = f"backbone.convnext.{i}."
        y = F.conv1d(x, sd[p + "dwconv.weight"], sd[p + "dwconv.bias"], padding=3, groups=dim).transpose(1, 2)
        y = F.layer_norm(y, (dim,), sd[p + "norm.weight"], sd[p + "norm.bias"], 1e-6)
        y = F.linear(F.gelu(F.linear(y, sd[p + "pwconv1.weight"], sd[p + "pwconv1.bias"])),
                     sd[p + "pwconv2.weight"], sd[p + "pwconv2.bias"])
        x = x + (sd[p + "gamma"] * y).transpose(1, 2)
    x = F.layer_norm(x.transpose(1, 2), (dim,), sd["backbone.final_layer_norm.weight"],
                     sd["backbone.final_layer_norm.bias"], 1e-6)
    x = F.linear(x, sd["head.out.weight"], sd["head.out.bias"]).transpose(1, 2)
    mag, p = x.chunk(2, dim=1)
    mag = torch.clip(torch.exp(mag), max=1e2)
    phase = torch.atan2(torch.sin(p), torch.cos(p))
    spec = mag * torch.exp(phase * 1j)
    return torch.istft(spec, 1024, 256, 1024, torch.hann_window(1024), center=True)


def test_registry_entry_and_published_config():
    e = vocoder_registry().get(NAME)
    assert e.family == "neural" and e.sample_rate == 24000
    assert e.weights.repo_id == "charactr/vocos-mel-24khz"
    assert e.weights.files == ("config.yaml", "pytorch_model.bin")
    flat = flatten_config(_yaml_config(512, 1536, 8), "config.yaml")
    for key in ("sample_rate", "n_fft", "hop_length", "n_mels", "padding", "dim", "intermediate_dim", "num_layers",
                "head_n_fft", "head_hop_length", "head_padding"):
        assert flat[key] == PUBLISHED_CONFIG[key], key


def test_full_size_parameter_count():
    v = _factory()(LoadOptions(params={"random_init": True}))
    assert v.num_parameters() == 13_531_650  # the published model's size (13.5 M)


def test_front_end_matches_torchaudio_definition():
    v = _factory()(LoadOptions(params={"random_init": True, "config": TINY}))
    mel = v.mel
    assert (mel.framing, mel.mel_scale, mel.mel_norm, mel.mag_eps, mel.clamp_min, mel.power) == \
        ("center", "htk", None, 0.0, 1e-7, 1.0)
    audio = 0.3 * torch.randn(2, 6000, generator=torch.Generator().manual_seed(0))
    ours = v.analyse(audio)
    ref = _reference_features(audio)
    assert ours.shape == ref.shape == (2, 100, 6000 // 256 + 1)
    assert_close_f32(ours, ref, ulps=256)


@pytest.mark.parametrize("padding", ["center", "same"])
def test_istft_perfect_reconstruction(padding):
    n_fft, hop, frames = 64, 16, 20
    x = torch.randn(2, frames * hop, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    window = torch.hann_window(n_fft).double()  # the module keeps its float32 window
    if padding == "center":
        spec = torch.stft(x, n_fft, hop, n_fft, window, center=True, return_complex=True)
        expected = x[:, : (spec.shape[-1] - 1) * hop]
    else:
        pad = (n_fft - hop) // 2
        spec = torch.stft(F.pad(x[:, None], (pad, pad), mode="reflect")[:, 0], n_fft, hop, n_fft, window,
                          center=False, return_complex=True)
        assert spec.shape[-1] == frames
        expected = x
    istft = ISTFT(n_fft, hop, padding).double()
    assert_close_f32(istft(spec), expected, eps=F64_EPS, ulps=64)


def test_istft_same_matches_explicit_overlap_add():
    n_fft, hop, frames = 32, 8, 9
    gen = torch.Generator().manual_seed(2)
    spec = torch.complex(torch.randn(1, n_fft // 2 + 1, frames, generator=gen),
                         torch.randn(1, n_fft // 2 + 1, frames, generator=gen)).to(torch.complex128)
    window = torch.hann_window(n_fft).double().numpy()  # periodic Hann, the module's float32 values
    out = np.zeros((frames - 1) * hop + n_fft)
    env = np.zeros_like(out)
    for t in range(frames):
        out[t * hop:t * hop + n_fft] += np.fft.irfft(spec[0, :, t].numpy(), n_fft) * window
        env[t * hop:t * hop + n_fft] += window ** 2
    pad = (n_fft - hop) // 2
    expected = out[pad:-pad] / env[pad:-pad]  # the envelope vanishes only at the trimmed ends
    ours = ISTFT(n_fft, hop, "same").double()(spec)[0].numpy()
    assert_close_f32(ours, expected, eps=F64_EPS, ulps=64)


def test_checkpoint_found_in_models_dir_and_matches_reference(tmp_path):
    spec = vocoder_registry().get(NAME).weights
    state = _published_state()
    _write(tmp_path / "models" / NAME, state, _yaml_config())
    res = resolve(NAME, spec, models_dir=tmp_path / "models")
    assert res.ready and res.source == "models dir"
    v = _factory()(LoadOptions(weights_path=str(res.path)))
    audio = 0.2 * torch.randn(2, 6000, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        mel = v.analyse(audio)
        ours = v.synthesise(mel)
        ref = _reference_decode(state, mel, num_layers=2)
    assert v.sample_rate == 24000
    assert ours.shape == ref.shape == (2, (6000 // 256) * 256)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-5


def test_same_padding_config(tmp_path):
    _write(tmp_path, _published_state(), _yaml_config(padding="same", head_padding="same"))
    v = _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert v.mel.framing == "reflect"
    audio = 0.2 * torch.randn(1, 256 * 20, generator=torch.Generator().manual_seed(4))
    mel = v.analyse(audio)
    assert mel.shape[-1] == 20
    assert v.synthesise(mel).shape == (1, 20 * 256)


def test_filterbank_of_another_front_end_is_rejected(tmp_path):
    import librosa

    state = _published_state()
    slaney = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=100)  # Slaney scale and norm: not this model's
    state["feature_extractor.mel_spec.mel_scale.fb"] = torch.from_numpy(slaney.T.copy()).float()
    _write(tmp_path, state, _yaml_config())
    with pytest.raises(CheckpointError, match="expects another mel"):
        _factory()(LoadOptions(weights_path=str(tmp_path)))


@pytest.mark.parametrize("change,expected", [("drop", "missing keys: head.out.bias"),
                                             ("extra", "unexpected keys: backbone.extra"),
                                             ("shape", "shape mismatch: head.out.weight"),
                                             ("no_buffers", "missing keys: feature_extractor.mel_spec")])
def test_mismatched_state_dict(tmp_path, change, expected):
    state = _published_state()
    if change == "drop":
        del state["head.out.bias"]
    elif change == "extra":
        state["backbone.extra"] = torch.zeros(2)
    elif change == "shape":
        state["head.out.weight"] = torch.zeros(10, 32)
    else:
        state = {k: t for k, t in state.items() if not k.startswith("feature_extractor.")}
    _write(tmp_path, state, _yaml_config())
    with pytest.raises(CheckpointError) as err:
        _factory()(LoadOptions(weights_path=str(tmp_path)))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_truncated_file_and_unsupported_config(tmp_path):
    _write(tmp_path / "a", _published_state(), _yaml_config())
    path = tmp_path / "a" / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "a")))
    encodec = _yaml_config()
    encodec["feature_extractor"]["class_path"] = "vocos.feature_extractors.EncodecFeatures"
    _write(tmp_path / "b", _published_state(), encodec)
    with pytest.raises(CheckpointError, match="not supported"):
        _factory()(LoadOptions(weights_path=str(tmp_path / "b")))


def test_batched_equals_unbatched_and_bf16():
    v = _factory()(LoadOptions(params={"random_init": True, "config": TINY, "seed": 5}))
    mel = torch.randn(3, 100, 11, generator=torch.Generator().manual_seed(6)) - 5
    with torch.inference_mode():
        batched = v.synthesise(mel)
        single = torch.cat([v.synthesise(mel[i:i + 1]) for i in range(3)])
    assert_close_f32(batched, single, ulps=256)
    low = _factory()(LoadOptions(precision="bf16", params={"random_init": True, "config": TINY, "seed": 5}))
    with torch.inference_mode():
        out = low.synthesise(mel)
    assert out.dtype == torch.float32 and out.shape == batched.shape and torch.isfinite(out).all()


def test_official_package_agreement(tmp_path):
    try:
        from vocos import Vocos as OfficialVocos
    except Exception as err:  # needs torchaudio, which is not a dependency here
        pytest.skip(f"official vocos package does not import: {type(err).__name__}: {err}")
    state = _published_state()
    _write(tmp_path, state, _yaml_config())
    official = OfficialVocos.from_hparams(str(tmp_path / "config.yaml"))
    official.load_state_dict(state)
    official.eval()
    v = _factory()(LoadOptions(weights_path=str(tmp_path)))
    audio = 0.2 * torch.randn(1, 6000, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        ref = official(audio)
        ours = v.copy_synthesis(audio)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-4
