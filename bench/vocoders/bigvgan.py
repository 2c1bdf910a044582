"""BigVGAN (NVIDIA) from its published ``config.json`` + ``bigvgan_generator.pt``, loaded strictly.

Variants registered: ``bigvgan-v2-44k-256x``, ``bigvgan-v2-44k-512x`` (BigVGAN-v2, 44.1 kHz, 128 bands) and
``bigvgan-24k-100band`` (the original BigVGAN of the paper, LibriTTS, 24 kHz, 100 bands). Each uses its own
log-mel exactly as its config.json defines it: reflect padding of (n_fft - hop) / 2, ``torch.stft(center=False)``,
periodic Hann window, sqrt(|X|^2 + 1e-9), librosa Slaney filterbank, ln(clamp(x, 1e-5)).
The architecture and the front-end are read from config.json at load time; the defaults below (the published
configs) are only used to build untrained models.
"""

from __future__ import annotations

import functools
from typing import Any


from bench.mel import MelConfig
from bench.vocoders.base import LoadOptions
from bench.vocoders.nn.bigvgan import BigVGANConfig, BigVGANGenerator
from bench.vocoders.nn.neural import NEURAL_PARAM_SPECS, MelGeneratorVocoder, meldataset_mel
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

FILES = ("config.json", "bigvgan_generator.pt")

_V2_COMMON: dict[str, Any] = {
    "resblock": "1", "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
    "snake_logscale": True, "use_tanh_at_final": False, "use_bias_at_final": False,
    "num_mels": 128, "sampling_rate": 44100, "fmin": 0, "fmax": None,
}

#: name -> (Hugging Face repository, published config (architecture + front-end keys), description)
VARIANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "bigvgan-v2-44k-256x": (
        "nvidia/bigvgan_v2_44khz_128band_256x",
        {**_V2_COMMON, "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
         "n_fft": 1024, "hop_size": 256, "win_size": 1024},
        "BigVGAN-v2 44.1 kHz, 128-band log-mel, hop 256 (112 M params)"),
    "bigvgan-v2-44k-512x": (
        "nvidia/bigvgan_v2_44khz_128band_512x",
        {**_V2_COMMON, "upsample_rates": [8, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4],
         "n_fft": 2048, "hop_size": 512, "win_size": 2048},
        "BigVGAN-v2 44.1 kHz, 128-band log-mel, hop 512 (122 M params)"),
    "bigvgan-24k-100band": (
        "nvidia/bigvgan_24khz_100band",
        {"resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
         "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
         "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
         "snake_logscale": True, "num_mels": 100, "sampling_rate": 24000, "n_fft": 1024, "hop_size": 256,
         "win_size": 1024, "fmin": 0, "fmax": 12000},
        "BigVGAN (v1, LibriTTS) 24 kHz, 100-band log-mel up to 12 kHz, hop 256 (112 M params)"),
}


def bigvgan_mel(h: dict[str, Any]) -> MelConfig:
    """The log-mel front-end a BigVGAN config.json defines (its ``meldataset.mel_spectrogram``)."""
    return meldataset_mel(h)


class BigVGAN(MelGeneratorVocoder):
    """BigVGAN: log-mel [B, num_mels, F] -> audio [B, F * hop] at the config's sample rate."""

    checkpoint_file = "bigvgan_generator.pt"
    config_class = BigVGANConfig
    generator_class = BigVGANGenerator

    def __init__(self, options: LoadOptions, variant: str) -> None:
        self.name = variant
        _, self._published, _ = VARIANTS[variant]
        self.weights = spec(variant)
        self.sample_rate = int(self._published["sampling_rate"])
        super().__init__(options)

    def default_config(self) -> dict[str, Any]:
        return dict(self._published)


def spec(variant: str) -> WeightSpec:
    repo_id = VARIANTS[variant][0]
    return WeightSpec(files=FILES, repo_id=repo_id, url=f"https://huggingface.co/{repo_id}")


ENTRY = [
    VocoderEntry(name=name, factory=functools.partial(BigVGAN, variant=name),
                 sample_rate=int(cfg["sampling_rate"]), description=desc, weights=spec(name), gpu_capable=True,
                 family="neural", params=NEURAL_PARAM_SPECS)
    for name, (_, cfg, desc) in VARIANTS.items()
]
