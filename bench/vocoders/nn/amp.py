"""BigVGAN's anti-aliased multi-periodicity (AMP) residual blocks.

State-dict names match BigVGAN (and DisCoder's encoder): ``convs1.N`` / ``convs2.N`` (``convs.N`` in
AMPBlock2) and ``activations.N.act.alpha`` (``.beta``), ``activations.N.upsample.filter``,
``activations.N.downsample.lowpass.filter``; each conv's weight in the layout of ``weight_norm``
(see :mod:`bench.vocoders.nn.weightnorm`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bench.vocoders.nn.alias_free import Activation1d, make_activation
from bench.vocoders.nn.weightnorm import WeightNormStyle, weight_norm as apply_wn


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd-sized dilated convolution."""
    return (kernel_size * dilation - dilation) // 2


def _conv(channels: int, kernel_size: int, dilation: int, style: WeightNormStyle) -> nn.Conv1d:
    return apply_wn(nn.Conv1d(channels, channels, kernel_size, 1, dilation=dilation,
                              padding=get_padding(kernel_size, dilation)), style)


def _activations(n: int, channels: int, activation: str, snake_logscale: bool) -> nn.ModuleList:
    return nn.ModuleList(Activation1d(make_activation(activation, channels, snake_logscale)) for _ in range(n))


class AMPBlock1(nn.Module):
    """For each dilation d: ``x = x + conv2(act(conv1_d(act(x))))``; [B, C, T] -> [B, C, T].

    Args:
        channels: C.
        kernel_size: odd kernel size of every conv.
        dilations: dilation of each ``convs1`` conv (``convs2`` convs are undilated), e.g. (1, 3, 5).
        activation: ``"snake"`` or ``"snakebeta"``, anti-aliased.
        snake_logscale: activation parameters stored as logarithms (BigVGAN-v2).
        weight_norm: ``"new"`` (parametrizations; DisCoder), ``"old"`` (weight_g/weight_v; BigVGAN
            checkpoints) or ``"none"``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5),
                 activation: str = "snake", snake_logscale: bool = False,
                 weight_norm: WeightNormStyle = "new") -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d, weight_norm) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1, weight_norm) for _ in dilations)
        # Interleaved: activations[2i] precedes convs1[i], activations[2i + 1] precedes convs2[i].
        self.activations = _activations(2 * len(dilations), channels, activation, snake_logscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts = self.activations
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + c2(acts[2 * i + 1](c1(acts[2 * i](x))))
        return x


class AMPBlock2(nn.Module):
    """For each dilation d: ``x = x + conv_d(act(x))``; [B, C, T] -> [B, C, T]. Arguments as :class:`AMPBlock1`."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3),
                 activation: str = "snake", snake_logscale: bool = False,
                 weight_norm: WeightNormStyle = "new") -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d, weight_norm) for d in dilations)
        self.activations = _activations(len(dilations), channels, activation, snake_logscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, act in zip(self.convs, self.activations):
            x = x + conv(act(x))
        return x
