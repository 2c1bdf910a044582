"""The Descript Audio Codec (DAC) network, state-dict compatible with its published weights files.

Architecture facts follow Kumar et al. 2023, "High-Fidelity Audio Compression with Improved RVQGAN", and the
layout of the published ``weights.pth`` files ({"state_dict": ..., "metadata": {"kwargs": ...}}); key names
match exactly (``encoder.block.<i>``, ``quantizer.quantizers.<i>.{in_proj,out_proj,codebook}``,
``decoder.model.<i>``).

Weight normalisation uses the *old* layout (``weight_g`` / ``weight_v``, see :mod:`bench.vocoders.nn.weightnorm`),
which is what the published files hold. Files written with the newer parametrization layout
(``.parametrizations.weight.original0/1``) are accepted too: :func:`canonical_weight_norm_keys` renames them.

Shapes: audio [B, 1, T] (T in samples at 44.1 kHz for the 44 kHz model), latents [B, latent_dim, T / hop].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.vocoders.nn.weightnorm import weight_norm

#: Constructor kwargs of the published 44.1 kHz, 8 kbps model (tag 0.0.1, conf/final/44khz.yml).
DAC_44K_KWARGS: dict[str, Any] = {
    "encoder_dim": 64,
    "encoder_rates": [2, 4, 8, 8],
    "latent_dim": 1024,
    "decoder_dim": 1536,
    "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 9,
    "codebook_size": 1024,
    "codebook_dim": 8,
    "sample_rate": 44100,
}

_NEW_WN = (".parametrizations.weight.original0", ".parametrizations.weight.original1")


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------

class Snake1d(nn.Module):
    """DAC's Snake: x + 1 / (alpha + 1e-9) * sin^2(alpha x), one alpha per channel.

    ``alpha`` has shape [1, C, 1] as in DAC's files (BigVGAN's Snake keeps [C]). Input [B, C, T].
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha
        return x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x).pow(2)


def WNConv1d(*args: Any, **kwargs: Any) -> nn.Conv1d:
    """Conv1d with old-style weight norm (``weight_g`` / ``weight_v``), as in DAC's files. Input [B, C_in, T]."""
    return weight_norm(nn.Conv1d(*args, **kwargs), "old")


def WNConvTranspose1d(*args: Any, **kwargs: Any) -> nn.ConvTranspose1d:
    """ConvTranspose1d with old-style weight norm over dim 0 (``weight_g`` has shape [C_in, 1, 1])."""
    return weight_norm(nn.ConvTranspose1d(*args, **kwargs), "old")


def canonical_weight_norm_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``X.parametrizations.weight.original0/1`` to ``X.weight_g/weight_v`` (the published layout).

    Later versions of DAC's code build their layers with the parametrization API; files they save load here too.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith(_NEW_WN[0]):
            key = key[: -len(_NEW_WN[0])] + ".weight_g"
        elif key.endswith(_NEW_WN[1]):
            key = key[: -len(_NEW_WN[1])] + ".weight_v"
        out[key] = value
    return out


# --------------------------------------------------------------------------------------------------------------
# Encoder / decoder
# --------------------------------------------------------------------------------------------------------------

