"""CDPAM (Manocha et al., ICASSP 2021): learned perceptual distance, lower is better, 0 for identical signals.

Values are those of the PyPI package ``cdpam`` 0.0.6 (its ``CDPAM().forward(ref, deg)`` on 22.05 kHz mono
samples scaled to the int16 range), computed from the authors' checkpoint that ships inside the package.

The package's forward runs the encoder on both signals for every pair, with autograd on. The distance only
depends on each signal's normalised encoder embedding, so this module computes the reference embedding once
in :meth:`CDPAM.prepare` and only the degraded side in :meth:`CDPAM.score`, under ``torch.inference_mode``,
with each batch norm folded into its convolution, the ``x[:, :, ::2]`` decimations done as stride-2
convolutions (the package computes every output and drops half) and only the 512 "acoustic" channels of the
last layer computed (the package computes 1024 and keeps the first half). The arithmetic is otherwise the
package's; ``tests/metrics/test_metric_cdpam.py`` checks the values against the package to 1e-5.
"""

from __future__ import annotations

import hashlib

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.audio.checks import validate
from bench.environment import package_version
from bench.errors import AudioError, MissingExtraError, MissingWeightsError
from bench.metrics.base import Metric, MetricEntry

if TYPE_CHECKING:
    import torch

#: The rate the CDPAM model was trained at (the package's loader resamples everything to it).
SAMPLE_RATE = 22050
#: Checkpoint inside the installed package (the authors' published file).
CHECKPOINT = "CDPAM_trained/scratchJNDdefault_best_model.pth"

# Encoder shape of the published model (cdpam.CDPAM: encoder_layers=16, encoder_filters=64).
_LAYERS = 16
_KERNEL = 15
_BN_EPS = 1e-5  # torch.nn.BatchNorm1d default, used by the package
_ENC_SLOPE = 0.1  # leaky ReLU slope in the encoder
_HEAD_SLOPE = 0.01  # nn.LeakyReLU() default in the distance head
#: Receptive field of the encoder in samples: 14 taps per layer, 4 layers at each of the rates 1, 1/2, 1/4, 1/8.
RECEPTIVE_FIELD = 1 + (_KERNEL - 1) * 4 * (1 + 2 + 4 + 8)  # 841 samples = 38 ms at 22.05 kHz
#: Upper bound on samples (batch x length) per encoder pass on GPU, to bound activation memory (~128 ch x 4 B each).
_MAX_BATCH_SAMPLES = 30 * SAMPLE_RATE


@dataclass(frozen=True)
class _Net:
    """Inference-only CDPAM: folded encoder convolutions and the distance head, on one device."""

    convs: list[tuple[torch.Tensor, torch.Tensor, int]]  # (weight [out, in, 15], bias [out], stride)
    head: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (weight [out, in], bias [out], chan_w [out])
    device: torch.device


@dataclass(frozen=True)
class CDPAMReference:
    """Prepared reference: normalised acoustic embedding [1, 512] on the metric's device."""

    embedding: torch.Tensor
    samples: int  # length in samples at 22.05 kHz
    digest: str = ""  # hash of the model input: a degraded signal with the same input has the same embedding


