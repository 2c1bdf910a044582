"""The vocoder interface: an analysis (its own front-end) and a synthesis, at its own sample rate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from bench.cuda_numerics import use_exact_fp32
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
        use_exact_fp32(self.device)  # float32 on a GPU must match the CPU: TF32 off (bench.cuda_numerics)

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

    def batch_key(self, n_samples: int) -> int:
        """Items of equal key can share a batch: zero-padding them to the longest one's length changes no
        item's output (after trimming). Default: only items of exactly the same length. Vocoders that pad
        internally (to a hop or segment multiple) return the padded length."""
        return n_samples

    def copy_synthesis_items(self, clips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Clips [T_i] of any lengths (at ``self.sample_rate``) -> outputs, each identical to vocoding it alone.

        Clips with the same :meth:`batch_key` run as one batch; each output is trimmed to
        round(T_i * output/input length ratio) samples.
        """
        groups: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(self.batch_key(int(clip.shape[-1])), []).append(i)
        out: dict[int, torch.Tensor] = {}
        for members in groups.values():
            longest = max(int(clips[i].shape[-1]) for i in members)
            batch = torch.stack([torch.nn.functional.pad(clips[i].reshape(-1).float(),
                                                         (0, longest - int(clips[i].shape[-1])))
                                 for i in members])
            y = self.copy_synthesis(batch)
            ratio = y.shape[-1] / longest
            for row, i in enumerate(members):
                out[i] = y[row, : int(round(int(clips[i].shape[-1]) * ratio))]
        return [out[i] for i in range(len(clips))]

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
