"""MR-STFT as other papers compute it, registered as ``mrstft@<variant>`` beside the default ``mrstft``.

"MR-STFT" names different computations in different papers; a value is only comparable with a published
table when it is computed the same way. Each variant here is written from the definition in its authors'
public code (recorded in ``source``); none of their code is copied.

- ``discoder``, ``dac``: the audiotools-style multi-scale STFT distance. Per scale (window w, hop w / 4),
  centred frames (reflect padding w / 2), magnitude |STFT|, then
  ``mean|log10(clamp(|X|, 1e-5)^2) - log10(clamp(|Y|, 1e-5)^2)| + mean| |X| - |Y| |``, SUMMED over the
  scales 2048 and 512. They differ only in the window: DAC's audiotools signal uses a periodic Hann window;
  DisCoder calls ``torch.Tensor.stft(w, w // 4, None)`` on a plain tensor, so its third argument (meant as
  the window type) lands in ``win_length`` and no window is passed: torch then applies a rectangular window.
- ``bigvgan``: the default auraloss ``MultiResolutionSTFTLoss`` (as ``mrstft``), but computed at 24 kHz,
  the rate of BigVGAN's LibriTTS tables (BigVGAN's validation calls the loss with its defaults on the
  model's own rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from bench.metrics.base import Metric, MetricEntry
from bench.metrics.mrstft import MRSTFT


@dataclass(frozen=True)
class LogMagSTFTDef:
    """Every parameter of an audiotools-style multi-scale STFT distance."""

    windows: tuple[int, ...] = (2048, 512)
    window: Literal["rectangular", "hann"] = "hann"
    clamp: float = 1e-5
    power: float = 2.0  # the clamped magnitude is raised to this power before log10
    log_weight: float = 1.0
    mag_weight: float = 1.0
    sample_rate: int = 44100


def _magnitudes(x: torch.Tensor, d: LogMagSTFTDef) -> list[torch.Tensor]:
    """|STFT| [freq, frames] per scale of ``x`` [T] (centred frames, reflect padding n_fft // 2)."""
    out = []
    for w in d.windows:
        win = (torch.ones(w, dtype=x.dtype, device=x.device) if d.window == "rectangular"
               else torch.hann_window(w, periodic=True, dtype=x.dtype, device=x.device))
        spec = torch.stft(x, n_fft=w, hop_length=w // 4, win_length=w, window=win, center=True,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        out.append(spec.abs())
    return out


class LogMagSTFT(Metric):
    """Multi-scale log10-power + linear magnitude L1 distance, summed over scales (lower is better)."""

    direction = "lower"

    def __init__(self, name: str, definition: LogMagSTFTDef, source: str, device: str = "cpu") -> None:
        super().__init__(device)
        self.name = name
        self.definition = definition
        self.source = source

    def sample_rate(self, domain: str) -> int:
        return self.definition.sample_rate

    def variant(self, domain: str) -> dict[str, Any]:
        d = self.definition
        return {**self.common_variant(domain), "variant": self.name.partition("@")[2], "source": self.source,
                "windows": d.windows, "hops": tuple(w // 4 for w in d.windows), "window": d.window,
                "framing": "center (reflect, n_fft // 2)", "clamp": d.clamp, "power": d.power, "log": "log10",
                "terms": f"{d.log_weight:g} x L1(log10 clamped power) + {d.mag_weight:g} x L1(magnitude)",
                "reduction": "mean over bins and frames, sum over scales"}

    def _mags(self, x: np.ndarray, sr: int, domain: str) -> list[torch.Tensor]:
        t = torch.from_numpy(self.to_rate(x, sr, domain)).to(self.device)
        with torch.inference_mode():
            return _magnitudes(t, self.definition)

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> list[torch.Tensor]:
        return self._mags(ref, sr, domain)

    def score(self, state: list[torch.Tensor], deg: np.ndarray, sr: int, domain: str) -> float:
        d = self.definition
        total = 0.0
        with torch.inference_mode():
            for r, g in zip(state, self._mags(deg, sr, domain)):
                n = min(r.shape[-1], g.shape[-1])
                r, g = r[..., :n], g[..., :n]
                log_r = r.clamp(min=d.clamp).pow(d.power).log10()
                log_g = g.clamp(min=d.clamp).pow(d.power).log10()
                total += d.log_weight * float(torch.mean(torch.abs(log_g - log_r)))
                total += d.mag_weight * float(torch.mean(torch.abs(g - r)))
        return total


DISCODER = LogMagSTFTDef(window="rectangular")
DAC = LogMagSTFTDef(window="hann")
SOURCE_DISCODER = ("github ETH-DISCO/discoder discoder/losses.py MultiScaleSTFTLoss (defaults), logged as "
                   "'Avg. Mstft Distance' by discoder/trainer.py Trainer._validate")
SOURCE_DAC = ("github descriptinc/descript-audio-codec dac/nn/loss.py MultiScaleSTFTLoss (defaults; conf/base.yml "
              "window_lengths [2048, 512]) on audiotools AudioSignal.stft")
SOURCE_BIGVGAN = ("github NVIDIA/BigVGAN train.py validate(): auraloss.freq.MultiResolutionSTFTLoss() defaults "
                  "('validation/mrstft') at the model rate; 24 kHz = the LibriTTS tables")


def discoder_stft(device: str = "cpu") -> LogMagSTFT:
    return LogMagSTFT("mrstft@discoder", DISCODER, SOURCE_DISCODER, device)


def dac_stft(device: str = "cpu") -> LogMagSTFT:
    return LogMagSTFT("mrstft@dac", DAC, SOURCE_DAC, device)


class BigVGANMRSTFT(MRSTFT):
    """auraloss' default MR-STFT at 24 kHz (BigVGAN's LibriTTS tables)."""

    name = "mrstft@bigvgan"
    EVAL_SR = 24000

    def sample_rate(self, domain: str) -> int:
        return self.EVAL_SR

    def variant(self, domain: str) -> dict[str, Any]:
        return {**super().variant(domain), "variant": "bigvgan", "source": SOURCE_BIGVGAN}


COST = "~0.3 s per 10 s clip on 2 busy CPU cores (demo-test run, store seconds)"
COST_BIGVGAN = "~0.8 s per 10 s clip on 2 busy CPU cores (demo-test run, store seconds)"

ENTRY = [
    MetricEntry(
        name="mrstft@discoder", factory=discoder_stft, direction="lower", perfect=0.0, gpu_capable=True,
        description="MR-STFT as DisCoder's code computes it: windows 2048/512, RECTANGULAR window, "
                    "L1 log10|X|^2 + L1 |X|, summed over scales, 44.1 kHz",
        source=SOURCE_DISCODER, cost=COST),
    MetricEntry(
        name="mrstft@dac", factory=dac_stft, direction="lower", perfect=0.0, gpu_capable=True,
        description="DAC's multi-scale STFT distance: windows 2048/512, Hann, L1 log10|X|^2 + L1 |X|, "
                    "summed over scales, 44.1 kHz",
        source=SOURCE_DAC, cost=COST),
    MetricEntry(
        name="mrstft@bigvgan", factory=BigVGANMRSTFT, direction="lower", perfect=0.0, gpu_capable=True,
        requires=("auraloss",),
        description="auraloss MR-STFT with its defaults (as mrstft) at 24 kHz, as in BigVGAN's LibriTTS tables",
        source=SOURCE_BIGVGAN, cost=COST_BIGVGAN),
]
