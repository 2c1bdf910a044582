"""Weight normalisation in the two state-dict layouts PyTorch has used, and its removal for inference.

Published checkpoints differ in which API their authors used:
- ``"old"``: ``torch.nn.utils.weight_norm`` — keys ``<layer>.weight_g`` / ``<layer>.weight_v``
  (HiFi-GAN, BigVGAN, DAC).
- ``"new"``: ``torch.nn.utils.parametrizations.weight_norm`` — keys
  ``<layer>.parametrizations.weight.original0`` (g) / ``original1`` (v) (DisCoder's encoder).
- ``"none"``: a plain ``<layer>.weight`` (a checkpoint saved after weight norm was removed).

Both compute ``w = g * v / ||v||`` with the norm over every dim but 0, so removing either gives the same layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal, TypeVar

import torch
from torch import nn
from torch.nn.utils import parametrize

WeightNormStyle = Literal["old", "new", "none"]
STYLES: tuple[str, ...] = ("old", "new", "none")

M = TypeVar("M", bound=nn.Module)


def weight_norm(module: M, style: WeightNormStyle) -> M:
    """Apply weight norm to ``module.weight`` in ``style`` (see module docstring); returns the module."""
    if style == "new":
        return nn.utils.parametrizations.weight_norm(module)
    if style == "old":
        # Deprecated but still the only way to get the weight_g / weight_v keys of older checkpoints.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return nn.utils.weight_norm(module)
    if style == "none":
        return module
    raise ValueError(f"weight norm style must be one of {STYLES}, got {style!r}")


def _has_old_weight_norm(module: nn.Module) -> bool:
    return any(type(h).__name__ == "WeightNorm" for h in module._forward_pre_hooks.values())


def remove_weight_norm(model: nn.Module) -> int:
    """Fold every weight norm in ``model`` (either style) into a plain ``weight``; returns how many were removed.

    The output is unchanged up to float rounding; the forward pass no longer recomputes ``g * v / ||v||``.
    """
    removed = 0
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            removed += 1
        elif _has_old_weight_norm(module):
            nn.utils.remove_weight_norm(module)
            removed += 1
    return removed


def detect_style(state_dict: Mapping[str, torch.Tensor], layer: str) -> WeightNormStyle | None:
    """The weight-norm style of ``layer`` (a key prefix such as ``"conv_pre"``) in a state dict, None if absent."""
    if f"{layer}.weight_g" in state_dict or f"{layer}.weight_v" in state_dict:
        return "old"
    if f"{layer}.parametrizations.weight.original0" in state_dict:
        return "new"
    if f"{layer}.weight" in state_dict:
        return "none"
    return None
