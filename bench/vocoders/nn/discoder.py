"""The DisCoder network (Lanzendörfer et al. 2025, arXiv 2502.12759), state-dict compatible with ``model.pt``.

log-mel [B, n_mels, F] -> encoder -> DAC latent z [B, 1024, F / 2] (+ skip) -> DAC 44 kHz decoder
-> audio [B, 1, 256 F]. F must be even (the encoder's stride-2 conv and the skip's pooling must agree).

Key layout of the published checkpoint (``model_state_dict``, after stripping a DDP ``module.`` prefix):
- ``encoder.{init_conv,sec_conv,up_conv,strided_conv,down_conv}.parametrizations.weight.original0/1`` and
  ``.bias`` (new-style weight norm), ``encoder.output_conv.{weight,bias}`` (plain conv);
- ``encoder.acts.<0..4>`` — anti-aliased Snake: ``act.alpha`` [1, C, 1] (DAC's Snake, not BigVGAN's [C]),
  ``upsample.filter``, ``downsample.lowpass.filter``;
- ``encoder.resblocks.<i>.{convs1,convs2}.<j>`` and ``encoder.resblocks.<i>.acts.<k>`` (AMP blocks; the
  activations are called ``acts`` here where BigVGAN says ``activations``);
- ``decoder.dac_decoder.model.<i>`` — DAC's decoder, old-style weight norm (``weight_g`` / ``weight_v``);
- ``dac_encoder_quantizer.quantizers.<i>`` only for ``predict_type == "quant_latents"`` models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.vocoders.nn.alias_free import Activation1d
from bench.vocoders.nn.amp import AMPBlock1
from bench.vocoders.nn.dac import DAC_44K_KWARGS, Decoder, ResidualVectorQuantize, Snake1d
from bench.vocoders.nn.weightnorm import weight_norm

#: The DAC 44 kHz decoder DisCoder fine-tunes. Not part of DisCoder's config.json (the reference code takes it
#: from DAC's weights file); a config may override it under ``model.dac_decoder`` (used for tiny test models).
DAC_DECODER_DEFAULTS: dict[str, Any] = {"channels": DAC_44K_KWARGS["decoder_dim"],
                                        "rates": list(DAC_44K_KWARGS["decoder_rates"])}


def _wn_conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv1d:
    return weight_norm(nn.Conv1d(c_in, c_out, kernel_size=7, padding=3, stride=stride), "new")


def _act(name: str, channels: int) -> nn.Module:
    if name == "snake":
        return Activation1d(Snake1d(channels))
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"DisCoder activation must be 'snake', 'relu' or 'gelu', got {name!r}")


class ResBlock(AMPBlock1):
    """BigVGAN's AMPBlock1 as DisCoder names it: activations under ``acts``, each an anti-aliased DAC Snake.

    [B, C, T] -> [B, C, T]; new-style weight norm on every conv.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__(channels, kernel_size, dilations, activation="snake", weight_norm="new")
        del self.activations
        self.acts = nn.ModuleList(Activation1d(Snake1d(channels)) for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts = self.acts
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + c2(acts[2 * i + 1](c1(acts[2 * i](x))))
        return x


class DisCoderEncoder(nn.Module):
    """log-mel [B, in_channels, F] -> (prediction [B, final_dim, ceil(F / 2)], skip [B, C0, floor(F / 2)])."""

    def __init__(self, in_channels: int, initial_out_channels: int, intermediate_dim: int, codebook_size: int,
                 final_dim: int, resblock_kernel_sizes: Sequence[int], resblock_dilations: Sequence[Sequence[int]],
                 activation: str = "snake", n_resblocks: int | None = None) -> None:
        super().__init__()
        n = len(resblock_kernel_sizes) if n_resblocks is None else n_resblocks
        if len(resblock_kernel_sizes) < n or len(resblock_dilations) < n:
            raise ValueError(f"{n} residual blocks need as many kernel sizes and dilation lists")
        c0, ci = initial_out_channels, intermediate_dim
        self.init_conv = _wn_conv(in_channels, c0)
        self.sec_conv = _wn_conv(c0, ci)
        self.up_conv = _wn_conv(ci, ci)  # the name is historical: it does not upsample
        # acts[3] follows strided_conv (c0 channels), acts[4] follows down_conv (codebook_size channels).
        self.acts = nn.ModuleList(_act(activation, c) for c in (c0, ci, ci, c0, codebook_size))
        self.resblocks = nn.ModuleList(ResBlock(ci, resblock_kernel_sizes[i], resblock_dilations[i])
                                       for i in range(n))
        self.strided_conv = _wn_conv(ci, c0, stride=2)
        self.down_conv = _wn_conv(c0, codebook_size)
        self.output_conv = nn.Conv1d(codebook_size, final_dim, kernel_size=7, padding=3)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1 = self.init_conv(mel)
        x = self.acts[0](x1)
        x = self.acts[1](self.sec_conv(x))
        x = self.acts[2](self.up_conv(x))
        residual = x
        for block in self.resblocks:
            x = block(x)
        x = x + residual
        x = self.acts[3](self.strided_conv(x))
        x = self.acts[4](self.down_conv(x))
        return self.output_conv(x), F.avg_pool1d(x1, kernel_size=2, stride=2)


class DisCoderDecoder(nn.Module):
    """DAC decoder on ``z + skip``: [B, D, L] -> audio [B, 1, L * prod(rates)]."""

    def __init__(self, input_channel: int, channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.dac_decoder = Decoder(input_channel, channels, rates)

    def forward(self, z: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        return self.dac_decoder(z if skip is None else z + skip)


class DisCoderModel(nn.Module):
    """DisCoder built from its training config (the ``mel`` and ``model`` sections of ``config.json``).

    Forward: log-mel [B, n_mels, F] (F even) -> audio [B, 1, F * samples_per_frame].
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        try:
            m, n_mels = config["model"], int(config["mel"]["n_mels"])
            predict_type = m["predict_type"]
            latent_dim, codebook_size = int(m["latent_dim"]), int(m["codebook_size"])
            n_codebooks, codebook_dim = int(m["n_codebooks"]), int(m["codebook_dim"])
            resblock_type = m["resblock_type"]
            enc_kwargs = dict(in_channels=n_mels, initial_out_channels=int(m["initial_out_channels"]),
                              intermediate_dim=int(m["intermediate_dim"]), codebook_size=codebook_size,
                              resblock_kernel_sizes=list(m["resblock_kernel_sizes"]),
                              resblock_dilations=[list(d) for d in m["resblock_dilations"]],
                              activation=m["activation"], n_resblocks=int(m["n_resblocks"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"DisCoder config lacks or mistypes a model/mel field: {err}") from None
        if resblock_type != "AMP":
            raise ValueError(f"DisCoder resblock_type {resblock_type!r} is not supported (only 'AMP')")
        if predict_type == "z":
            final_dim = codebook_size
        elif predict_type == "quant_latents":
            final_dim = n_codebooks * codebook_dim
        else:
            raise ValueError(f"DisCoder predict_type must be 'z' or 'quant_latents', got {predict_type!r}")
        dec = {**DAC_DECODER_DEFAULTS, **dict(m.get("dac_decoder", {}))}
        z_dim = codebook_size if predict_type == "z" else latent_dim
        if z_dim != latent_dim or enc_kwargs["initial_out_channels"] != latent_dim:
            raise ValueError("DisCoder needs codebook_size (z) == initial_out_channels (skip) == latent_dim "
                             f"(decoder input); got {codebook_size}, {enc_kwargs['initial_out_channels']}, "
                             f"{latent_dim}")
        self.predict_type = predict_type
        self.n_codebooks, self.codebook_dim = n_codebooks, codebook_dim
        self.encoder = DisCoderEncoder(final_dim=final_dim, **enc_kwargs)  # type: ignore[arg-type]
        self.decoder = DisCoderDecoder(latent_dim, int(dec["channels"]), [int(r) for r in dec["rates"]])
        self.upsampling = 1
        for r in dec["rates"]:
            self.upsampling *= int(r)
        if predict_type == "quant_latents":
            # DAC's quantizer projects the predicted per-codebook latents back to z (frozen, saved with the model).
            self.dac_encoder_quantizer = ResidualVectorQuantize(latent_dim, n_codebooks, codebook_size,
                                                                codebook_dim)

    @property
    def samples_per_frame(self) -> int:
        """Output samples per mel frame: the decoder's upsampling over the encoder's stride of 2."""
        return self.upsampling // 2

    def encode(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log-mel [B, n_mels, F] (F even) -> (z [B, latent_dim, F / 2], skip [B, latent_dim, F / 2])."""
        if mel.shape[-1] % 2:
            raise ValueError(f"DisCoder needs an even number of mel frames, got {mel.shape[-1]}")
        out, skip = self.encoder(mel)
        if self.predict_type == "quant_latents":
            per_book = out.reshape(out.shape[0], self.n_codebooks, self.codebook_dim, -1)
            quantizers = self.dac_encoder_quantizer.quantizers
            out = sum(q.out_proj(per_book[:, i]) for i, q in enumerate(quantizers))  # type: ignore[assignment]
        return out, skip

    def forward(self, mel: torch.Tensor, use_skip: bool = True) -> torch.Tensor:
        z, skip = self.encode(mel)
        return self.decoder(z, skip if use_skip else None)
