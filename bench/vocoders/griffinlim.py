"""Griffin-Lim inversion of the 44.1 kHz 128-band log-mel that DisCoder and BigVGAN-v2 take as input.

The mel is mapped back to a linear magnitude with the filterbank's pseudo-inverse (clamped at 0), then
the phase is estimated with the fast Griffin-Lim algorithm (Perraudin et al. 2013, momentum 0.99),
starting from a seeded random phase so that runs are reproducible.
"""

from __future__ import annotations

import torch

from bench.mel import MelConfig, mel_filterbank, mel_spectrogram
from bench.mel.frontend import BIGVGAN_V2_44K_128
from bench.params import ParamSpec
from bench.vocoders.base import LoadOptions, Vocoder
from bench.vocoders.registry import VocoderEntry


class GriffinLim(Vocoder):
    sample_rate = 44100
    mel: MelConfig = BIGVGAN_V2_44K_128

    def __init__(self, options: LoadOptions) -> None:
        super().__init__(options)
        p = options.params
        self.iterations = int(p.get("iterations", 32))
        self.momentum = float(p.get("momentum", 0.99))
        self.seed = int(p.get("seed", 0))
        if self.iterations < 0 or not 0 <= self.momentum < 1:
            raise ValueError("griffinlim: iterations must be >= 0 and momentum in [0, 1)")
        self._inverse_fb = torch.linalg.pinv(mel_filterbank(self.mel).double()).float().to(self.device)

    def analyse(self, audio: torch.Tensor) -> torch.Tensor:
        return mel_spectrogram(audio, self.mel)

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        """[B, 128, frames] natural-log mel -> [B, frames * 256] audio at 44.1 kHz."""
        cfg = self.mel
        mag = torch.clamp(self._inverse_fb @ torch.exp(features.float()), min=0.0)
        frames = mag.shape[-1]
        length = frames * cfg.hop_length
        window = torch.hann_window(cfg.win_length, device=mag.device)
        stft = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                    center=True)
        # The same seeded initial phase for every item: an item's output does not depend on its batch.
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        phase = (torch.rand(mag.shape[-2:], generator=gen) * 2 * torch.pi).to(mag.device).expand_as(mag)
        angles = torch.polar(torch.ones_like(mag), phase)
        previous = torch.zeros_like(angles)
        for _ in range(self.iterations):
            signal = torch.istft(mag * angles, length=length, **stft)
            rebuilt = torch.stft(signal, return_complex=True, **stft)[..., :frames]
            angles = rebuilt - previous * (self.momentum / (1 + self.momentum))
            angles = angles / (angles.abs() + 1e-16)
            previous = rebuilt
        signal = torch.istft(mag * angles, length=length, **stft)
        # The mel's frame k is centred on sample k * hop + hop / 2 (reflect framing, centre=False), the
        # inverse above on k * hop: delay by hop / 2 to line the output up with the input.
        shift = cfg.hop_length // 2
        return torch.nn.functional.pad(signal, (shift, 0))[..., :length]


ENTRY = VocoderEntry(
    name="griffinlim",
    factory=GriffinLim,
    sample_rate=44100,
    description="Griffin-Lim (fast, momentum 0.99) from the 44.1 kHz 128-band log-mel of DisCoder/BigVGAN-v2",
    params=(
        ParamSpec("iterations", int, 32, "Griffin-Lim iterations", minimum=0),
        ParamSpec("momentum", float, 0.99, "fast Griffin-Lim momentum (0 = plain Griffin-Lim)", minimum=0, below=1),
        ParamSpec("seed", int, 0, "seed of the initial random phase", minimum=0),
    ),
    gpu_capable=True,
)
