"""Mel-cepstral distance (Kubichek 1993) as the PyPI ``mel-cepstral-distance`` package defines it; lower is better,
0 for identical signals; speech only; **no DTW**.

Definition (the package's defaults, at 16 kHz): each signal divided by its peak; frames of 32 ms (512 samples)
every 8 ms (128), Hann window, no centring or padding (a trailing partial frame is dropped); power spectrum
through 20 triangular mel filters (HTK mel scale, 0 Hz to 8 kHz); log10 energy (+ float64 eps); mel cepstrum
c_i = sum_n X_n cos(i (n - 1/2) pi / 20), i = 1..20 (unnormalised DCT-II); per frame the Euclidean distance of
c_1..c_15 (c_0 and the top coefficients left out, the package's s=1, D=16); the mean over frames. The unit is
the package's (log10 energies, no 10 sqrt(2) / ln 10 dB factor), so values are not those of "MCD in dB" papers.

Frames are compared one to one (the package's ``aligning="pad"``, which pads nothing for equal lengths): a
copy-synthesis output is time-aligned with its reference by construction, and DTW would forgive timing errors
the vocoder made. The package only reads WAV files; this module computes the same definition from arrays, and
``tests/metrics/test_metric_mcd.py`` checks it against the package's ``compare_audio_files`` on real files.

Speech only: MCD is a speech spectral-envelope measure (20 mel bands at 16 kHz, Kubichek's setting for speech
quality); on music the coarse envelope misses most of what differs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.audio.checks import validate
from bench.errors import AudioError
from bench.metrics.base import Metric, MetricEntry

SAMPLE_RATE = 16000
FRAME_MS, HOP_MS = 32, 8
N_FFT = FRAME_MS * SAMPLE_RATE // 1000  # 512
HOP = HOP_MS * SAMPLE_RATE // 1000  # 128
N_MELS = 20
FIRST, STOP = 1, 16  # coefficients c_1 .. c_15 enter the distance
DOMAINS = ("speech",)
PACKAGE = "mel-cepstral-distance"


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Triangular mel filterbank [20, 257] on the rfft bins (HTK mel, 0 .. 8000 Hz, bins floor((N+1) f / sr))."""
    mel_max = 2595.0 * np.log10(1.0 + (SAMPLE_RATE / 2) / 700.0)
    hz = 700.0 * (10.0 ** (np.linspace(0.0, mel_max, N_MELS + 2) / 2595.0) - 1.0)
    edges = np.floor((N_FFT + 1) * hz / SAMPLE_RATE).astype(int)
    fb = np.zeros((N_MELS, N_FFT // 2 + 1))
    for m in range(N_MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        k = np.arange(lo, mid)
        fb[m, lo:mid] = (k - lo) / (mid - lo) if mid > lo else 0.0
        k = np.arange(mid, hi)
        fb[m, mid:hi] = (hi - k) / (hi - mid) if hi > mid else 0.0
    return fb


def mel_cepstrum(x: np.ndarray) -> np.ndarray:
    """Mel cepstrum [F, 20] of ``x`` [T] (float, 16 kHz), per the module's definition (peak-normalised first)."""
    x = x.astype(np.float64) / np.max(np.abs(x))
    starts = np.arange(0, x.size - N_FFT, HOP)  # as the package: a frame must start before T - N_FFT
    frames = x[starts[:, None] + np.arange(N_FFT)[None, :]] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, n=N_FFT)) ** 2
    log_mel = np.log10(power @ mel_filters().T + np.finfo(np.float64).eps)
    i = np.arange(1, N_MELS + 1)
    dct = np.cos(i[:, None] * (i[None, :] - 0.5) * np.pi / N_MELS)  # [coefficient i, band n]
    return log_mel @ dct.T


@dataclass(frozen=True)
class MCDReference:
    """Prepared reference: mel cepstrum [F, 20]."""

    cepstrum: np.ndarray


class MCD(Metric):
    """Mean over frames of the Euclidean distance of mel-cepstral coefficients 1..15, frames 1:1 (no DTW)."""

    name = "mcd"
    direction = "lower"
    domains = DOMAINS

    def sample_rate(self, domain: str) -> int:
        self.require_domain(domain)
        return SAMPLE_RATE

    def variant(self, domain: str) -> dict[str, Any]:
        self.require_domain(domain)
        return {
            **self.common_variant(domain),
            "definition": f"{PACKAGE} defaults, computed from arrays here",
            "implementation": f"own numpy code, checked against {PACKAGE} 0.0.4 compare_audio_files (tests)",
            "frame_ms": FRAME_MS, "hop_ms": HOP_MS, "window": "hann", "n_fft": N_FFT,
            "n_mels": N_MELS, "fmin_hz": 0, "fmax_hz": SAMPLE_RATE // 2, "coefficients": f"c{FIRST}..c{STOP - 1}",
            "log": "log10 energy", "dct": "unnormalised DCT-II", "normalisation": "each signal by its peak",
            "dtw": False, "alignment": "frames 1:1 (package aligning='pad'; equal lengths pad nothing)",
        }

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> MCDReference:
        return MCDReference(mel_cepstrum(self._input(ref, sr, domain, "mcd reference")))

    def score(self, state: MCDReference, deg: np.ndarray, sr: int, domain: str) -> float:
        c = mel_cepstrum(self._input(deg, sr, domain, "mcd degraded"))
        n = min(c.shape[0], state.cepstrum.shape[0])  # resampling may leave a frame of difference
        d = np.linalg.norm(state.cepstrum[:n, FIRST:STOP] - c[:n, FIRST:STOP], axis=1)
        value = float(np.mean(d))
        if not math.isfinite(value):
            raise AudioError(f"mcd returned {value} (degenerate signal)")
        return value

    def _input(self, x: np.ndarray, sr: int, domain: str, what: str) -> np.ndarray:
        """Validated float64 copy of ``x`` [T] at 16 kHz, at least two frames long."""
        self.require_domain(domain)
        x = np.asarray(x)
        validate(x, sr, min_samples=1, what=what)  # empty, NaN/inf, silent (the peak normalisation needs a peak)
        y = self.to_rate(x, sr, domain).astype(np.float64)
        need = N_FFT + HOP + 1
        if y.size < need:
            raise AudioError(f"{what}: {y.size / SAMPLE_RATE:.3f} s is too short for MCD, which needs at least "
                             f"{need / SAMPLE_RATE:.3f} s ({need} samples at {SAMPLE_RATE} Hz: two 32 ms frames)")
        return y


ENTRY = MetricEntry(
    name="mcd",
    factory=MCD,
    direction="lower",
    description="mel-cepstral distance (Kubichek; mel-cepstral-distance package's definition), 16 kHz, "
                "c1..c15, no DTW; speech only",
    perfect=0.0,
    gpu_capable=False,
    requires=(),
    extra=None,
    cost="~10 ms per 10 s pair",
    process_safe=True,
    source="PyPI mel-cepstral-distance 0.0.4 (github.com/jasminsternkopf/mel_cepstral_distance), "
           "compare_audio_files defaults with aligning='pad'",
    domains=DOMAINS,
)
