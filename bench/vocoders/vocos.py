"""Vocos mel 24 kHz (``charactr/vocos-mel-24khz``) from its published ``config.yaml`` + ``pytorch_model.bin``.

Front-end: the reference's ``MelSpectrogramFeatures`` = torchaudio ``MelSpectrogram(sample_rate 24000, n_fft 1024,
hop 256, n_mels 100, center=True, power=1)`` (periodic Hann window of n_fft samples, reflect padding, |X|,
HTK mel scale without area normalisation, fmin 0, fmax sr/2) then ln(clamp(x, 1e-7)). torchaudio is not a
dependency: the same computation runs through :mod:`bench.mel`, and at load time the filterbank and window
stored in the published state dict are compared with ours. With "center" padding (the published config)
the output has (F - 1) * 256 samples for F frames, i.e. 256 * (T // 256) for T input samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.mel import MelConfig, mel_filterbank, mel_spectrogram
from bench.vocoders.nn.checkpoint import (CheckpointError, load_state_dict_strict, read_torch_file, read_yaml,
                                          state_dict_from)
from bench.vocoders.nn.neural import NEURAL_PARAM_SPECS, NeuralVocoder
from bench.vocoders.nn.vocos import VocosConfig, VocosModel
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

NAME = "vocos-mel-24k"
REPO_ID = "charactr/vocos-mel-24khz"

#: The published config.yaml, flattened: front-end keys, backbone keys, and the head's as ``head_*``.
PUBLISHED_CONFIG: dict[str, Any] = {
    "sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center",
    "f_min": 0.0, "f_max": None, "norm": None, "mel_scale": "htk",
    "input_channels": 100, "dim": 512, "intermediate_dim": 1536, "num_layers": 8, "layer_scale_init_value": None,
    "head_n_fft": 1024, "head_hop_length": 256, "head_padding": "center",
}

WEIGHTS = WeightSpec(files=("config.yaml", "pytorch_model.bin"), repo_id=REPO_ID,
                     url=f"https://huggingface.co/{REPO_ID}")

_SUPPORTED = {
    "feature_extractor": "vocos.feature_extractors.MelSpectrogramFeatures",
    "backbone": "vocos.models.VocosBackbone",
    "head": "vocos.heads.ISTFTHead",
}
_FEATURE_KEYS = ("sample_rate", "n_fft", "hop_length", "n_mels", "padding", "f_min", "f_max", "norm", "mel_scale")
_BACKBONE_KEYS = ("input_channels", "dim", "intermediate_dim", "num_layers", "layer_scale_init_value")


def flatten_config(yaml_config: dict[str, Any], source: str) -> dict[str, Any]:
    """A Vocos config.yaml (``class_path`` / ``init_args`` per component) as the flat dict used here."""
    flat: dict[str, Any] = {}
    for part, class_path in _SUPPORTED.items():
        section = yaml_config.get(part)
        if not isinstance(section, dict):
            raise CheckpointError(f"{NAME}: {source} has no '{part}' section")
        if section.get("class_path") != class_path:
            raise CheckpointError(f"{NAME}: {source}: {part} {section.get('class_path')!r} is not supported "
                                  f"(only {class_path})")
        args = section.get("init_args") or {}
        if part == "backbone" and args.get("adanorm_num_embeddings"):
            raise CheckpointError(f"{NAME}: {source}: conditional (AdaLayerNorm) backbones are not supported")
        if part == "head":
            flat.update({f"head_{k}": v for k, v in args.items() if k != "dim"})
            flat["head_dim"] = args.get("dim")
        else:
            flat.update(args)
    defaults = {k: PUBLISHED_CONFIG[k] for k in ("f_min", "f_max", "norm", "mel_scale", "layer_scale_init_value")}
    # The reference MelSpectrogramFeatures defaults to "center" padding (and its ISTFTHead to "same").
    return {**defaults, "padding": "center", "head_padding": "same", **flat}


def vocos_mel(c: dict[str, Any]) -> MelConfig:
    """Our equivalent of the reference feature extractor (torchaudio MelSpectrogram, power 1, safe_log)."""
    padding = c["padding"]
    if padding not in ("center", "same"):
        raise ValueError(f"padding must be 'center' or 'same', got {padding!r}")
    if c.get("mel_scale", "htk") not in ("htk", "slaney") or c.get("norm") not in (None, "slaney"):
        raise ValueError("mel_scale must be 'htk' or 'slaney' and norm None or 'slaney'")
    f_max = c.get("f_max")
    return MelConfig(sample_rate=int(c["sample_rate"]), n_fft=int(c["n_fft"]), hop_length=int(c["hop_length"]),
                     win_length=int(c["n_fft"]), n_mels=int(c["n_mels"]), fmin=float(c.get("f_min") or 0.0),
                     fmax=None if f_max is None else float(f_max),
                     # "same" = reflect-pad (win - hop) / 2 then frames without centring: our "reflect" framing.
                     framing="center" if padding == "center" else "reflect",
                     mel_scale=c.get("mel_scale", "htk"), mel_norm=c.get("norm"), power=1.0, mag_eps=0.0,
                     log="ln", clamp_min=1e-7)


class Vocos(NeuralVocoder):
    """Vocos: log-mel [B, 100, F] -> audio [B, (F - 1) * 256] at 24 kHz (published "center" config)."""

    name = NAME
    weights = WEIGHTS
    sample_rate = 24000

    def default_config(self) -> dict[str, Any]:
        return dict(PUBLISHED_CONFIG)

    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        config_path = directory / "config.yaml"
        config = flatten_config(read_yaml(config_path, self.name), str(config_path))
        path = directory / "pytorch_model.bin"
        state = state_dict_from(read_torch_file(path, self.name), None, self.name, str(path))
        if int(config.get("sample_rate", -1)) != self.sample_rate:
            raise CheckpointError(f"{self.name}: {config_path} is for {config.get('sample_rate')} Hz but "
                                  f"{self.name} runs at {self.sample_rate} Hz; wrong files in {directory}?")
        return config, state, str(path)

    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        self.mel = vocos_mel(config)
        self.sample_rate = self.mel.sample_rate
        head_dim = config.get("head_dim", config["dim"])
        if head_dim is not None and int(head_dim) != int(config["dim"]):
            raise ValueError("head dim differs from backbone dim")
        if int(config["input_channels"]) != self.mel.n_mels:
            raise ValueError("backbone input_channels differs from n_mels")
        if int(config["head_hop_length"]) != self.mel.hop_length:
            raise ValueError("head hop_length differs from the front-end hop_length")
        arch = VocosConfig(**{k: config[k] for k in _BACKBONE_KEYS}, n_fft=int(config["head_n_fft"]),
                           hop_length=int(config["head_hop_length"]), padding=config["head_padding"])
        window = torch.hann_window(self.mel.win_length)
        filterbank = mel_filterbank(self.mel).T.contiguous()  # torchaudio layout [n_freqs, n_mels]
        model = VocosModel(arch, window, filterbank)
        if state is not None:
            load_state_dict_strict(model, state, self.name, source)
            self._check_front_end(state, window, filterbank, source)
        return model

    def _check_front_end(self, state: dict[str, torch.Tensor], window: torch.Tensor, filterbank: torch.Tensor,
                         source: str) -> None:
        """The checkpoint's torchaudio buffers must equal our front-end's (else its mel differs from ours)."""
        stored_fb = state["feature_extractor.mel_spec.mel_scale.fb"].float()
        stored_window = state["feature_extractor.mel_spec.spectrogram.window"].float()
        fb_err = (stored_fb - filterbank).abs().max().item()
        win_err = (stored_window - window).abs().max().item()
        if fb_err > 1e-5 * max(1.0, filterbank.abs().max().item()) or win_err > 1e-6:
            raise CheckpointError(f"{self.name}: the mel filterbank/window stored in {source} differ from this "
                                  f"front-end ({self.mel.mel_scale} scale, norm {self.mel.mel_norm}; max error "
                                  f"{fb_err:.2e} / {win_err:.2e}): the checkpoint expects another mel")

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel [B, 100, T // 256 + 1] of audio [B, T] at 24 kHz."""
        return mel_spectrogram(audio.to(self.device, torch.float32), self.mel)

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)


ENTRY = VocoderEntry(
    name=NAME, factory=Vocos, sample_rate=24000,
    description="Vocos mel 24 kHz (charactr/vocos-mel-24khz, LibriTTS), 100-band HTK log-mel, ISTFT head "
                "(13.5 M params)",
    weights=WEIGHTS, gpu_capable=True, family="neural", params=NEURAL_PARAM_SPECS)
