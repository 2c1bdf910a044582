"""The vocoder interface: an analysis (its own front-end) and a synthesis, at its own sample rate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from bench.mel import MelConfig

Precision = Literal["fp32", "bf16", "fp16"]
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class LoadOptions:
    """How a vocoder is instantiated for a run."""

    device: str = "cpu"
    precision: Precision = "fp32"
    weights_path: str | None = None  # resolved weights directory or file (see bench.vocoders.weights)
    params: dict[str, Any] = field(default_factory=dict)  # vocoder-specific knobs (e.g. iterations)


class Vocoder(ABC):
    """A loaded vocoder.

    Subclasses set ``sample_rate`` and ``mel`` (None for vocoders that work from audio, such as the
    hidden reference, the anchors and DAC resynthesis) and implement :meth:`analyse` and :meth:`synthesise`.
    """

    sample_rate: int
    mel: MelConfig | None = None

    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.device = torch.device(options.device)

    @abstractmethod
    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        """Features from audio [B, T] at ``self.sample_rate`` Hz (a mel [B, n_mels, frames] or the audio)."""

    @abstractmethod
    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        """Audio [B, T'] at ``self.sample_rate`` Hz from :meth:`analyse`'s output."""

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """Analyse then synthesise under ``torch.inference_mode``: [B, T] -> [B, T'] at ``self.sample_rate``.

        T' may differ from T by a few frames; the harness aligns the output to the reference.
        """
        with torch.inference_mode():
            return self.synthesise(self.analyse(audio.to(self.device)))

    def config(self) -> dict[str, Any]:
        """Everything that determines this vocoder's output, recorded with the run."""
        return {
            "class": type(self).__qualname__,
            "sample_rate": self.sample_rate,
            "mel": self.mel.as_dict() if self.mel else None,
            "precision": self.options.precision,
            "params": dict(self.options.params),
            "weights_path": self.options.weights_path,
        }
