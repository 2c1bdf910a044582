"""HiFi-GAN V1 "universal" (jik876/hifi-gan, UNIVERSAL_V1) from its published ``config.json`` + ``g_02500000``.

22.05 kHz, 80-band log-mel (n_fft 1024, hop 256, win 1024, fmin 0, fmax 8000) computed as the reference's
``meldataset.mel_spectrogram``: reflect padding of (n_fft - hop) / 2, ``torch.stft(center=False)``, periodic Hann
window, sqrt(|X|^2 + 1e-9), librosa Slaney filterbank, ln(clamp(x, 1e-5)). The architecture and the front-end
are read from config.json at load time; the defaults below are the published config.
"""

from __future__ import annotations

from typing import Any


from bench.mel import MelConfig
from bench.vocoders.nn.hifigan import HiFiGANConfig, HiFiGANGenerator
from bench.vocoders.nn.neural import NEURAL_PARAM_SPECS, MelGeneratorVocoder, meldataset_mel
from bench.vocoders.registry import VocoderEntry
from bench.vocoders.weights import WeightSpec

NAME = "hifigan"
CHECKPOINT = "g_02500000"
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1-eEYTB5Av9jNql0WGBlRoi-WH2J7bp5Y"

#: config.json of UNIVERSAL_V1 (the V1 generator; training keys left out).
PUBLISHED_CONFIG: dict[str, Any] = {
    "resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
    "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "num_mels": 80, "n_fft": 1024,
    "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000,
}

WEIGHTS = WeightSpec(
    files=("config.json", CHECKPOINT), repo_id=None, url=DRIVE_FOLDER,
    how_to_get=f"download UNIVERSAL_V1/{CHECKPOINT} and UNIVERSAL_V1/config.json from the HiFi-GAN authors' "
               f"Google Drive folder {DRIVE_FOLDER} (linked from github.com/jik876/hifi-gan)")


def hifigan_mel(h: dict[str, Any]) -> MelConfig:
    """The log-mel front-end a HiFi-GAN config.json defines."""
    return meldataset_mel(h, default_n_mels=80)


class HiFiGAN(MelGeneratorVocoder):
    """HiFi-GAN V1: log-mel [B, 80, F] -> audio [B, F * 256] at 22.05 kHz."""

    name = NAME
    weights = WEIGHTS
    sample_rate = 22050
    checkpoint_file = CHECKPOINT
    config_class = HiFiGANConfig
    generator_class = HiFiGANGenerator
    default_n_mels = 80

    def default_config(self) -> dict[str, Any]:
        return dict(PUBLISHED_CONFIG)


ENTRY = VocoderEntry(
    name=NAME, factory=HiFiGAN, sample_rate=22050,
    description="HiFi-GAN V1 universal (jik876), 22.05 kHz, 80-band log-mel up to 8 kHz (13.9 M params)",
    weights=WEIGHTS, gpu_capable=True, family="neural", params=NEURAL_PARAM_SPECS)
