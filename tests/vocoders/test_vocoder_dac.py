"""The `dac` vocoder: weights.pth in the published format, found by resolve, loaded strictly; resynthesis."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.errors import BenchError, MissingWeightsError
from bench.vocoders.base import LoadOptions
from bench.vocoders.dac import DAC, WEIGHTS, WEIGHTS_URL
from bench.vocoders.nn.dac import DACModel
from bench.vocoders.registry import vocoder_registry
from bench.vocoders.weights import missing_message, resolve
from numerics import assert_close_f32

# Small but with the published hop (512) and rates, so that lengths behave as in the real model.
KWARGS = {"encoder_dim": 2, "encoder_rates": [2, 4, 8, 8], "latent_dim": 16, "decoder_dim": 32,
          "decoder_rates": [8, 8, 4, 2], "n_codebooks": 4, "codebook_size": 32, "codebook_dim": 4,
          "quantizer_dropout": 0.5, "sample_rate": 44100}


def make_model(seed: int = 0) -> DACModel:
    torch.manual_seed(seed)
    model = DACModel(**{k: v for k, v in KWARGS.items() if k != "quantizer_dropout"}).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0, 0.05)
    return model


def write_weights(folder: Path, model: DACModel, name: str = "weights.pth", **extra) -> Path:
    """A file shaped like DAC's published weights.pth (audiotools' BaseModel.save with package=False)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    state = {**model.state_dict(), **extra}
    torch.save({"state_dict": state, "metadata": {"kwargs": dict(KWARGS)}}, path)
    return path


@pytest.fixture()
def weights_dir(tmp_path):
    model = make_model()
    write_weights(tmp_path / "dac", model)
    return tmp_path / "dac", model


def test_registry_entry():
    entry = vocoder_registry().get("dac")
    assert entry.family == "neural" and entry.gpu_capable and entry.sample_rate == 44100
    assert entry.weights is WEIGHTS and WEIGHTS.repo_id is None and WEIGHTS.files == ("weights.pth",)
    assert WEIGHTS.url == WEIGHTS_URL and "releases/download/0.0.1/weights.pth" in WEIGHTS_URL
    config = {k: v for k, v in KWARGS.items() if k != "quantizer_dropout"}
    built = entry.factory(LoadOptions(params={**entry.default_params, "random_init": True, "config": config}))
    assert isinstance(built, DAC) and built.n_quantizers == 4


def test_resolved_from_env_override_and_models_dir(weights_dir, tmp_path, monkeypatch):
    folder, _ = weights_dir
    monkeypatch.delenv("BENCH_WEIGHTS_DAC", raising=False)
    assert resolve("dac", WEIGHTS, override=folder).path == folder
    assert resolve("dac", WEIGHTS, models_dir=tmp_path).path == folder
    monkeypatch.setenv("BENCH_WEIGHTS_DAC", str(folder))
    res = resolve("dac", WEIGHTS, models_dir=tmp_path / "nowhere")
    assert res.path == folder and res.source == "$BENCH_WEIGHTS_DAC"


def test_loads_strictly_and_resynthesises(weights_dir):
    folder, model = weights_dir
    voc = DAC(LoadOptions(weights_path=str(folder)))
    assert voc.sample_rate == 44100 and voc.mel is None and voc.n_quantizers == 4
    torch.manual_seed(1)
    audio = torch.randn(2, 3000) * 0.1
    out = voc.copy_synthesis(audio)
    assert out.shape == (2, 3000) and out.dtype == torch.float32
    codes = voc.analyse(audio)
    assert codes.shape == (2, 4, 6) and codes.dtype == torch.int64  # ceil(3000 / 512) frames
    assert voc.synthesise(codes).shape == (2, 6 * 512)
    with torch.no_grad():
        expected = model(audio.unsqueeze(1)).squeeze(1)  # the saved model's own forward pass
    assert_close_f32(out, expected, ulps=256)
    cfg = voc.config()
    assert cfg["architecture"]["n_codebooks"] == 4 and cfg["weights_source"] == str(folder / "weights.pth")


def test_any_file_name_is_accepted(tmp_path):
    path = write_weights(tmp_path, make_model(), name="weights_44khz_8kbps_0.0.1.pth")
    voc = DAC(LoadOptions(weights_path=str(path)))
    assert voc.copy_synthesis(torch.zeros(1, 600)).shape == (1, 600)


@pytest.mark.parametrize("length", [1, 511, 512, 513, 2048, 4097])
def test_output_length_equals_input_length(weights_dir, length):
    voc = DAC(LoadOptions(weights_path=str(weights_dir[0])))
    out = voc.copy_synthesis(torch.randn(1, length) * 0.1)
    assert out.shape == (1, length) and torch.isfinite(out).all()


def test_batched_equals_unbatched(weights_dir):
    voc = DAC(LoadOptions(weights_path=str(weights_dir[0])))
    torch.manual_seed(2)
    audio = torch.randn(3, 2500) * 0.1
    batched = voc.copy_synthesis(audio)
    for i in range(3):
        assert_close_f32(batched[i], voc.copy_synthesis(audio[i : i + 1])[0], ulps=256)


def test_items_of_different_lengths_equal_unbatched(weights_dir):
    voc = DAC(LoadOptions(weights_path=str(weights_dir[0])))
    torch.manual_seed(3)
    clips = [torch.randn(n) * 0.1 for n in (700, 1000, 513, 2049, 1)]
    outs = voc.copy_synthesis_items(clips)
    assert [o.shape[-1] for o in outs] == [c.shape[-1] for c in clips]
    for clip, out in zip(clips, outs):
        assert_close_f32(out, voc.copy_synthesis(clip.unsqueeze(0))[0], ulps=256)


