"""The HiFi-GAN generator (Kong et al. 2020), checkpoint-compatible with jik876/hifi-gan's ``g_XXXXXXXX`` files.

log-mel [B, num_mels, F] -> WN conv (k7) -> per stage i: leaky ReLU (0.1), WN transposed conv (upsample by
``upsample_rates[i]``), mean of one multi-receptive-field residual block per ``resblock_kernel_sizes``
-> leaky ReLU (slope 0.01, PyTorch's default, as in the reference) -> WN conv (k7) -> tanh.
Output [B, 1, F * prod(upsample_rates)].

State-dict names: ``conv_pre``, ``ups.i`` (no nesting, unlike BigVGAN), ``resblocks.k.convs1.j`` /
``convs2.j`` (ResBlock1) or ``convs.j`` (ResBlock2), ``conv_post``; old weight norm (``weight_g`` / ``weight_v``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.vocoders.nn import weightnorm
from bench.vocoders.nn.amp import get_padding
from bench.vocoders.nn.weightnorm import WeightNormStyle

#: Negative slope of the leaky ReLUs inside the generator (the last one uses PyTorch's default 0.01).
LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    """The architecture keys of a HiFi-GAN ``config.json``."""

    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    resblock: str  # "1" (ResBlock1) or "2" (ResBlock2)
    num_mels: int = 80  # the reference hard-codes 80 input channels

    @classmethod
    def from_dict(cls, h: Mapping[str, Any]) -> HiFiGANConfig:
        """From a parsed config.json; raises ValueError naming a missing or inconsistent key."""
        required = [f.name for f in fields(cls) if f.default is MISSING]
        absent = [k for k in required if k not in h]
        if absent:
            raise ValueError(f"config lacks {', '.join(absent)}")
        kw = {f.name: h[f.name] for f in fields(cls) if f.name in h}
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            kw[key] = tuple(int(v) for v in kw[key])
        kw["resblock_dilation_sizes"] = tuple(tuple(int(d) for d in ds) for ds in kw["resblock_dilation_sizes"])
        kw["resblock"] = str(kw["resblock"])
        cfg = cls(**kw)
        if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if any((k - u) % 2 for u, k in zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            raise ValueError("each upsample kernel size minus its rate must be even")
        if cfg.resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {cfg.resblock!r}")
        return cfg

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _conv(channels: int, kernel_size: int, dilation: int, style: WeightNormStyle) -> nn.Conv1d:
    return weightnorm.weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=dilation,
                                            padding=get_padding(kernel_size, dilation)), style)


class ResBlock1(nn.Module):
    """For each dilation d: ``x = x + conv2(lrelu(conv1_d(lrelu(x))))``; [B, C, T] -> [B, C, T]."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5),
                 weight_norm: WeightNormStyle = "old") -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d, weight_norm) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1, weight_norm) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """For each dilation d: ``x = x + conv_d(lrelu(x))``; [B, C, T] -> [B, C, T]."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3),
                 weight_norm: WeightNormStyle = "old") -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d, weight_norm) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN generator: log-mel [B, num_mels, F] -> waveform [B, 1, F * hop_length] in [-1, 1]."""

    def __init__(self, config: HiFiGANConfig, weight_norm: WeightNormStyle = "old") -> None:
        super().__init__()
        h = config
        self.config = config
        self.num_kernels = len(h.resblock_kernel_sizes)
        self.num_upsamples = len(h.upsample_rates)
        wn = weight_norm
        self.conv_pre = weightnorm.weight_norm(nn.Conv1d(h.num_mels, h.upsample_initial_channel, 7, 1, padding=3), wn)
        block = ResBlock1 if h.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = h.upsample_initial_channel
        for i, (u, k) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes)):
            c_in, ch = h.upsample_initial_channel // 2 ** i, h.upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(weightnorm.weight_norm(nn.ConvTranspose1d(c_in, ch, k, u, padding=(k - u) // 2), wn))
            for rk, rd in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes):
                self.resblocks.append(block(ch, rk, rd, weight_norm=wn))
        self.conv_post = weightnorm.weight_norm(nn.Conv1d(ch, 1, 7, 1, padding=3), wn)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i in range(self.num_upsamples):
            x = self.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for b in blocks[1:]:
                xs = xs + b(x)
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def remove_weight_norm(self) -> int:
        """Fold weight norm into plain weights for inference (same output); returns the number of layers."""
        return weightnorm.remove_weight_norm(self)
