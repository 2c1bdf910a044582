"""The BigVGAN generator (v1 and v2), checkpoint-compatible with NVIDIA's ``bigvgan_generator.pt`` files.

log-mel [B, num_mels, F] -> WN conv (k7) -> per stage i: WN transposed conv (upsample by ``upsample_rates[i]``)
then the mean of one AMP block per ``resblock_kernel_sizes`` -> anti-aliased Snake(Beta) -> WN conv (k7) -> 1 channel
-> tanh (or clamp to [-1, 1] when ``use_tanh_at_final`` is false). Output [B, 1, F * prod(upsample_rates)].

Parameter names follow the published state dicts: ``conv_pre``, ``ups.i.0``, ``resblocks.k``, ``activation_post``,
``conv_post``; the published files use the old weight norm (``weight_g`` / ``weight_v``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from bench.vocoders.nn.alias_free import Activation1d, make_activation
from bench.vocoders.nn.amp import AMPBlock1, AMPBlock2
from bench.vocoders.nn import weightnorm
from bench.vocoders.nn.weightnorm import WeightNormStyle


@dataclass(frozen=True)
class BigVGANConfig:
    """The architecture keys of a BigVGAN ``config.json`` (training and data keys are ignored)."""

    num_mels: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    resblock: str  # "1" (AMPBlock1) or "2" (AMPBlock2)
    activation: str  # "snake" or "snakebeta"
    snake_logscale: bool
    # Optional in config.json (added with BigVGAN-v2); absent means the original behaviour.
    use_bias_at_final: bool = True
    use_tanh_at_final: bool = True

    @classmethod
    def from_dict(cls, h: Mapping[str, Any]) -> BigVGANConfig:
        """From a parsed config.json; raises ValueError naming a missing or inconsistent key."""
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        absent = sorted(required - set(h))
        if absent:
            raise ValueError(f"config lacks {', '.join(absent)}")
        kw = {k: h[k] for k in names if k in h}
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            kw[key] = tuple(int(v) for v in kw[key])
        kw["resblock_dilation_sizes"] = tuple(tuple(int(d) for d in ds) for ds in kw["resblock_dilation_sizes"])
        kw["resblock"] = str(kw["resblock"])
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if any((k - u) % 2 for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes)):
            # Otherwise a transposed conv's output is not exactly `rate` times its input.
            raise ValueError("each upsample kernel size minus its rate must be even")
        if self.resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {self.resblock!r}")
        if self.activation not in ("snake", "snakebeta"):
            raise ValueError(f"activation must be 'snake' or 'snakebeta', got {self.activation!r}")

    @property
    def hop_length(self) -> int:
        """Output samples per mel frame."""
        return math.prod(self.upsample_rates)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BigVGANGenerator(nn.Module):
    """BigVGAN generator: log-mel [B, num_mels, F] -> waveform [B, 1, F * hop_length] in [-1, 1].

    Args:
        config: the architecture.
        weight_norm: state-dict layout of the weight-normalised convs (``"old"`` as in the published files,
            ``"none"`` for a checkpoint saved after weight-norm removal).
    """

    def __init__(self, config: BigVGANConfig, weight_norm: WeightNormStyle = "old") -> None:
        super().__init__()
        self.config = config
        h = config
        self.num_kernels = len(h.resblock_kernel_sizes)
        self.num_upsamples = len(h.upsample_rates)
        wn = weight_norm
        self.conv_pre = weightnorm.weight_norm(nn.Conv1d(h.num_mels, h.upsample_initial_channel, 7, 1, padding=3), wn)
        block = AMPBlock1 if h.resblock == "1" else AMPBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = h.upsample_initial_channel
        for i, (u, k) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes)):
            c_in, ch = h.upsample_initial_channel // 2 ** i, h.upsample_initial_channel // 2 ** (i + 1)
            # A one-element list per stage: that is how the published state dicts name it (ups.i.0).
            self.ups.append(nn.ModuleList([weightnorm.weight_norm(
                nn.ConvTranspose1d(c_in, ch, k, u, padding=(k - u) // 2), wn)]))
            for rk, rd in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes):
                self.resblocks.append(block(ch, rk, rd, activation=h.activation, snake_logscale=h.snake_logscale,
                                            weight_norm=wn))
        self.activation_post = Activation1d(make_activation(h.activation, ch, h.snake_logscale))
        self.conv_post = weightnorm.weight_norm(nn.Conv1d(ch, 1, 7, 1, padding=3, bias=h.use_bias_at_final), wn)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i in range(self.num_upsamples):
            for up in self.ups[i]:
                x = up(x)
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for b in blocks[1:]:
                xs = xs + b(x)
            x = xs / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.config.use_tanh_at_final else torch.clamp(x, -1.0, 1.0)

    def remove_weight_norm(self) -> int:
        """Fold weight norm into plain weights for inference (same output); returns the number of layers."""
        return weightnorm.remove_weight_norm(self)