def test_fewer_quantizers(weights_dir):
    voc = DAC(LoadOptions(weights_path=str(weights_dir[0]), params={"n_quantizers": 2}))
    assert voc.analyse(torch.randn(1, 1024) * 0.1).shape == (1, 2, 2)
    with pytest.raises(ValueError, match="n_quantizers"):
        DAC(LoadOptions(weights_path=str(weights_dir[0]), params={"n_quantizers": 5}))


def test_weight_norm_removal_keeps_output(weights_dir):
    audio = torch.randn(2, 2000) * 0.1
    kept = DAC(LoadOptions(weights_path=str(weights_dir[0]), params={"remove_weight_norm": False}))
    removed = DAC(LoadOptions(weights_path=str(weights_dir[0])))
    assert any(k.endswith("weight_g") for k in kept.model.state_dict())
    assert not any(k.endswith("weight_g") for k in removed.model.state_dict())
    assert_close_f32(removed.copy_synthesis(audio), kept.copy_synthesis(audio), ulps=256)


def test_bf16_precision_runs(weights_dir):
    voc = DAC(LoadOptions(weights_path=str(weights_dir[0]), precision="bf16"))
    assert next(voc.model.decoder.parameters()).dtype == torch.bfloat16
    assert next(voc.model.quantizer.parameters()).dtype == torch.float32
    out = voc.copy_synthesis(torch.randn(1, 1500) * 0.1)
    assert out.shape == (1, 1500) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_parametrization_layout_file_loads(tmp_path):
    model = make_model()
    state = {}
    for key, value in model.state_dict().items():
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        state[key.replace(".weight_v", ".parametrizations.weight.original1")] = value
    tmp_path.mkdir(exist_ok=True)
    torch.save({"state_dict": state, "metadata": {"kwargs": dict(KWARGS)}}, tmp_path / "weights.pth")
    audio = torch.randn(1, 1024) * 0.1
    out = DAC(LoadOptions(weights_path=str(tmp_path))).copy_synthesis(audio)
    with torch.no_grad():
        assert_close_f32(out, model(audio.unsqueeze(1)).squeeze(1), ulps=256)


# -- errors --------------------------------------------------------------------------------------------------------

def test_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_WEIGHTS_DAC", raising=False)
    res = resolve("dac", WEIGHTS, models_dir=tmp_path)
    assert not res.ready
    msg = missing_message("dac", WEIGHTS, res)
    assert "\n" not in msg and WEIGHTS_URL in msg and "weights.pth" in msg
    with pytest.raises(MissingWeightsError):
        DAC(LoadOptions())
    with pytest.raises(MissingWeightsError, match="not found"):
        DAC(LoadOptions(weights_path=str(tmp_path / "empty")))


def test_truncated_file(tmp_path):
    path = write_weights(tmp_path, make_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchError) as err:
        DAC(LoadOptions(weights_path=str(tmp_path)))
    assert "\n" not in str(err.value) and "weights.pth" in str(err.value)


def test_missing_key_is_named(tmp_path):
    model = make_model()
    state = model.state_dict()
    del state["decoder.model.0.weight_g"], state["quantizer.quantizers.3.codebook.weight"]
    torch.save({"state_dict": state, "metadata": {"kwargs": dict(KWARGS)}}, tmp_path / "weights.pth")
    with pytest.raises(BenchError) as err:
        DAC(LoadOptions(weights_path=str(tmp_path)))
    msg = str(err.value)
    assert "missing keys" in msg and "decoder.model.0.weight_g" in msg and "quantizer.quantizers.3.codebook" in msg


def test_unexpected_key_is_named(tmp_path):
    write_weights(tmp_path, make_model(), **{"decoder.model.9.weight": torch.zeros(3)})
    with pytest.raises(BenchError, match=r"unexpected keys: decoder\.model\.9\.weight"):
        DAC(LoadOptions(weights_path=str(tmp_path)))


def test_wrong_shape_is_named(tmp_path):
    state = make_model().state_dict()
    state["decoder.model.0.bias"] = torch.zeros(7)
    torch.save({"state_dict": state, "metadata": {"kwargs": dict(KWARGS)}}, tmp_path / "weights.pth")
    with pytest.raises(BenchError, match=r"shape mismatch: decoder\.model\.0\.bias \(7,\)"):
        DAC(LoadOptions(weights_path=str(tmp_path)))


def test_kwargs_of_another_architecture_are_reported(tmp_path):
    # The file claims the full-size model while holding tiny tensors: every shape differs.
    torch.save({"state_dict": make_model().state_dict(), "metadata": {"kwargs": {"encoder_dim": 2, "latent_dim": 8,
                "decoder_dim": 32, "n_codebooks": 4, "codebook_size": 32, "codebook_dim": 4}}},
               tmp_path / "weights.pth")
    with pytest.raises(BenchError, match="shape mismatch"):
        DAC(LoadOptions(weights_path=str(tmp_path)))
    torch.save({"state_dict": {}, "metadata": {"kwargs": {"bogus": 1}}}, tmp_path / "weights.pth")
    with pytest.raises(BenchError, match="bogus"):
        DAC(LoadOptions(weights_path=str(tmp_path)))


@pytest.mark.slow
def test_full_size_random_init_runs():
    entry = vocoder_registry().get("dac")
    voc = entry.factory(LoadOptions(params={**entry.default_params, "random_init": True}))
    assert voc.n_quantizers == 9 and voc.model.hop_length == 512
    out = voc.copy_synthesis(torch.randn(1, 3000) * 0.1)
    assert out.shape == (1, 3000) and torch.isfinite(out).all()
    assert voc.analyse(torch.zeros(1, 3000)).shape == (1, 9, 6)
