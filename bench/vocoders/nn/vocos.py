"""The Vocos generator (Siuzdak 2023) with the mel feature extractor, checkpoint-compatible with
``charactr/vocos-mel-24khz`` (``config.yaml`` + ``pytorch_model.bin``).

log-mel [B, n_mels, F] -> ConvNeXt backbone (conv k7 embed, LayerNorm, ``num_layers`` ConvNeXt blocks, final
LayerNorm) -> linear head predicting n_fft/2 + 1 log-magnitudes and phases per frame -> inverse STFT
-> audio [B, F * hop] ("same" padding) or [B, (F - 1) * hop] ("center" padding, ``torch.istft(center=True)``).

State-dict names: ``backbone.embed``, ``backbone.norm``, ``backbone.convnext.i.{dwconv,norm,pwconv1,pwconv2,gamma}``,
``backbone.final_layer_norm``, ``head.out``, ``head.istft.window``, plus torchaudio's buffers of the feature
extractor, ``feature_extractor.mel_spec.spectrogram.window`` and ``feature_extractor.mel_spec.mel_scale.fb``,
which are kept only to load the published file strictly and to check that our front-end is the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

Padding = Literal["center", "same"]


@dataclass(frozen=True)
class VocosConfig:
    """Backbone and ISTFT-head hyper-parameters (``init_args`` of config.yaml's backbone and head)."""

    input_channels: int = 100
    dim: int = 512
    intermediate_dim: int = 1536
    num_layers: int = 8
    layer_scale_init_value: float | None = None  # None = 1 / num_layers
    n_fft: int = 1024
    hop_length: int = 256
    padding: Padding = "center"

    def __post_init__(self) -> None:
        if self.padding not in ("center", "same"):
            raise ValueError(f"head padding must be 'center' or 'same', got {self.padding!r}")
        if self.n_fft < self.hop_length:
            raise ValueError("n_fft must be at least hop_length")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k7) -> LayerNorm -> Linear -> GELU -> Linear -> layer scale, residual; [B, C, T] -> [B, C, T]."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale_init_value: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init_value))) \
            if layer_scale_init_value > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma is not None:
            y = self.gamma * y
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Features [B, input_channels, F] -> hidden [B, F, dim]."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int,
                 layer_scale_init_value: float | None = None) -> None:
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        scale = layer_scale_init_value or 1.0 / num_layers
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, scale) for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        for m in self.modules():  # the reference initialisation (only matters for untrained models)
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFT(nn.Module):
    """Inverse STFT with a periodic Hann window (win = n_fft); complex [B, n_fft/2 + 1, F] -> audio [B, T].

    ``"center"``: ``torch.istft(center=True)``, T = (F - 1) * hop. ``"same"``: overlap-add of all frames, trimmed
    by (win - hop) / 2 at each end, T = F * hop; ``torch.istft`` cannot do this because the window envelope
    is near zero at the untrimmed edges (its NOLA check fails), so the overlap-add is done here.
    """

    def __init__(self, n_fft: int, hop_length: int, padding: Padding = "same") -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = n_fft
        self.padding = padding
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        window = self.window.to(spec.real.dtype)  # float32 also when the model runs in bf16/fp16
        if self.padding == "center":
            return torch.istft(spec, self.n_fft, self.hop_length, self.win_length, window, center=True)
        frames = spec.shape[-1]
        pad = (self.win_length - self.hop_length) // 2
        chunks = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * window[None, :, None]
        size = (frames - 1) * self.hop_length + self.win_length
        fold = dict(output_size=(1, size), kernel_size=(1, self.win_length), stride=(1, self.hop_length))
        audio = nn.functional.fold(chunks, **fold)[:, 0, 0, pad:size - pad]
        envelope = nn.functional.fold(window.square()[None, :, None].expand(1, -1, frames), **fold)
        envelope = envelope[0, 0, 0, pad:size - pad]
        return audio / envelope.clamp_min(1e-11)


class ISTFTHead(nn.Module):
    """Hidden [B, F, dim] -> log-magnitude and phase per bin -> audio [B, T] via :class:`ISTFT` (in float32)."""

    def __init__(self, dim: int, n_fft: int, hop_length: int, padding: Padding = "same") -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Complex half-precision FFTs are barely supported: the spectrum and its inverse are computed in float32.
        x = self.out(x).transpose(1, 2).float()
        log_mag, phase = x.chunk(2, dim=1)
        mag = torch.exp(log_mag).clamp(max=1e2)  # the reference's guard against huge magnitudes
        return self.istft(torch.polar(mag, phase))


class TorchaudioMelBuffers(nn.Module):
    """The buffers of ``torchaudio.transforms.MelSpectrogram`` that the published state dict carries.

    Not used to compute anything: they let the published file load strictly and let the loader check that the
    checkpoint's filterbank [n_fft/2 + 1, n_mels] and window equal the ones of our front-end.
    """

    def __init__(self, window: torch.Tensor, filterbank: torch.Tensor) -> None:
        super().__init__()
        self.spectrogram = nn.Module()
        self.spectrogram.register_buffer("window", window.clone())
        self.mel_scale = nn.Module()
        self.mel_scale.register_buffer("fb", filterbank.clone())


class FeatureExtractorBuffers(nn.Module):
    def __init__(self, window: torch.Tensor, filterbank: torch.Tensor) -> None:
        super().__init__()
        self.mel_spec = TorchaudioMelBuffers(window, filterbank)


class VocosModel(nn.Module):
    """Vocos: log-mel [B, n_mels, F] -> audio [B, T] (see the module docstring for T).

    Args:
        config: backbone and head hyper-parameters.
        mel_window: analysis window [win_length] of the front-end (stored as a buffer, see above).
        mel_filterbank: front-end filterbank [n_fft/2 + 1, n_mels] in torchaudio's layout (idem).
    """

    def __init__(self, config: VocosConfig, mel_window: torch.Tensor, mel_filterbank: torch.Tensor) -> None:
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureExtractorBuffers(mel_window, mel_filterbank)
        self.backbone = VocosBackbone(config.input_channels, config.dim, config.intermediate_dim, config.num_layers,
                                      config.layer_scale_init_value)
        self.head = ISTFTHead(config.dim, config.n_fft, config.hop_length, config.padding)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(mel))
