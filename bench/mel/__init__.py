"""Mel front-ends: each vocoder declares the exact analysis its authors trained with."""

from bench.mel.frontend import MelConfig, mel_filterbank, mel_spectrogram

__all__ = ["MelConfig", "mel_filterbank", "mel_spectrogram"]
