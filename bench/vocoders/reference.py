"""The hidden reference: returns its input unchanged (the upper bound of every metric)."""

from __future__ import annotations

import torch

from bench.vocoders.base import Vocoder
from bench.vocoders.registry import VocoderEntry


class HiddenReference(Vocoder):
    sample_rate = 44100

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        return features.clone()


ENTRY = VocoderEntry(
    name="reference",
    factory=HiddenReference,
    sample_rate=44100,
    description="hidden reference (ground truth, unchanged): the best score each metric can give",
    family="reference",
)
