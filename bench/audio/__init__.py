"""Audio loading, resampling, loudness and validity checks."""

from bench.audio.checks import validate
from bench.audio.io import load_audio, save_audio
from bench.audio.loudness import normalize_loudness
from bench.audio.resample import RESAMPLER, resample

__all__ = ["RESAMPLER", "load_audio", "normalize_loudness", "resample", "save_audio", "validate"]