class ResidualUnit(nn.Module):
    """Snake -> dilated WN conv (k 7) -> Snake -> WN conv (k 1), plus the input (centre-cropped if shorter)."""

    def __init__(self, dim: int, dilation: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        crop = (x.shape[-1] - y.shape[-1]) // 2
        if crop > 0:  # only when conv padding is switched off (chunked use); never in this project's path
            x = x[..., crop:-crop]
        return x + y


class EncoderBlock(nn.Module):
    """Three residual units at ``dim // 2`` channels, then Snake and a strided WN conv to ``dim`` channels."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            ResidualUnit(half, 1), ResidualUnit(half, 3), ResidualUnit(half, 9),
            Snake1d(half),
            WNConv1d(half, dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    """Audio [B, 1, T] -> latents [B, d_latent, T / prod(strides)] (T a multiple of the hop)."""

    def __init__(self, d_model: int = 64, strides: Sequence[int] = (2, 4, 8, 8), d_latent: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in strides:
            d_model *= 2
            layers.append(EncoderBlock(d_model, stride))
        layers += [Snake1d(d_model), WNConv1d(d_model, d_latent, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.enc_dim = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    """Snake, WN transposed conv (upsample by ``stride``), three residual units (dilations 1, 3, 9)."""

    def __init__(self, input_dim: int, output_dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(input_dim),
            WNConvTranspose1d(input_dim, output_dim, kernel_size=2 * stride, stride=stride,
                              padding=math.ceil(stride / 2)),
            ResidualUnit(output_dim, 1), ResidualUnit(output_dim, 3), ResidualUnit(output_dim, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Decoder(nn.Module):
    """Latents [B, input_channel, L] -> audio [B, d_out, L * prod(rates)] in [-1, 1] (tanh output).

    The output length is exactly ``L * prod(rates)`` when every rate is even (all published models).
    """

    def __init__(self, input_channel: int, channels: int, rates: Sequence[int], d_out: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(input_channel, channels, kernel_size=7, padding=3)]
        output_dim = channels
        for i, stride in enumerate(rates):
            input_dim, output_dim = channels // 2 ** i, channels // 2 ** (i + 1)
            layers.append(DecoderBlock(input_dim, output_dim, stride))
        layers += [Snake1d(output_dim), WNConv1d(output_dim, d_out, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --------------------------------------------------------------------------------------------------------------
# Residual vector quantizer
# --------------------------------------------------------------------------------------------------------------

class VectorQuantize(nn.Module):
    """One factorised, l2-normalised codebook: project to ``codebook_dim``, nearest code by cosine, project back."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.in_proj = WNConv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_proj = WNConv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def nearest(self, latents: torch.Tensor) -> torch.Tensor:
        """Codes [B, L] (int64) of projected latents [B, codebook_dim, L] (max cosine similarity)."""
        enc = F.normalize(latents.transpose(1, 2).reshape(-1, latents.shape[1]))
        book = F.normalize(self.codebook.weight)
        # The squared distance between unit vectors is 2 - 2 cos: the largest dot product is the nearest code.
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return (-dist).argmax(1).reshape(latents.shape[0], -1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [B, codebook_dim, L] of codes [B, L] (the un-normalised codebook entries)."""
        return F.embedding(codes, self.codebook.weight).transpose(1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z [B, D, L] -> (quantised z [B, D, L], codes [B, L], projected latents [B, codebook_dim, L])."""
        z_e = self.in_proj(z)
        codes = self.nearest(z_e)
        return self.out_proj(self.embed(codes)), codes, z_e


class ResidualVectorQuantize(nn.Module):
    """``n_codebooks`` vector quantizers applied to successive residuals (inference only: no dropout, no loss)."""

    def __init__(self, input_dim: int = 512, n_codebooks: int = 9, codebook_size: int = 1024,
                 codebook_dim: int | Sequence[int] = 8) -> None:
        super().__init__()
        dims = [codebook_dim] * n_codebooks if isinstance(codebook_dim, int) else list(codebook_dim)
        if len(dims) != n_codebooks:
            raise ValueError(f"codebook_dim lists {len(dims)} sizes for {n_codebooks} codebooks")
        self.n_codebooks = n_codebooks
        self.quantizers = nn.ModuleList(VectorQuantize(input_dim, codebook_size, d) for d in dims)

    def forward(self, z: torch.Tensor, n_quantizers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, D, L] -> (quantised z [B, D, L], codes [B, n, L]) with the first ``n_quantizers`` codebooks."""
        n = self.n_codebooks if n_quantizers is None else n_quantizers
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"n_quantizers must be in 1..{self.n_codebooks}, got {n}")
        z_q = torch.zeros_like(z)
        residual = z
        codes = []
        for quantizer in self.quantizers[:n]:
            z_q_i, codes_i, _ = quantizer(residual)
            z_q = z_q + z_q_i
            residual = residual - z_q_i
            codes.append(codes_i)
        return z_q, torch.stack(codes, dim=1)

    def from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Quantised z [B, D, L] from codes [B, n, L] (n <= n_codebooks)."""
        if codes.shape[1] > self.n_codebooks:
            raise ValueError(f"{codes.shape[1]} codebooks given, the model has {self.n_codebooks}")
        z_q: torch.Tensor | int = 0
        for i in range(codes.shape[1]):
            q = self.quantizers[i]
            z_q = z_q + q.out_proj(q.embed(codes[:, i]))
        assert isinstance(z_q, torch.Tensor)
        return z_q


# --------------------------------------------------------------------------------------------------------------
# The codec
# --------------------------------------------------------------------------------------------------------------

class DACModel(nn.Module):
    """DAC codec: audio [B, 1, T] -> codes [B, n_codebooks, ceil(T / hop)] -> audio [B, 1, ceil(T / hop) * hop].

    Constructor arguments are the ``metadata.kwargs`` of a published weights file (``quantizer_dropout`` is a
    training-only setting and accepted for that reason).
    """

    def __init__(self, encoder_dim: int = 64, encoder_rates: Sequence[int] = (2, 4, 8, 8),
                 latent_dim: int | None = None, decoder_dim: int = 1536, decoder_rates: Sequence[int] = (8, 8, 4, 2),
                 n_codebooks: int = 9, codebook_size: int = 1024, codebook_dim: int | Sequence[int] = 8,
                 quantizer_dropout: float | bool = 0.0, sample_rate: int = 44100) -> None:
        super().__init__()
        if latent_dim is None:
            latent_dim = encoder_dim * 2 ** len(encoder_rates)
        self.sample_rate = int(sample_rate)
        self.hop_length = int(math.prod(encoder_rates))
        self.latent_dim = latent_dim
        self.kwargs = {"encoder_dim": encoder_dim, "encoder_rates": list(encoder_rates), "latent_dim": latent_dim,
                       "decoder_dim": decoder_dim, "decoder_rates": list(decoder_rates),
                       "n_codebooks": n_codebooks, "codebook_size": codebook_size,
                       "codebook_dim": codebook_dim if isinstance(codebook_dim, int) else list(codebook_dim),
                       "sample_rate": self.sample_rate}
        self.encoder = Encoder(encoder_dim, encoder_rates, latent_dim)
        self.quantizer = ResidualVectorQuantize(latent_dim, n_codebooks, codebook_size, codebook_dim)
        self.decoder = Decoder(latent_dim, decoder_dim, decoder_rates)
        self.apply(_init_like_dac)

    @property
    def upsampling(self) -> int:
        """Output samples per latent frame (prod(decoder_rates); equals the hop in published models)."""
        return int(math.prod(self.kwargs["decoder_rates"]))

    def preprocess(self, audio: torch.Tensor) -> torch.Tensor:
        """Right-pad audio [B, 1, T] with zeros to a multiple of the hop (DAC's own rule)."""
        length = audio.shape[-1]
        return F.pad(audio, (0, math.ceil(length / self.hop_length) * self.hop_length - length))

    def encode(self, audio: torch.Tensor, n_quantizers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B, 1, T] (T a multiple of the hop) -> (quantised z [B, D, T / hop], codes [B, n, T / hop])."""
        return self.quantizer(self.encoder(audio), n_quantizers)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Quantised z [B, D, L] -> audio [B, 1, L * upsampling]."""
        return self.decoder(z)

    def forward(self, audio: torch.Tensor, n_quantizers: int | None = None) -> torch.Tensor:
        """Resynthesis: audio [B, 1, T] -> audio [B, 1, T] (pad to the hop, encode, quantise, decode, trim)."""
        length = audio.shape[-1]
        z, _ = self.encode(self.preprocess(audio), n_quantizers)
        return self.decode(z)[..., :length]


def _init_like_dac(module: nn.Module) -> None:
    # DAC initialises convolutions with a truncated normal (std 0.02) and zero bias; only random-init models
    # (tests, benchmarks) depend on it. With weight norm the direction v is drawn and g set to ||v||.
    if isinstance(module, nn.Conv1d) and hasattr(module, "weight_v"):
        with torch.no_grad():
            v = module.weight_v
            nn.init.trunc_normal_(v, std=0.02)
            module.weight_g.copy_(torch.linalg.vector_norm(v.reshape(v.shape[0], -1), dim=1).reshape(-1, 1, 1))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
