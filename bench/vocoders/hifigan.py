"""HiFi-GAN V1 "universal" (jik876/hifi-gan, UNIVERSAL_V1) from its published ``config.json`` + ``g_02500000``.

22.05 kHz, 80-band log-mel (n_fft 1024, hop 256, win 1024, fmin 0, fmax 8000) computed as the reference's
``meldataset.mel_spectrogram``: reflect padding of (n_fft - hop) / 2, ``torch.stft(center=False)``, periodic Hann
window, sqrt(|X|^2 + 1e-9), librosa Slaney filterbank, ln(clamp(x, 1e-5)). The architecture and the front-end
are read from config.json at load time; the defaults below are the published config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.mel import MelConfig, mel_spectrogram
from bench.vocoders.nn.checkpoint import (CheckpointError, load_state_dict_strict, read_json, read_torch_file,
                                          state_dict_from)
from bench.vocoders.nn.hifigan import HiFiGANConfig, HiFiGANGenerator
from bench.vocoders.nn.neural import NeuralVocoder
from bench.vocoders.nn.weightnorm import detect_style
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

NAME = "hifigan"
CHECKPOINT = "g_02500000"
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1-eEYTB5Av9jNql0WGBlRoi-WH2J7bp5Y"

#: config.json of UNIVERSAL_V1 (the V1 generator; training keys left out).
PUBLISHED_CONFIG: dict[str, Any] = {
    "resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
    "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "num_mels": 80, "n_fft": 1024,
    "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000,
}

WEIGHTS = WeightSpec(
    files=("config.json", CHECKPOINT), repo_id=None, url=DRIVE_FOLDER,
    how_to_get=f"download UNIVERSAL_V1/{CHECKPOINT} and UNIVERSAL_V1/config.json from the HiFi-GAN authors' "
               f"Google Drive folder {DRIVE_FOLDER} (linked from github.com/jik876/hifi-gan)")


def hifigan_mel(h: dict[str, Any]) -> MelConfig:
    """The log-mel front-end a HiFi-GAN config.json defines."""
    fmax = h.get("fmax")
    return MelConfig(sample_rate=int(h["sampling_rate"]), n_fft=int(h["n_fft"]), hop_length=int(h["hop_size"]),
                     win_length=int(h["win_size"]), n_mels=int(h.get("num_mels", 80)),
                     fmin=float(h.get("fmin", 0)), fmax=None if fmax is None else float(fmax), framing="reflect",
                     mel_scale="slaney", mel_norm="slaney", power=1.0, mag_eps=1e-9, log="ln", clamp_min=1e-5)


class HiFiGAN(NeuralVocoder):
    """HiFi-GAN V1: log-mel [B, 80, F] -> audio [B, F * 256] at 22.05 kHz."""

    name = NAME
    weights = WEIGHTS
    sample_rate = 22050

    def default_config(self) -> dict[str, Any]:
        return dict(PUBLISHED_CONFIG)

    def read_checkpoint(self, directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
        config = read_json(directory / "config.json", self.name)
        path = directory / CHECKPOINT
        state = state_dict_from(read_torch_file(path, self.name), "generator", self.name, str(path))
        if int(config.get("sampling_rate", -1)) != self.sample_rate:
            raise CheckpointError(f"{self.name}: {directory / 'config.json'} is for {config.get('sampling_rate')} "
                                  f"Hz but {self.name} runs at {self.sample_rate} Hz; wrong files in {directory}?")
        return config, state, str(path)

    def build(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None, source: str) -> nn.Module:
        arch = HiFiGANConfig.from_dict(config)
        self.mel = hifigan_mel(config)
        self.sample_rate = self.mel.sample_rate
        if arch.hop_length != self.mel.hop_length:
            raise ValueError(f"prod(upsample_rates) = {arch.hop_length} differs from hop_size = {self.mel.hop_length}")
        if arch.num_mels != self.mel.n_mels:
            raise ValueError("num_mels of the network and of the front-end differ")
        style = (detect_style(state, "conv_pre") or "old") if state is not None else "old"
        model = HiFiGANGenerator(arch, weight_norm=style)
        if state is not None:
            load_state_dict_strict(model, state, self.name, source)
        return model

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel [B, 80, T // 256] of audio [B, T] at 22.05 kHz."""
        return mel_spectrogram(audio.to(self.device, torch.float32), self.mel)

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)


ENTRY = VocoderEntry(
    name=NAME, factory=HiFiGAN, sample_rate=22050,
    description="HiFi-GAN V1 universal (jik876), 22.05 kHz, 80-band log-mel up to 8 kHz (13.9 M params)",
    weights=WEIGHTS, gpu_capable=True, family="neural")
