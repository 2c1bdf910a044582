"""Anti-aliased activations, AMP blocks and weight norm: properties, and agreement with the official package."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from bench.vocoders.nn.alias_free import (Activation1d, DownSample1d, Snake, SnakeBeta, UpSample1d,
                                          kaiser_sinc_filter1d, make_activation)
from bench.vocoders.nn.amp import AMPBlock1, AMPBlock2
from bench.vocoders.nn.weightnorm import detect_style, remove_weight_norm, weight_norm
from numerics import assert_close_f32


def _official():
    try:
        from bigvgan import activations
        from bigvgan.alias_free_activation.torch import act, filter, resample
        from bigvgan.bigvgan import AMPBlock1 as OfficialAMP1, AMPBlock2 as OfficialAMP2
        from bigvgan.env import AttrDict
    except Exception as err:  # the package (or one of its imports) is missing
        pytest.skip(f"official bigvgan package does not import: {err}")
    return activations, act, filter, resample, OfficialAMP1, OfficialAMP2, AttrDict


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Move every parameter away from its initial value so that comparisons exercise them."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))


# -- properties that hold without any reference -----------------------------------------------------------------

@pytest.mark.parametrize("kernel_size", [12, 11])
def test_kaiser_filter_unit_dc_gain_and_symmetry(kernel_size):
    f = kaiser_sinc_filter1d(0.25, 0.3, kernel_size)
    assert f.shape == (1, 1, kernel_size)
    assert_close_f32(f.sum().item(), 1.0, ulps=8, what="DC gain")
    torch.testing.assert_close(f.flip(-1), f)


def test_upsample_downsample_lengths_and_passband():
    t = torch.arange(400, dtype=torch.float32)
    x = torch.sin(2 * math.pi * 0.02 * t)[None, None].repeat(2, 3, 1)  # far below Nyquist / 2
    up = UpSample1d(2, 12)(x)
    assert up.shape == (2, 3, 800)
    # The even-length filter interpolates the sine on a grid delayed by half an output sample ...
    expected = torch.sin(2 * math.pi * 0.02 * (torch.arange(800) / 2 - 0.25))
    assert (up[0, 0, 40:-40] - expected[40:-40]).abs().max() < 2e-3
    down = DownSample1d(2, 12)(up)
    assert down.shape == x.shape
    # ... and decimation shifts it back: the round trip is aligned with the input.
    assert (down[..., 40:-40] - x[..., 40:-40]).abs().max() < 1e-3


def test_resampling_filter_response():
    """The 2x filters pass the original band and stop what lies above it (where the activation's harmonics fold)."""
    taps = DownSample1d(2, 12).lowpass.filter[0, 0]
    torch.testing.assert_close(taps, UpSample1d(2, 12).filter[0, 0])
    gain = torch.fft.rfft(taps, 1024).abs()
    freq = torch.fft.rfftfreq(1024)  # cycles per sample of the 2x-oversampled signal

    def at(f):
        return gain[(freq - f).abs().argmin()].item()

    assert_close_f32(at(0.0), 1.0, ulps=8, what="DC gain")
    assert at(0.1) == pytest.approx(1.0, abs=0.01)
    assert at(0.25) == pytest.approx(0.5, abs=0.02)  # cut-off at the original Nyquist
    assert at(0.4) < 2e-3
    assert_close_f32(at(0.5), 0.0, ulps=64, scale=at(0.0), what="zero at Nyquist (float32 FFT rounding)")


def test_snake_formulas():
    x = torch.randn(2, 4, 16)
    s = Snake(4)
    with torch.no_grad():
        s.alpha.copy_(torch.tensor([0.5, 1.0, 2.0, 0.0]))
    a = s.alpha[None, :, None]
    expected = x + torch.sin(a * x) ** 2 / (a + 1e-9)
    torch.testing.assert_close(s(x), expected)
    assert torch.isfinite(s(x)).all()  # alpha = 0 does not divide by zero
    sb = SnakeBeta(4, logscale=True)
    with torch.no_grad():
        sb.alpha.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        sb.beta.copy_(torch.tensor([0.5, 0.0, -1.0, 0.2]))
    alpha, beta = sb.alpha.exp()[None, :, None], sb.beta.exp()[None, :, None]
    torch.testing.assert_close(sb(x), x + torch.sin(alpha * x) ** 2 / (beta + 1e-9))
    with pytest.raises(ValueError):
        make_activation("relu", 4)


def test_amp_state_dict_names():
    new = AMPBlock1(4, 3, (1, 3), activation="snakebeta", weight_norm="new")
    keys = set(new.state_dict())
    assert {"convs1.0.parametrizations.weight.original0", "convs1.0.parametrizations.weight.original1",
            "convs2.1.bias", "activations.0.act.alpha", "activations.3.act.beta", "activations.2.upsample.filter",
            "activations.2.downsample.lowpass.filter"} <= keys
    assert len([k for k in keys if k.startswith("activations.")]) == 4 * 4
    old = AMPBlock2(4, 3, (1, 3), weight_norm="old")
    assert {"convs.0.weight_g", "convs.0.weight_v", "convs.1.bias", "activations.1.act.alpha"} <= set(old.state_dict())
    plain = AMPBlock1(4, 3, (1,), weight_norm="none")
    assert "convs1.0.weight" in plain.state_dict()
    with pytest.raises(ValueError):
        AMPBlock1(4, 3, (1,), weight_norm="spectral")


@pytest.mark.parametrize("style", ["old", "new"])
def test_weight_norm_removal_keeps_output(style):
    torch.manual_seed(0)
    block = AMPBlock1(6, 5, (1, 3, 5), activation="snake", weight_norm=style)
    _perturb(block, 1)
    x = torch.randn(2, 6, 64)
    before = block(x)
    assert remove_weight_norm(block) == 6
    assert detect_style(block.state_dict(), "convs1.0") == "none"
    assert_close_f32(block(x), before, ulps=256)
    assert remove_weight_norm(block) == 0


def test_detect_style():
    assert detect_style(weight_norm(torch.nn.Conv1d(2, 2, 3), "old").state_dict(), "") is None
    sd = {"conv.weight_g": 0, "conv.weight_v": 0}
    assert detect_style(sd, "conv") == "old"
    assert detect_style({"conv.parametrizations.weight.original0": 0}, "conv") == "new"
    assert detect_style({"conv.weight": 0}, "conv") == "none"


# -- agreement with the official implementation -----------------------------------------------------------------

@pytest.mark.parametrize("cutoff,half_width,kernel_size", [(0.25, 0.3, 12), (0.5, 0.6, 12), (0.25, 0.3, 13)])
def test_filter_matches_official(cutoff, half_width, kernel_size):
    _, _, filt, _, _, _, _ = _official()
    torch.testing.assert_close(kaiser_sinc_filter1d(cutoff, half_width, kernel_size),
                               filt.kaiser_sinc_filter1d(cutoff, half_width, kernel_size), rtol=0, atol=0)


@pytest.mark.parametrize("activation,logscale", [("snake", False), ("snake", True), ("snakebeta", False),
                                                 ("snakebeta", True)])
def test_activation1d_matches_official(activation, logscale):
    activations, act, _, _, _, _, _ = _official()
    cls = activations.Snake if activation == "snake" else activations.SnakeBeta
    official = act.Activation1d(cls(5, alpha_logscale=logscale))
    ours = Activation1d(make_activation(activation, 5, logscale))
    _perturb(official, 3)
    ours.load_state_dict(official.state_dict(), strict=True)
    x = torch.randn(3, 5, 101)
    assert_close_f32(ours(x), official(x), ulps=256)


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("activation", ["snake", "snakebeta"])
def test_amp_blocks_match_official(resblock, activation):
    _, _, _, _, OfficialAMP1, OfficialAMP2, AttrDict = _official()
    h = AttrDict(snake_logscale=True)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if resblock == "1":
            official = OfficialAMP1(h, 8, 5, (1, 3, 5), activation=activation)
            ours = AMPBlock1(8, 5, (1, 3, 5), activation, snake_logscale=True, weight_norm="old")
        else:
            official = OfficialAMP2(h, 8, 3, (1, 3), activation=activation)
            ours = AMPBlock2(8, 3, (1, 3), activation, snake_logscale=True, weight_norm="old")
    _perturb(official, 5)
    ours.load_state_dict(official.state_dict(), strict=True)
    x = torch.randn(2, 8, 90)
    assert_close_f32(ours(x), official(x), ulps=256)
