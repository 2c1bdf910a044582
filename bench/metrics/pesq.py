"""PESQ wide band (ITU-T P.862.2) MOS-LQO at 16 kHz through the PyPI ``pesq`` package, higher is better; speech only.

PESQ is a model of telephone-band and wide-band *speech* quality (its voice activity detection, time alignment
of utterances and cognitive model are calibrated on speech): on music its values have no defined meaning, so
the metric is registered for the speech domain only and ``bench run`` computes nothing for music clips.

Both signals are resampled to 16 kHz with the suite's resampler (P.862.2 is defined at 16 kHz). The package
scales both by their joint peak before its C code (PESQ aligns levels itself, so the gain does not matter).
Identical signals give 4.644, the top of the P.862.2 mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.audio.checks import validate
from bench.environment import package_version
from bench.errors import AudioError, MissingExtraError
from bench.metrics.base import Metric, MetricEntry

SAMPLE_RATE = 16000
MODE = "wb"
DOMAINS = ("speech",)
#: Shortest input accepted: the package rejects buffers under 1/4 s at 16 kHz (BufferTooShortError).
MIN_SECONDS = 0.25


@dataclass(frozen=True)
class PesqReference:
    """Prepared reference: float32 [T] samples at 16 kHz."""

    samples: np.ndarray


class PESQ(Metric):
    """PESQ P.862.2 wide band MOS-LQO (1.04..4.64) at 16 kHz, speech only."""

    name = "pesq"
    direction = "higher"
    domains = DOMAINS

    def sample_rate(self, domain: str) -> int:
        self.require_domain(domain)
        return SAMPLE_RATE

    def variant(self, domain: str) -> dict[str, Any]:
        self.require_domain(domain)
        return {
            **self.common_variant(domain),
            "package": "pesq",
            "version": package_version("pesq"),
            "standard": "ITU-T P.862.2 (wide band)",
            "mode": MODE,
            "input_scaling": "package: both signals divided by their joint peak",
        }

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> PesqReference:
        return PesqReference(self._input(ref, sr, domain, "pesq reference"))

    def score(self, state: PesqReference, deg: np.ndarray, sr: int, domain: str) -> float:
        x = self._input(deg, sr, domain, "pesq degraded")
        n = min(state.samples.size, x.size)  # resampling may leave one sample of difference
        try:
            from pesq import PesqError, pesq
        except ImportError as err:
            raise MissingExtraError(f"metric 'pesq' needs the pesq package ({err}); "
                                    "pip install 'vocoder-bench[speech]'") from None
        try:
            value = float(pesq(SAMPLE_RATE, state.samples[:n], x[:n], MODE))
        except PesqError as err:  # NoUtterancesError, BufferTooShortError, ...: the package's reason, one line
            raise AudioError(f"pesq cannot score this pair: {type(err).__name__}: {err}".rstrip(": ")) from None
        if not math.isfinite(value):
            raise AudioError(f"pesq returned {value} (degenerate signal)")
        return value

    def _input(self, x: np.ndarray, sr: int, domain: str, what: str) -> np.ndarray:
        """Validated float32 copy of ``x`` [T] at 16 kHz (the caller's array is not touched)."""
        self.require_domain(domain)
        x = np.asarray(x)
        validate(x, sr, min_samples=max(1, math.ceil(MIN_SECONDS * sr)), what=what,
                 min_reason="PESQ's minimum of 0.25 s")
        return self.to_rate(x, sr, domain).astype(np.float32)


ENTRY = MetricEntry(
    name="pesq",
    factory=PESQ,
    direction="higher",
    description="PESQ wide band (ITU-T P.862.2, pesq package) MOS-LQO at 16 kHz; speech only",
    perfect=4.644,  # top of the P.862.2 mapping, identical signals
    gpu_capable=False,
    requires=("pesq",),
    extra="speech",
    cost="~0.1-0.3 s per 10 s pair on one core",
    process_safe=True,
    source="ITU-T P.862.2; PyPI pesq (github.com/ludlows/python-pesq), pesq(16000, ref, deg, 'wb')",
    domains=DOMAINS,
)
