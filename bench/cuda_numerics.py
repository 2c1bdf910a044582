"""How float32 arithmetic runs on CUDA: IEEE float32 (TF32 off), set in this one place.

By default cuDNN convolutions on Ampere and later GPUs use TF32 (10-bit mantissa, a relative error of ~5e-4
per operation), so a float32 vocoder or CDPAM on a GPU would differ from the CPU by far more than float32
rounding. Every vocoder (:class:`bench.vocoders.base.Vocoder`) and metric (:class:`bench.metrics.base.Metric`)
loaded on a CUDA device calls :func:`use_exact_fp32` once; it turns TF32 off for the whole process (torch
keeps these switches per process, they cannot be set per model) and :func:`float32_settings` reports them in
the run's environment (:func:`bench.environment.environment`). bf16/fp16 models are unaffected: the switches
only concern float32 matmuls and convolutions.
"""

from __future__ import annotations

from typing import Any

import torch


def use_exact_fp32(device: str | torch.device) -> bool:
    """Turn TF32 off for float32 matmuls and cuDNN convolutions when ``device`` is a CUDA device.

    Returns whether anything was set (False on CPU, where float32 is always IEEE float32).
    """
    if torch.device(device).type != "cuda":
        return False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return True


def float32_settings() -> dict[str, Any]:
    """The process's float32 switches (recorded with a run): TF32 for matmuls / cuDNN, matmul precision."""
    return {
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
