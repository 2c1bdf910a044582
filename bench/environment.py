"""What produced a result: package versions, platform, device, git commit (recorded with every run)."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from bench.cuda_numerics import float32_settings, use_exact_fp32

PACKAGES = ("vocoder-bench", "torch", "numpy", "scipy", "soundfile", "soxr", "pyloudnorm", "librosa", "auraloss",
            "cdpam", "visqol-python", "ai-edge-litert", "numba", "huggingface_hub", "bigvgan")


def package_version(name: str) -> str:
    """Installed version of distribution ``name``, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: Path | None = None) -> str | None:
    root = path or Path(__file__).resolve().parent.parent
    try:
        res = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def git_dirty(path: Path | None = None) -> bool | None:
    """Whether the working tree has uncommitted changes to tracked files (None outside a git checkout)."""
    root = path or Path(__file__).resolve().parent.parent
    try:
        res = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(res.stdout.strip()) if res.returncode == 0 else None


def code_provenance() -> dict[str, Any]:
    """What code computed a value: package versions, git commit and whether the tree was dirty.

    Recorded with every render and every score (see :meth:`bench.results.store.ResultsStore.provenance`).
    """
    return {"packages": package_versions(), "git_commit": git_commit(), "git_dirty": git_dirty()}


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    from bench.errors import BenchError

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError("--device cuda requested but torch sees no CUDA device (use --device cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise BenchError(f"unknown device {device!r}: use auto, cpu or cuda[:N]")
    return device


def environment(device: str) -> dict[str, Any]:
    """What a run on ``device`` computes with. On CUDA it first turns TF32 off (:func:`use_exact_fp32`, as
    loading any vocoder or metric there does), so the float32 settings recorded are those the run uses."""
    use_exact_fp32(device)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "device_name": device_name(device),
        "float32": float32_settings(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
    }
