"""Reading published checkpoint files and loading them strictly, with one-line errors.

A checkpoint that loads "mostly" (the reference loaders of several vocoders use ``strict=False``) silently
leaves layers at their random initialisation; here every missing, unexpected or mis-shaped tensor is an error
that names the offending keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import MissingWeightsError


class CheckpointError(MissingWeightsError):
    """Weights were found but cannot be used: unreadable, truncated, or not matching the architecture."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_torch_file(path: str | Path, name: str) -> Any:
    """``torch.load`` of a published checkpoint on the CPU, tensors only (``weights_only=True``).

    Raises:
        MissingWeightsError: the file does not exist.
        CheckpointError: it is truncated, corrupt or holds pickled objects other than tensors and containers.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{name}: weights file {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        text = _first_line(err)
        if "weights only load failed" in text.lower() or "weights_only" in text:
            raise CheckpointError(f"{name}: {path} contains pickled objects other than tensors; refusing to "
                                  f"unpickle it (torch.load weights_only=True): {text}") from None
        raise CheckpointError(f"{name}: cannot read {path} (truncated or corrupt file?): {text}") from None


def _read_mapping(path: str | Path, name: str, kind: str, parse: Any, errors: tuple[type[BaseException], ...]
                  ) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{name}: config file {path} not found")
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, *errors) as err:
        raise CheckpointError(f"{name}: cannot parse {path}: {_first_line(err)}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{name}: {path} does not hold a {kind}")
    return data


def read_json(path: str | Path, name: str) -> dict[str, Any]:
    """A JSON object from ``path`` (a config file), with one-line errors."""
    return _read_mapping(path, name, "JSON object", json.loads, (json.JSONDecodeError,))


def read_yaml(path: str | Path, name: str) -> dict[str, Any]:
    """A YAML mapping from ``path`` (safe loader), with one-line errors."""
    import yaml

    return _read_mapping(path, name, "YAML mapping", yaml.safe_load, (yaml.YAMLError,))


def state_dict_from(obj: Any, key: str | None, name: str, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint: ``obj[key]`` (or ``obj`` itself when ``key`` is None)."""
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            found = ", ".join(map(str, list(obj)[:5])) if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(f"{name}: {source} has no {key!r} entry (found: {found})")
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{name}: {source} does not hold a state dict of tensors")
    return dict(obj)


def _listing(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], name: str,
                           source: str) -> None:
    """Load ``state_dict`` into ``model``; any missing/unexpected key or shape mismatch is a CheckpointError.

    The message names the keys (the first few of each kind) and ``source`` (the file they came from).
    """
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in expected)
    shapes = sorted(f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)} expected"
                    for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape)
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {_listing(shapes, 2)}")
    if problems:
        raise CheckpointError(f"{name}: {source} does not match the architecture of its config: "
                              + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)
