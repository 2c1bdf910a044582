"""MR-STFT: auraloss' MultiResolutionSTFTLoss with its resolutions stated explicitly (lower is better)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.metrics.base import Metric, MetricEntry

#: auraloss 0.4.0 defaults, written out: the values are recorded with each score so that a change of
#: auraloss defaults can never silently change the metric.
FFT_SIZES = (1024, 2048, 512)
HOP_SIZES = (120, 240, 50)
WIN_LENGTHS = (600, 1200, 240)
EVAL_SR = 44100


class MRSTFT(Metric):
    name = "mrstft"
    direction = "lower"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        import auraloss

        self._version = getattr(auraloss, "__version__", "0.4.0")
        self._loss = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=list(FFT_SIZES), hop_sizes=list(HOP_SIZES), win_lengths=list(WIN_LENGTHS), window="hann_window",
            w_sc=1.0, w_log_mag=1.0, w_lin_mag=0.0, w_phs=0.0, scale=None, perceptual_weighting=False,
        ).to(device)

    def sample_rate(self, domain: str) -> int:
        return EVAL_SR

    def variant(self, domain: str) -> dict[str, Any]:
        return {**self.common_variant(domain), "package": "auraloss", "version": self._version,
                "class": "MultiResolutionSTFTLoss", "fft_sizes": FFT_SIZES, "hop_sizes": HOP_SIZES,
                "win_lengths": WIN_LENGTHS, "window": "hann", "terms": "spectral convergence + log-magnitude L1",
                "reduction": "mean over resolutions"}

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> torch.Tensor:
        return torch.from_numpy(self.to_rate(ref, sr, domain)).to(self.device)[None, None]

    def score(self, state: torch.Tensor, deg: np.ndarray, sr: int, domain: str) -> float:
        y = torch.from_numpy(self.to_rate(deg, sr, domain)).to(self.device)[None, None]
        n = min(state.shape[-1], y.shape[-1])
        with torch.inference_mode():
            # auraloss' argument order is (input, target): the vocoded signal is the input.
            return float(self._loss(y[..., :n], state[..., :n]))


ENTRY = MetricEntry(
    name="mrstft",
    factory=MRSTFT,
    direction="lower",
    description="multi-resolution STFT distance (auraloss; SC + log-mag, FFT 1024/2048/512) at 44.1 kHz",
    perfect=0.0,
    gpu_capable=True,
    requires=("auraloss",),
    cost="~0.5 s per 10 s pair on 2 CPU cores (measured: python -m bench.perf.demo_profile)",
)