def _digest(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()


def checkpoint_path() -> Path:
    """Path of the checkpoint shipped in the installed ``cdpam`` package (found without importing it)."""
    spec = importlib.util.find_spec("cdpam")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("metric 'cdpam' needs the cdpam package (pip install 'vocoder-bench[cdpam]')")
    path = Path(next(iter(spec.submodule_search_locations))) / CHECKPOINT
    if not path.is_file():
        raise MissingWeightsError(
            f"CDPAM checkpoint not found at {path}; reinstall the package (pip install --force-reinstall cdpam==0.0.6)"
        )
    return path


def load_net(device: str = "cpu") -> _Net:
    """Load the package's checkpoint and fold it for inference on ``device`` ('cpu', 'cuda', 'cuda:1', ...)."""
    import torch

    # The file is the authors' published checkpoint; torch >= 2.6 refuses it under weights-only loading
    # ("Unsupported operand"), so it is loaded with full unpickling, explicitly and only here.
    state = torch.load(checkpoint_path(), map_location="cpu", weights_only=False)["state"]
    dev = torch.device(device)
    convs = []
    for i in range(_LAYERS):
        w = state[f"base_encoder.encoder.{i}.weight"].double()
        b = state[f"base_encoder.encoder.{i}.bias"].double()
        gamma = state[f"base_encoder.ebatch.{i}.weight"].double()
        beta = state[f"base_encoder.ebatch.{i}.bias"].double()
        mean = state[f"base_encoder.ebatch.{i}.running_mean"].double()
        var = state[f"base_encoder.ebatch.{i}.running_var"].double()
        # Eval-mode batch norm is affine per channel: fold it into the conv (computed in float64, stored float32).
        scale = gamma / torch.sqrt(var + _BN_EPS)
        w = w * scale[:, None, None]
        b = (b - mean) * scale + beta
        if i == _LAYERS - 1:
            # Only the first half ("acoustics") of the last layer's channels enters the distance.
            half = w.shape[0] // 2
            w, b = w[:half], b[:half]
        stride = 2 if (i + 1) % 4 == 0 else 1  # the package keeps every 2nd output of these layers
        convs.append((w.float().contiguous().to(dev), b.float().to(dev), stride))
    head = [
        (
            state[f"model_dist.convs.{i}.0.weight"].to(dev),
            state[f"model_dist.convs.{i}.0.bias"].to(dev),
            state[f"model_dist.chan_w.{i}"].to(dev),
        )
        for i in range(4)
    ]
    return _Net(convs=convs, head=head, device=dev)


def embed(net: _Net, x: torch.Tensor) -> torch.Tensor:
    """Normalised acoustic embedding [B, 512] of ``x`` [B, T] (22.05 kHz, int16-range floats)."""
    import torch.nn.functional as F

    h = x.unsqueeze(1)
    for w, b, stride in net.convs:
        h = F.leaky_relu(F.conv1d(h, w, b, stride=stride, padding=_KERNEL // 2), _ENC_SLOPE)
    h = h.sum(dim=2) / h.shape[2]  # time average, written as the package writes it
    return F.normalize(h, dim=1)


def distance(net: _Net, ref: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
    """The package's ``lossnet_dfl`` distance [B] between embeddings ``ref`` [1 or B, 512] and ``deg`` [B, 512]."""
    import torch.nn.functional as F

    ref = ref.expand_as(deg)
    dist = 0
    for i, (w, b, chan_w) in enumerate(net.head):
        ref, deg = F.linear(ref, w, b), F.linear(deg, w, b)
        if i < len(net.head) - 1:
            ref, deg = F.leaky_relu(ref, _HEAD_SLOPE), F.leaky_relu(deg, _HEAD_SLOPE)
        dist = dist + ((deg - ref) * chan_w).abs().sum(dim=1)
    return dist


def to_model_input(x: np.ndarray) -> np.ndarray:
    """float32 [T] in [-1, 1] -> float32 [T] in the int16 range, rounded as the package's loader does."""
    return np.round(x.astype(np.float64) * 32768.0).astype(np.float32)


class CDPAM(Metric):
    """CDPAM distance at 22.05 kHz for every domain (the model's training rate)."""

    name = "cdpam"
    direction = "lower"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._net: _Net | None = None

    def sample_rate(self, domain: str) -> int:
        return SAMPLE_RATE

    def variant(self, domain: str) -> dict[str, Any]:
        return {
            **self.common_variant(domain),
            "package": "cdpam",
            "version": package_version("cdpam"),
            "checkpoint": CHECKPOINT,
            "input_scaling": "int16",
            "channels": "mono",
            "implementation": "package checkpoint; reference embedding reused; inference_mode; folded BN; "
            "stride-2 decimating convs; acoustic half of last layer only",
            # The device is recorded in the run's environment, not here: CPU and GPU give the same values
            # (TF32 off), and a variant that differed by device would split one metric into two.
        }

    def net(self) -> _Net:
        """The model on this metric's device, loaded on first use and kept for this instance."""
        if self._net is None:
            self._net = load_net(self.device)
        return self._net

    def prepare(self, ref: np.ndarray, sr: int, domain: str) -> CDPAMReference:
        x = self._input(ref, sr, domain, "cdpam reference")
        (emb,) = self._embed([x])
        return CDPAMReference(embedding=emb[None], samples=x.size, digest=_digest(x))

    def score(self, state: CDPAMReference, deg: np.ndarray, sr: int, domain: str) -> float:
        return self.score_many(state, [deg], sr, domain)[0]

    def score_many(self, state: CDPAMReference, degs: list[np.ndarray], sr: int, domain: str) -> list[float]:
        """Values for several degraded versions [T] of one reference (e.g. one per vocoder), batched.

        Signals of equal length share encoder passes; unequal lengths are not padded (padding would
        change the time average), so they run separately.
        """
        import torch

        xs = [self._input(d, sr, domain, "cdpam degraded") for d in degs]
        if not xs:
            return []
        # The encoder is deterministic: an input identical to the reference's (the hidden reference, say) or
        # to another degraded one is encoded once.
        digests = [_digest(x) for x in xs]
        unique = {dg: x for dg, x in zip(digests, xs) if dg != state.digest}
        embs = dict(zip(unique, self._embed(list(unique.values()))))
        embs[state.digest] = state.embedding[0]
        with torch.inference_mode():
            d = distance(self.net(), state.embedding, torch.stack([embs[dg] for dg in digests]))
        return [float(v) for v in d.cpu().double()]

    def _input(self, x: np.ndarray, sr: int, domain: str, what: str) -> np.ndarray:
        """Validated copy of ``x`` [T] at 22.05 kHz in the int16 range (the caller's array is not touched)."""
        x = np.asarray(x)
        validate(x, sr, min_samples=1, what=what)
        y = self.to_rate(x, sr, domain)
        if y.size < RECEPTIVE_FIELD:
            raise AudioError(
                f"{what}: {x.size} samples at {sr} Hz is {y.size} at {SAMPLE_RATE} Hz; CDPAM needs at least "
                f"{RECEPTIVE_FIELD} ({RECEPTIVE_FIELD / SAMPLE_RATE * 1000:.0f} ms, its encoder's receptive field)"
            )
        return to_model_input(y)

    def _embed(self, xs: list[np.ndarray]) -> list[torch.Tensor]:
        """Embeddings [512] of each ``xs[i]`` [T_i], batching signals of equal length."""
        import torch

        net = self.net()
        out: list[torch.Tensor | None] = [None] * len(xs)
        by_len: dict[int, list[int]] = {}
        for i, x in enumerate(xs):
            by_len.setdefault(x.size, []).append(i)
        # On CUDA, TF32 is off for the whole process (Metric.__init__ -> bench.cuda_numerics.use_exact_fp32).
        with torch.inference_mode():
            for n, idx in by_len.items():
                # CPU convolutions are compute-bound: batching there only multiplies activation memory.
                per_pass = max(1, _MAX_BATCH_SAMPLES // n) if net.device.type == "cuda" else 1
                for s in range(0, len(idx), per_pass):
                    chunk = idx[s : s + per_pass]
                    batch = torch.from_numpy(np.stack([xs[i] for i in chunk])).to(net.device)
                    for i, e in zip(chunk, embed(net, batch)):
                        out[i] = e
        return out  # type: ignore[return-value]


ENTRY = MetricEntry(
    name="cdpam",
    factory=CDPAM,
    direction="lower",
    description="CDPAM learned perceptual distance (cdpam 0.0.6 checkpoint, 22.05 kHz, int16-scaled input)",
    perfect=0.0,
    gpu_capable=True,
    requires=("cdpam",),
    extra="cdpam",
    cost="~6 s per 10 s degraded clip on 2 CPU cores plus the reference once (python -m bench.perf.demo_profile)",
    handles_unequal_lengths=True,
)
