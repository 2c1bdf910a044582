"""MR-MEL as other papers compute it, registered as ``mrmel@<variant>`` beside the default ``mrmel``.

Written from the definitions in the authors' public code (recorded in ``source``); none of it is copied.
All variants use DAC's 7 scales: windows 32..2048 (hop = window / 4, periodic Hann), 5..320 mel bands
(librosa Slaney filterbank, fmin 0, fmax sr / 2), at 44.1 kHz, and SUM the per-scale terms.

- ``dac``: DAC's training mel loss (conf/base.yml: pow 1, magnitude weight 0, clamp 1e-5): centred frames,
  |STFT| -> mel -> L1 between log10(clamp(mel, 1e-5)). Exactly 7 x the default ``mrmel`` (a mean).
- ``discoder``: DisCoder's ``MultiScaleMelSpectrogramLoss``. Its mel function is the vocoder front-end,
  which already returns the NATURAL-LOG mel ``L = ln(clamp(mel, 1e-5))`` (reflect padding (w - hop) / 2,
  ``center=False``, magnitude sqrt(re^2 + im^2 + 1e-9)). The loss then treats ``L`` as a magnitude:
  ``mean|log10(clamp(L_x, 1e-5)^2) - log10(clamp(L_y, 1e-5)^2)| + mean|L_x - L_y|`` per scale. The first
  term only sees bins whose mel magnitude exceeds 1 (L > 0); everything else is clamped to the same value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.mel.frontend import MelConfig, mel_spectrogram
from bench.metrics.base import Metric, MetricEntry
from bench.metrics.mrmel import CLAMP, N_MELS, WINDOWS, resolutions

EVAL_SR = 44100
SOURCE_DISCODER = ("github ETH-DISCO/discoder discoder/losses.py MultiScaleMelSpectrogramLoss(44100) defaults, "
                   "mel from discoder/meldataset.py mel_spectrogram(center=False) (built in discoder/trainer.py)")
SOURCE_DAC = ("github descriptinc/descript-audio-codec dac/nn/loss.py MelSpectrogramLoss with conf/base.yml "
              "(7 scales, pow 1.0, mag_weight 0.0, clamp 1e-5) on audiotools AudioSignal.mel_spectrogram")


def discoder_resolutions(sr: int) -> list[MelConfig]:
    """DisCoder's own mel front-end at each of DAC's 7 scales (natural log of the clamped mel)."""
    return [MelConfig(sample_rate=sr, n_fft=w, hop_length=w // 4, win_length=w, n_mels=m, fmin=0.0, fmax=None,
                      framing="reflect", mel_scale="slaney", mel_norm="slaney", power=1.0, mag_eps=1e-9, log="ln",
                      clamp_min=CLAMP) for w, m in zip(WINDOWS, N_MELS)]


class _SummedMel(Metric):
    direction = "lower"
    name: str
    source: str

    def sample_rate(self, domain: str) -> int:
        return EVAL_SR

    def _configs(self, sr: int) -> list[MelConfig]:
        raise NotImplementedError

    def _term(self, r: torch.Tensor, d: torch.Tensor) -> float:
        raise NotImplementedError

    def _mels(self, x: np.ndarray, sr: int, domain: str) -> list[torch.Tensor]:
        t = torch.from_numpy(self.to_rate(x, sr, domain)).to(self.device)[None]
        with torch.inference_mode():
            return [mel_spectrogram(t, cfg) for cfg in self._configs(self.sample_rate(domain))]

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> list[torch.Tensor]:
        return self._mels(ref, sr, domain)

    def score(self, state: list[torch.Tensor], deg: np.ndarray, sr: int, domain: str) -> float:
        total = 0.0
        with torch.inference_mode():
            for r, d in zip(state, self._mels(deg, sr, domain)):
                n = min(r.shape[-1], d.shape[-1])
                total += self._term(r[..., :n], d[..., :n])
        return total

    def _common(self, domain: str) -> dict[str, Any]:
        return {**self.common_variant(domain), "variant": self.name.partition("@")[2], "source": self.source,
                "windows": WINDOWS, "hops": tuple(w // 4 for w in WINDOWS), "n_mels": N_MELS, "window": "hann",
                "filterbank": "librosa slaney/slaney, fmin 0, fmax sr/2", "reduction": "sum over 7 scales"}


class DACMel(_SummedMel):
    """DAC's multi-scale mel distance: sum over 7 scales of L1 between log10 clamped mels."""

    name = "mrmel@dac"
    source = SOURCE_DAC

    def _configs(self, sr: int) -> list[MelConfig]:
        return resolutions(sr)

    def _term(self, r: torch.Tensor, d: torch.Tensor) -> float:
        return float(torch.mean(torch.abs(r - d)))

    def variant(self, domain: str) -> dict[str, Any]:
        return {**self._common(domain), "framing": "center (reflect, n_fft // 2)", "magnitude": "|STFT|, power 1",
                "clamp": CLAMP, "log": "log10", "terms": "L1(log10 clamp(mel))"}


class DisCoderMel(_SummedMel):
    """DisCoder's multi-scale mel loss (see the module docstring for its double logarithm)."""

    name = "mrmel@discoder"
    source = SOURCE_DISCODER

    def _configs(self, sr: int) -> list[MelConfig]:
        return discoder_resolutions(sr)

    def _term(self, r: torch.Tensor, d: torch.Tensor) -> float:
        log_r = r.clamp(min=CLAMP).pow(2.0).log10()
        log_d = d.clamp(min=CLAMP).pow(2.0).log10()
        return float(torch.mean(torch.abs(log_d - log_r))) + float(torch.mean(torch.abs(d - r)))

    def variant(self, domain: str) -> dict[str, Any]:
        return {**self._common(domain), "framing": "reflect-pad (n_fft - hop) / 2, center=False",
                "magnitude": "sqrt(re^2 + im^2 + 1e-9)", "mel": "L = ln(clamp(mel, 1e-5))",
                "terms": "L1(log10(clamp(L, 1e-5)^2)) + L1(L)"}


COST = "~0.9-1.2 s per 10 s clip on 2 busy CPU cores (demo-test run, store seconds)"

ENTRY = [
    MetricEntry(
        name="mrmel@discoder", factory=DisCoderMel, direction="lower", perfect=0.0, gpu_capable=True,
        description="MR-MEL as DisCoder's code computes it: DAC's 7 scales through DisCoder's ln-mel front-end, "
                    "L1 log10(clamp(ln-mel)^2) + L1 ln-mel, summed, 44.1 kHz",
        source=SOURCE_DISCODER, cost=COST),
    MetricEntry(
        name="mrmel@dac", factory=DACMel, direction="lower", perfect=0.0, gpu_capable=True,
        description="DAC's mel distance: 7 scales, L1 log10 mel, summed (= 7 x mrmel), 44.1 kHz",
        source=SOURCE_DAC, cost=COST),
]
