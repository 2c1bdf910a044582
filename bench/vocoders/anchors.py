"""ITU-R BS.1534-3 low-pass anchors: the reference low-passed at 3.5 kHz (low) and 7 kHz (mid)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal
import torch

from bench.params import ParamSpec
from bench.vocoders.base import Vocoder
from bench.vocoders.registry import VocoderEntry

#: Kaiser FIR design: ~80 dB stop-band, 200 Hz transition band centred on the cut-off.
_ATTENUATION_DB = 80.0
_TRANSITION_HZ = 200.0


@functools.lru_cache(maxsize=8)
def lowpass_taps(cutoff_hz: float, sr: int) -> np.ndarray:
    """Linear-phase (odd length) low-pass FIR taps for ``cutoff_hz`` at ``sr`` Hz."""
    numtaps, beta = scipy.signal.kaiserord(_ATTENUATION_DB, _TRANSITION_HZ / (sr / 2))
    numtaps |= 1
    return scipy.signal.firwin(numtaps, cutoff_hz, window=("kaiser", beta), fs=sr).astype(np.float64)


def lowpass(x: np.ndarray, cutoff_hz: float, sr: int) -> np.ndarray:
    """Zero-phase low-pass of [T] (or [B, T]) samples; the output has the input's length and timing."""
    taps = lowpass_taps(float(cutoff_hz), int(sr))
    y = scipy.signal.fftconvolve(np.asarray(x, dtype=np.float64), taps[None] if x.ndim == 2 else taps, mode="same",
                                 axes=-1)
    return y.astype(np.float32)


class LowpassAnchor(Vocoder):
    sample_rate = 44100

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        cutoff = float(self.options.params["cutoff_hz"])
        y = lowpass(features.detach().cpu().float().numpy(), cutoff, self.sample_rate)
        return torch.from_numpy(y).to(features.device)


ENTRY = [
    VocoderEntry(
        name=f"anchor{int(fc / 100)}",
        factory=LowpassAnchor,
        sample_rate=44100,
        description=f"BS.1534-3 {'low' if fc < 5000 else 'mid'}-range anchor: reference low-passed at "
                    f"{fc / 1000:g} kHz",
        params=(ParamSpec("cutoff_hz", float, fc, "low-pass cut-off frequency in Hz", above=0, below=44100 / 2),),
        family="anchor",
    )
    for fc in (3500.0, 7000.0)
]
