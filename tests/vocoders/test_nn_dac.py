"""The DAC network: published key layout and shapes, lengths, the quantizer, weight-norm layouts and removal."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from bench.vocoders.nn.dac import (DAC_44K_KWARGS, DACModel, Decoder, ResidualVectorQuantize, Snake1d, WNConv1d,
                                   WNConvTranspose1d, canonical_weight_norm_keys)
from bench.vocoders.nn.weightnorm import remove_weight_norm
from numerics import assert_close_f32

TINY = dict(encoder_dim=4, encoder_rates=[2, 4], latent_dim=16, decoder_dim=16, decoder_rates=[4, 2], n_codebooks=3,
            codebook_size=32, codebook_dim=4)


def tiny_dac(seed: int = 0) -> DACModel:
    torch.manual_seed(seed)
    model = DACModel(**TINY).eval()
    with torch.no_grad():  # non-trivial Snake alphas and biases, so that a wrongly loaded tensor shows
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0, 0.05)
    return model


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_full_size_44khz_layout_on_meta_device():
    with torch.device("meta"):
        model = DACModel(**DAC_44K_KWARGS)
    sd = model.state_dict()
    expected = {
        "encoder.block.0.weight_g": (64, 1, 1), "encoder.block.0.weight_v": (64, 1, 7), "encoder.block.0.bias": (64,),
        "encoder.block.1.block.0.block.0.alpha": (1, 64, 1),
        "encoder.block.1.block.0.block.1.weight_v": (64, 64, 7),
        "encoder.block.1.block.4.weight_v": (128, 64, 4),  # stride-2 conv, kernel 2 * stride
        "encoder.block.4.block.4.weight_v": (1024, 512, 16),
        "encoder.block.5.alpha": (1, 1024, 1), "encoder.block.6.weight_v": (1024, 1024, 3),
        "quantizer.quantizers.0.in_proj.weight_v": (8, 1024, 1),
        "quantizer.quantizers.8.out_proj.weight_g": (1024, 1, 1),
        "quantizer.quantizers.8.codebook.weight": (1024, 8),
        "decoder.model.0.weight_v": (1536, 1024, 7),
        "decoder.model.1.block.1.weight_g": (1536, 1, 1),  # transposed conv: g over the input channels
        "decoder.model.1.block.1.weight_v": (1536, 768, 16),
        "decoder.model.4.block.4.block.3.weight_v": (96, 96, 1),
        "decoder.model.5.alpha": (1, 96, 1), "decoder.model.6.weight_v": (1, 96, 7),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "quantizer.quantizers.9.codebook.weight" not in sd
    assert not any(k.startswith("decoder.model.7") for k in sd)  # tanh has no parameters
    # DisCoder's paper gives 54.1 M for this decoder.
    assert n_params(model.decoder) / 1e6 == pytest.approx(54.1, abs=0.05)
    assert model.hop_length == 512 and model.upsampling == 512 and model.latent_dim == 1024
    with torch.device("meta"):
        assert n_params(Decoder(1024, 1536, [8, 8, 4, 2])) == n_params(model.decoder)


@pytest.mark.parametrize("length", [1, 7, 8, 9, 63, 64, 200])
def test_resynthesis_keeps_length_and_frames(length):
    model = tiny_dac()
    audio = torch.randn(2, 1, length) * 0.1
    padded = model.preprocess(audio)
    assert padded.shape[-1] == math.ceil(length / 8) * 8
    assert torch.equal(padded[..., :length], audio) and not padded[..., length:].any()
    with torch.no_grad():
        z, codes = model.encode(padded)
        assert z.shape == (2, 16, padded.shape[-1] // 8) and codes.shape == (2, 3, padded.shape[-1] // 8)
        assert model.decode(z).shape == (2, 1, padded.shape[-1])
        out = model(audio)
    assert out.shape == audio.shape and out.abs().max() <= 1.0  # tanh output


def test_snake_formula():
    snake = Snake1d(3)
    with torch.no_grad():
        snake.alpha.copy_(torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1))
    x = torch.linspace(-3, 3, 50).repeat(2, 3, 1)
    a = torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1)
    assert_close_f32(snake(x), x + torch.sin(a * x) ** 2 / (a + 1e-9), ulps=16)


def test_weight_norm_layers_compute_g_v_over_norm():
    torch.manual_seed(1)
    conv = WNConv1d(3, 5, kernel_size=3, padding=1)
    tconv = WNConvTranspose1d(5, 2, kernel_size=4, stride=2, padding=1)
    assert {n for n, _ in conv.named_parameters()} == {"bias", "weight_g", "weight_v"}
    assert tuple(tconv.weight_g.shape) == (5, 1, 1)
    with torch.no_grad():
        conv.weight_g.mul_(torch.rand_like(conv.weight_g) + 0.5)
        tconv.weight_g.mul_(torch.rand_like(tconv.weight_g) + 0.5)
    x = torch.randn(1, 3, 10)

    def direction(v: torch.Tensor) -> torch.Tensor:
        return v / v.flatten(1).norm(dim=1).view(-1, 1, 1)

    w = conv.weight_g * direction(conv.weight_v)
    wt = tconv.weight_g * direction(tconv.weight_v)
    y = F.conv_transpose1d(F.conv1d(x, w, conv.bias, padding=1), wt, tconv.bias, stride=2, padding=1)
    assert_close_f32(tconv(conv(x)), y, ulps=256)


def test_quantizer_picks_the_nearest_code_by_cosine_and_decodes_codes():
    torch.manual_seed(2)
    rvq = ResidualVectorQuantize(input_dim=6, n_codebooks=3, codebook_size=10, codebook_dim=2).eval()
    z = torch.randn(2, 6, 5)
    with torch.no_grad():
        z_q, codes = rvq(z)
        assert codes.shape == (2, 3, 5) and codes.dtype == torch.int64
        # First codebook by brute force: maximal cosine between the projected latent and each code.
        q0 = rvq.quantizers[0]
        proj = q0.in_proj(z)  # [2, 2, 5]
        cos = F.cosine_similarity(proj.permute(0, 2, 1)[:, :, None, :], q0.codebook.weight[None, None], dim=-1)
        assert torch.equal(codes[:, 0], cos.argmax(-1))
        # The residual scheme: codebook i sees z minus the first i reconstructions.
        r1 = z - q0.out_proj(q0.embed(codes[:, 0]))
        assert torch.equal(codes[:, 1], rvq.quantizers[1].nearest(rvq.quantizers[1].in_proj(r1)))
        assert_close_f32(rvq.from_codes(codes), z_q, ulps=256)
        z1, c1 = rvq(z, n_quantizers=1)
        assert c1.shape == (2, 1, 5) and torch.equal(c1[:, 0], codes[:, 0])
    with pytest.raises(ValueError, match="n_quantizers"):
        rvq(z, n_quantizers=4)


def test_parametrization_keys_are_renamed_and_load_the_same_model():
    src = tiny_dac(3)
    new_style = {}
    for key, value in src.state_dict().items():
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        new_style[key.replace(".weight_v", ".parametrizations.weight.original1")] = value
    assert any("parametrizations" in k for k in new_style)
    dst = tiny_dac(4)
    dst.load_state_dict(canonical_weight_norm_keys(new_style), strict=True)
    x = torch.randn(1, 1, 100) * 0.2
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))


def test_removing_weight_norm_keeps_the_output():
    model = tiny_dac(5)
    x = torch.randn(2, 1, 160) * 0.2
    with torch.no_grad():
        before = model(x)
        assert remove_weight_norm(model) > 0
        assert not any(k.endswith(("weight_g", "weight_v")) for k in model.state_dict())
        after = model(x)
    assert_close_f32(after, before, ulps=256)


@pytest.mark.skipif(importlib.util.find_spec("dac") is None,
                    reason="descript-audio-codec is not installed (it needs torchaudio, unavailable here)")
def test_matches_descript_audio_codec():  # pragma: no cover - only where the official package imports
    try:
        from dac.model.dac import DAC as OfficialDAC
    except Exception as err:  # the package exists but its torchaudio/audiotools stack does not import
        pytest.skip(f"descript-audio-codec does not import: {type(err).__name__}: {err}")
    torch.manual_seed(0)
    official = OfficialDAC(**TINY).eval()
    ours = DACModel(**TINY).eval()
    ours.load_state_dict(canonical_weight_norm_keys(official.state_dict()), strict=True)
    x = torch.randn(1, 1, 100) * 0.2
    with torch.no_grad():
        ref = official(x)["audio"]
        assert_close_f32(ours(x), ref, ulps=256)


# -- an independent, functional forward pass written from the published key layout ----------------------------------

def _wn(sd: dict, prefix: str) -> torch.Tensor:
    g, v = sd[prefix + ".weight_g"], sd[prefix + ".weight_v"]
    return g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1)


def _snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return x + torch.sin(alpha * x) ** 2 / (alpha + 1e-9)


def _residual_unit(sd: dict, p: str, h: torch.Tensor, dilation: int) -> torch.Tensor:
    y = _snake(h, sd[f"{p}.block.0.alpha"])
    y = F.conv1d(y, _wn(sd, f"{p}.block.1"), sd[f"{p}.block.1.bias"], dilation=dilation, padding=3 * dilation)
    y = _snake(y, sd[f"{p}.block.2.alpha"])
    return h + F.conv1d(y, _wn(sd, f"{p}.block.3"), sd[f"{p}.block.3.bias"])


def functional_dac(sd: dict, audio: torch.Tensor, kw: dict) -> torch.Tensor:
    """DAC's eval forward pass on a state dict: audio [B, 1, T] (T a multiple of the hop) -> audio [B, 1, T]."""
    h = F.conv1d(audio, _wn(sd, "encoder.block.0"), sd["encoder.block.0.bias"], padding=3)
    for i, s in enumerate(kw["encoder_rates"]):
        p = f"encoder.block.{i + 1}.block"
        for j, d in enumerate((1, 3, 9)):
            h = _residual_unit(sd, f"{p}.{j}", h, d)
        h = _snake(h, sd[f"{p}.3.alpha"])
        h = F.conv1d(h, _wn(sd, f"{p}.4"), sd[f"{p}.4.bias"], stride=s, padding=math.ceil(s / 2))
    n = len(kw["encoder_rates"])
    h = _snake(h, sd[f"encoder.block.{n + 1}.alpha"])
    z = F.conv1d(h, _wn(sd, f"encoder.block.{n + 2}"), sd[f"encoder.block.{n + 2}.bias"], padding=1)
    z_q, residual = torch.zeros_like(z), z
    for i in range(kw["n_codebooks"]):
        p = f"quantizer.quantizers.{i}"
        z_e = F.conv1d(residual, _wn(sd, f"{p}.in_proj"), sd[f"{p}.in_proj.bias"])
        book = sd[f"{p}.codebook.weight"]
        cos = F.normalize(z_e, dim=1).transpose(1, 2) @ F.normalize(book, dim=1).t()  # [B, L, codes]
        code_vectors = book[cos.argmax(-1)].transpose(1, 2)
        step = F.conv1d(code_vectors, _wn(sd, f"{p}.out_proj"), sd[f"{p}.out_proj.bias"])
        z_q, residual = z_q + step, residual - step
    return functional_dac_decoder(sd, "decoder.model", z_q, kw["decoder_rates"])


