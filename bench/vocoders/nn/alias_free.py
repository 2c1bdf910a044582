"""Periodic activations and their anti-aliased application (BigVGAN, DisCoder).

- :class:`Snake`: ``x + 1 / (alpha + 1e-9) * sin^2(alpha * x)``, one ``alpha`` per channel.
- :class:`SnakeBeta`: ``x + 1 / (beta + 1e-9) * sin^2(alpha * x)``, separate frequency and magnitude.
  With ``logscale=True`` the stored parameters are logarithms (initialised to 0) and exponentiated on use,
  as BigVGAN-v2 trains them.
- :class:`Activation1d`: 2x upsample -> activation -> 2x downsample with Kaiser-windowed sinc low-pass
  filters (12 taps), so that the non-linearity's harmonics above the original Nyquist are filtered out.

State-dict names follow BigVGAN: ``act.alpha`` (``act.beta``), ``upsample.filter``, ``downsample.lowpass.filter``
(the filters are persistent buffers of shape [1, 1, kernel_size]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Added to the divisor so that alpha (or beta) = 0 does not divide by zero.
SNAKE_EPS = 1e-9


def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass filter [1, 1, kernel_size], normalised to unit DC gain.

    Args:
        cutoff: cut-off frequency as a fraction of the sample rate (0 .. 0.5).
        half_width: half the transition band width, same unit.
        kernel_size: number of taps (even sizes are centred between two samples).
    """
    if not 0.0 <= cutoff <= 0.5:
        raise ValueError(f"cutoff must be in [0, 0.5], got {cutoff}")
    half = kernel_size // 2
    # Kaiser's empirical design formulas: attenuation A (dB) of a filter with this transition width, then beta.
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21.0) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half) + 0.5
    else:
        t = torch.arange(kernel_size) - half
    if cutoff == 0.0:
        taps = torch.zeros_like(t)
    else:
        taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
        # Unit DC gain: without it a constant input would leak a small gain error through every layer.
        taps = taps / taps.sum()
    return taps.view(1, 1, kernel_size)


class LowPassFilter1d(nn.Module):
    """Depthwise low-pass filter with optional stride; [B, C, T] -> [B, C, ceil(T / stride)] (with padding)."""

    def __init__(self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1, padding: bool = True,
                 padding_mode: str = "replicate", kernel_size: int = 12) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.padding = padding
        self.padding_mode = padding_mode
        self.register_buffer("filter", kaiser_sinc_filter1d(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if self.padding:
            x = F.pad(x, (self.pad_left, self.pad_right), mode=self.padding_mode)
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class UpSample1d(nn.Module):
    """Band-limited upsampling by ``ratio``: [B, C, T] -> [B, C, T * ratio]."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.pad = self.kernel_size // ratio - 1
        self.pad_left = self.pad * ratio + (self.kernel_size - ratio) // 2
        self.pad_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
        self.register_buffer("filter",
                             kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, self.kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        # Zero-stuffing + low-pass in one transposed convolution; the gain `ratio` restores the amplitude.
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio,
                                            groups=channels)
        return x[..., self.pad_left:-self.pad_right]


class DownSample1d(nn.Module):
    """Low-pass then decimate by ``ratio``: [B, C, T] -> [B, C, T // ratio] (T a multiple of ratio)."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(cutoff=0.5 / ratio, half_width=0.6 / ratio, stride=ratio,
                                       kernel_size=self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """Anti-aliased activation: upsample, apply ``activation``, downsample. [B, C, T] -> [B, C, T].

    Args:
        activation: an element-wise module (``Snake``/``SnakeBeta``), stored as ``act``.
        up_ratio, down_ratio: resampling factors (2 in BigVGAN and DisCoder).
        up_kernel_size, down_kernel_size: filter taps (12).
    """

    def __init__(self, activation: nn.Module, up_ratio: int = 2, down_ratio: int = 2, up_kernel_size: int = 12,
                 down_kernel_size: int = 12) -> None:
        super().__init__()
        self.up_ratio = up_ratio
        self.down_ratio = down_ratio
        self.act = activation
        self.upsample = UpSample1d(up_ratio, up_kernel_size)
        self.downsample = DownSample1d(down_ratio, down_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class Snake(nn.Module):
    """Snake activation ``x + 1/alpha * sin^2(alpha x)`` on [B, C, T], one ``alpha`` per channel.

    Args:
        channels: C.
        alpha: initial value (of ``alpha``, or of ``log alpha`` when ``logscale``: then the parameter starts at 0).
        logscale: store ``log alpha`` (BigVGAN-v2's ``snake_logscale``).
    """

    def __init__(self, channels: int, alpha: float = 1.0, logscale: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init * alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
        return x + (1.0 / (alpha + SNAKE_EPS)) * torch.sin(x * alpha).pow(2)

    def extra_repr(self) -> str:
        return f"{self.channels}, logscale={self.logscale}"


class SnakeBeta(Snake):
    """SnakeBeta ``x + 1/beta * sin^2(alpha x)`` on [B, C, T]: per-channel frequency ``alpha`` and magnitude ``beta``.

    Arguments as :class:`Snake`; ``beta`` is initialised like ``alpha``.
    """

    def __init__(self, channels: int, alpha: float = 1.0, logscale: bool = False) -> None:
        super().__init__(channels, alpha, logscale)
        self.beta = nn.Parameter(self.alpha.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        beta = self.beta[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
            beta = torch.exp(beta)
        return x + (1.0 / (beta + SNAKE_EPS)) * torch.sin(x * alpha).pow(2)


def make_activation(name: str, channels: int, logscale: bool = False) -> nn.Module:
    """``"snake"`` or ``"snakebeta"`` on ``channels`` channels (the element-wise part, without anti-aliasing)."""
    if name == "snake":
        return Snake(channels, logscale=logscale)
    if name == "snakebeta":
        return SnakeBeta(channels, logscale=logscale)
    raise ValueError(f"activation must be 'snake' or 'snakebeta', got {name!r}")
