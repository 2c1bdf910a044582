"""Log-mel analysis, parameterised so that one implementation reproduces each vocoder's own front-end.

Two framings exist in the vocoders we evaluate:
- ``"reflect"``: reflect-pad (n_fft - hop) / 2 samples each side, ``torch.stft(center=False)``
  (HiFi-GAN, BigVGAN, DisCoder). Frames = (T + n_fft - hop - n_fft) // hop + 1 = T // hop for T % hop == 0.
- ``"center"``: ``torch.stft(center=True)`` with reflect padding n_fft // 2 (Vocos, torchaudio-style).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Literal

import librosa
import numpy as np
import torch


@dataclass(frozen=True)
class MelConfig:
    """Every parameter that changes a mel spectrogram. Recorded with each run."""

    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    fmin: float = 0.0
    fmax: float | None = None  # None = sample_rate / 2
    framing: Literal["reflect", "center"] = "reflect"
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney"] | None = "slaney"
    power: float = 1.0  # 1 = magnitude, 2 = power
    mag_eps: float = 1e-9  # added under the square root of re^2 + im^2 (BigVGAN); 0 for torch.abs
    log: Literal["ln", "log10"] = "ln"
    clamp_min: float = 1e-5

    def as_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=32)
def _filterbank_np(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool,
                   norm: str | None) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)


def mel_filterbank(cfg: MelConfig) -> torch.Tensor:
    """Mel filterbank [n_mels, n_fft // 2 + 1] (float32) as librosa.filters.mel builds it."""
    fb = _filterbank_np(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax,
                        cfg.mel_scale == "htk", cfg.mel_norm)
    return torch.from_numpy(fb.copy()).float()


def stft_magnitude(audio: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Linear magnitude (or power) spectrogram [B, n_fft // 2 + 1, frames] of ``audio`` [B, T]."""
    window = torch.hann_window(cfg.win_length, device=audio.device, dtype=audio.dtype)
    if cfg.framing == "reflect":
        pad = (cfg.n_fft - cfg.hop_length) // 2
        audio = torch.nn.functional.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        center = False
    else:
        center = True
    spec = torch.stft(audio, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                      center=center, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + cfg.mag_eps)
    return mag if cfg.power == 1.0 else mag.pow(cfg.power)


def mel_spectrogram(audio: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Log-mel spectrogram.

    Args:
        audio: [B, T] float waveform at ``cfg.sample_rate`` Hz, nominally in [-1, 1].
    Returns:
        [B, n_mels, frames] log-mel (natural log or log10 of clamp(mel, clamp_min)).
    """
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    mag = stft_magnitude(audio, cfg)
    mel = torch.matmul(mel_filterbank(cfg).to(mag.device, mag.dtype), mag)
    mel = torch.clamp(mel, min=cfg.clamp_min)
    return torch.log(mel) if cfg.log == "ln" else torch.log10(mel)


#: The 44.1 kHz 128-band front-end of BigVGAN-v2 (bigvgan_v2_44khz_128band_256x) and DisCoder.
BIGVGAN_V2_44K_128 = MelConfig(sample_rate=44100, n_fft=1024, hop_length=256, win_length=1024, n_mels=128,
                               fmin=0.0, fmax=None)