def functional_dac_decoder(sd: dict, p: str, z: torch.Tensor, rates: list[int]) -> torch.Tensor:
    h = F.conv1d(z, _wn(sd, f"{p}.0"), sd[f"{p}.0.bias"], padding=3)
    for i, s in enumerate(rates):
        b = f"{p}.{i + 1}.block"
        h = _snake(h, sd[f"{b}.0.alpha"])
        h = F.conv_transpose1d(h, _wn(sd, f"{b}.1"), sd[f"{b}.1.bias"], stride=s, padding=math.ceil(s / 2))
        for j, d in enumerate((1, 3, 9)):
            h = _residual_unit(sd, f"{b}.{j + 2}", h, d)
    n = len(rates)
    h = _snake(h, sd[f"{p}.{n + 1}.alpha"])
    return torch.tanh(F.conv1d(h, _wn(sd, f"{p}.{n + 2}"), sd[f"{p}.{n + 2}.bias"], padding=3))


def test_model_matches_a_functional_forward_pass_over_the_key_layout():
    model = tiny_dac(6)
    sd = model.state_dict()
    audio = torch.randn(2, 1, 64) * 0.3
    with torch.no_grad():
        ours = model(audio)
        _, codes = model.encode(audio)
    expected = functional_dac(sd, audio, TINY)
    assert codes.unique().numel() > 1  # the quantizer really chooses among codes
    assert_close_f32(ours, expected, ulps=256)
