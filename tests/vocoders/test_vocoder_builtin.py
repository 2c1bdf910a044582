import numpy as np
import pytest
import torch
from scipy.signal import welch

from bench.mel import mel_spectrogram
from bench.vocoders.anchors import lowpass
from bench.vocoders.base import LoadOptions
from bench.vocoders.registry import vocoder_registry
from numerics import assert_close_f32


def _build(name, **params):
    e = vocoder_registry().get(name)
    return e.factory(LoadOptions(params={**e.default_params, **params}))


def test_registry_metadata():
    reg = vocoder_registry()
    for name in ("reference", "anchor35", "anchor70", "griffinlim"):
        e = reg.get(name)
        assert e.sample_rate == 44100 and e.weights is None


def test_reference_is_identity(music):
    x = torch.from_numpy(music(0.5))[None]
    assert torch.equal(_build("reference").copy_synthesis(x), x)


@pytest.mark.parametrize("name,cutoff", [("anchor35", 3500), ("anchor70", 7000)])
def test_anchor_lowpass(music, name, cutoff):
    x = music(1.0, seed=3) + np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    y = _build(name).copy_synthesis(torch.from_numpy(x)[None])[0].numpy()
    assert y.shape == x.shape
    f, p_in = welch(x, 44100, nperseg=4096)
    _, p_out = welch(y, 44100, nperseg=4096)
    passband = (f > 100) & (f < cutoff - 300)
    stopband = f > cutoff + 300
    assert np.allclose(10 * np.log10(p_out[passband] / p_in[passband]), 0, atol=0.5)
    assert np.all(10 * np.log10(p_out[stopband] / p_in[stopband]) < -60)
    # zero-phase: no delay in the pass band
    lag = np.argmax(np.correlate(y[1000:2000], x[900:2100], mode="valid")) - 100
    assert lag == 0


def test_lowpass_batch_matches_single(music):
    x = np.stack([music(0.3, seed=1), music(0.3, seed=2)])
    assert_close_f32(lowpass(x, 3500, 44100)[1], lowpass(x[1], 3500, 44100), ulps=256)


def test_griffinlim_reconstructs_magnitude(music):
    x = torch.from_numpy(music(1.0))[None, : 256 * 160]
    few = _build("griffinlim", iterations=2).copy_synthesis(x)
    many = _build("griffinlim", iterations=48).copy_synthesis(x)
    assert few.shape == many.shape == x.shape
    target = mel_spectrogram(x, _build("griffinlim").mel)

    def err(y):
        return float(torch.mean(torch.abs(mel_spectrogram(y, _build("griffinlim").mel) - target)))

    assert err(many) < err(few) < 3.0
    assert err(many) < 0.6


def test_griffinlim_is_seeded(music):
    x = torch.from_numpy(music(0.3))[None]
    a = _build("griffinlim", iterations=4, seed=1).copy_synthesis(x)
    b = _build("griffinlim", iterations=4, seed=1).copy_synthesis(x)
    c = _build("griffinlim", iterations=4, seed=2).copy_synthesis(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_griffinlim_output_is_time_aligned(music):
    x = torch.from_numpy(music(1.0, seed=4))[None, : 256 * 160]
    y = _build("griffinlim", iterations=32).copy_synthesis(x)
    xc, yc = x[0].numpy(), y[0].numpy()
    env_x = np.convolve(np.abs(xc), np.ones(256) / 256, mode="same")
    env_y = np.convolve(np.abs(yc), np.ones(256) / 256, mode="same")
    lags = range(-512, 513, 16)
    best = max(lags, key=lambda k: np.dot(np.roll(env_y, -k), env_x))
    assert abs(best) <= 64


@pytest.mark.parametrize("name", ["griffinlim", "anchor35", "reference"])
def test_batched_equals_unbatched(music, name):
    v = _build(name, **({"iterations": 4} if name == "griffinlim" else {}))
    clips = [torch.from_numpy(music(0.5, seed=s)) for s in range(3)] + [torch.from_numpy(music(0.3, seed=9))]
    together = v.copy_synthesis_items(clips)
    for clip, out in zip(clips, together):
        alone = v.copy_synthesis_items([clip])[0]
        assert out.shape == alone.shape
        assert_close_f32(out, alone, ulps=256)  # float rounding of batched FFTs
