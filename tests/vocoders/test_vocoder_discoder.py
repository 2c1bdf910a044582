"""DisCoder: published checkpoint layout (checked at full size on the meta device), strict loading of files in
the official format, the padding / length / batching rules, skip connection and weight-norm removal."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.errors import BenchError, MissingWeightsError
from bench.mel import mel_spectrogram
from bench.mel.frontend import BIGVGAN_V2_44K_128
from bench.vocoders.base import LoadOptions
from bench.vocoders.discoder import RELEASED_CONFIG, WEIGHTS, DisCoder, mel_config
from bench.vocoders.nn.discoder import DisCoderModel
from bench.vocoders.registry import vocoder_registry
from bench.vocoders.weights import missing_message, resolve
from numerics import assert_close_f32

#: A tiny model with the published front-end, hop and decoder rates (so every length rule is the real one).
TINY = copy.deepcopy(RELEASED_CONFIG)
TINY["model"].update(latent_dim=16, codebook_size=16, initial_out_channels=16, intermediate_dim=12, n_resblocks=2,
                     resblock_kernel_sizes=[3, 5], resblock_dilations=[[1, 3, 5], [1, 3]],
                     dac_decoder={"channels": 32, "rates": [8, 8, 4, 2]})


def tiny_model(seed: int = 0, config: dict | None = None) -> DisCoderModel:
    torch.manual_seed(seed)
    model = DisCoderModel(config or TINY).eval()
    with torch.no_grad():  # non-trivial alphas/biases so that a wrongly loaded tensor changes the output
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0, 0.05)
    return model


def write_checkpoint(folder: Path, model: DisCoderModel, config: dict | None = None, *, training_step: int = 250000,
                     state: dict | None = None) -> Path:
    """config.json + model.pt as published: {"model_state_dict": ...} with DDP "module." prefixes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**(config or TINY), "learning_rate": 1e-4, "batch_size": 32}))
    sd = model.state_dict() if state is None else state
    torch.save({"epoch": 3, "training_step": training_step,
                "model_state_dict": {f"module.{k}": v for k, v in sd.items()}}, folder / "model.pt")
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tiny_model()
    folder = write_checkpoint(tmp_path_factory.mktemp("w") / "discoder", model)
    return folder, model


@pytest.fixture(scope="module")
def voc(saved):
    return DisCoder(LoadOptions(weights_path=str(saved[0])))


def reference_output(model: DisCoderModel, audio: torch.Tensor, segment: int = 16384) -> torch.Tensor:
    """The reference inference script's steps: pad by segment - T % segment, mel, encoder + skip, decoder, trim."""
    to_pad = segment - audio.shape[-1] % segment
    mel = mel_spectrogram(F.pad(audio, (0, to_pad)), BIGVGAN_V2_44K_128)
    with torch.no_grad():
        z, skip = model.encoder(mel)
        out = model.decoder.dac_decoder(z + skip).squeeze(1)
    return out[..., :-to_pad]


# -- architecture ----------------------------------------------------------------------------------------------

def test_full_size_parameter_counts_and_keys_on_meta_device():
    with torch.device("meta"):
        model = DisCoderModel(RELEASED_CONFIG)
    enc = sum(p.numel() for p in model.encoder.parameters())
    dec = sum(p.numel() for p in model.decoder.parameters())
    assert enc / 1e6 == pytest.approx(376.0, abs=0.05)
    assert dec / 1e6 == pytest.approx(54.1, abs=0.05)
    sd = model.state_dict()
    assert sum(v.numel() for v in sd.values()) * 4 / 1e9 == pytest.approx(1.72, abs=0.005)  # fp32 model.pt
    expected = {
        "encoder.init_conv.parametrizations.weight.original0": (1024, 1, 1),
        "encoder.init_conv.parametrizations.weight.original1": (1024, 128, 7),
        "encoder.sec_conv.parametrizations.weight.original1": (1152, 1024, 7),
        "encoder.up_conv.parametrizations.weight.original1": (1152, 1152, 7),
        "encoder.acts.0.act.alpha": (1, 1024, 1), "encoder.acts.2.act.alpha": (1, 1152, 1),
        "encoder.acts.4.act.alpha": (1, 1024, 1),
        "encoder.acts.0.upsample.filter": (1, 1, 12), "encoder.acts.0.downsample.lowpass.filter": (1, 1, 12),
        "encoder.resblocks.0.convs1.0.parametrizations.weight.original1": (1152, 1152, 3),
        "encoder.resblocks.5.convs2.2.parametrizations.weight.original1": (1152, 1152, 11),
        "encoder.resblocks.5.acts.5.act.alpha": (1, 1152, 1),
        "encoder.strided_conv.parametrizations.weight.original1": (1024, 1152, 7),
        "encoder.down_conv.parametrizations.weight.original1": (1024, 1024, 7),
        "encoder.output_conv.weight": (1024, 1024, 7), "encoder.output_conv.bias": (1024,),
        "decoder.dac_decoder.model.0.weight_g": (1536, 1, 1),
        "decoder.dac_decoder.model.0.weight_v": (1536, 1024, 7),
        "decoder.dac_decoder.model.6.weight_v": (1, 96, 7),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert all(k.startswith(("encoder.", "decoder.dac_decoder.model.")) for k in sd)
    assert not any(".activations." in k for k in sd)
    assert model.samples_per_frame == 256


def _wn_new(sd: dict, p: str) -> torch.Tensor:
    g, v = sd[p + ".parametrizations.weight.original0"], sd[p + ".parametrizations.weight.original1"]
    return g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1)


def _aa_snake(sd: dict, p: str, x: torch.Tensor) -> torch.Tensor:
    """Anti-aliased Snake from the state dict: the stored filters, 2x up (replicate-padded), Snake, 2x down."""
    up, down = sd[f"{p}.upsample.filter"], sd[f"{p}.downsample.lowpass.filter"]
    c = x.shape[1]
    y = 2 * F.conv_transpose1d(F.pad(x, (5, 5), mode="replicate"), up.expand(c, -1, -1), stride=2, groups=c)
    y = y[..., 15:-15]
    alpha = sd[f"{p}.act.alpha"]
    y = y + torch.sin(alpha * y) ** 2 / (alpha + 1e-9)
    return F.conv1d(F.pad(y, (5, 6), mode="replicate"), down.expand(c, -1, -1), stride=2, groups=c)


def functional_encoder(sd: dict, mel: torch.Tensor, m: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """DisCoder's encoder written from the official forward pass and key layout (independent of our modules)."""
    def conv(name: str, x: torch.Tensor, **kw) -> torch.Tensor:
        return F.conv1d(x, _wn_new(sd, f"encoder.{name}"), sd[f"encoder.{name}.bias"], **kw)

    x1 = conv("init_conv", mel, padding=3)
    x = _aa_snake(sd, "encoder.acts.0", x1)
    x = _aa_snake(sd, "encoder.acts.1", conv("sec_conv", x, padding=3))
    x = _aa_snake(sd, "encoder.acts.2", conv("up_conv", x, padding=3))
    residual = x
    for i in range(m["n_resblocks"]):
        k, p = m["resblock_kernel_sizes"][i], f"resblocks.{i}"
        for j, d in enumerate(m["resblock_dilations"][i]):
            xt = _aa_snake(sd, f"encoder.{p}.acts.{2 * j}", x)
            xt = conv(f"{p}.convs1.{j}", xt, dilation=d, padding=(k * d - d) // 2)
            xt = _aa_snake(sd, f"encoder.{p}.acts.{2 * j + 1}", xt)
            x = x + conv(f"{p}.convs2.{j}", xt, padding=(k - 1) // 2)
    x = x + residual
    x = _aa_snake(sd, "encoder.acts.3", conv("strided_conv", x, stride=2, padding=3))
    x = _aa_snake(sd, "encoder.acts.4", conv("down_conv", x, padding=3))
    z = F.conv1d(x, sd["encoder.output_conv.weight"], sd["encoder.output_conv.bias"], padding=3)
    return z, F.avg_pool1d(x1, kernel_size=2, stride=2)


def test_encoder_matches_a_functional_forward_pass_over_the_key_layout():
    model = tiny_model(9)
    sd = model.state_dict()
    mel = mel_spectrogram(torch.randn(1, 8192) * 0.1, BIGVGAN_V2_44K_128)
    with torch.no_grad():
        z, skip = model.encoder(mel)
    z_ref, skip_ref = functional_encoder(sd, mel, TINY["model"])
    assert z.shape == (1, 16, 16) and skip.shape == (1, 16, 16)
    assert_close_f32(z, z_ref, ulps=256, what="z")
    assert_close_f32(skip, skip_ref, ulps=256, what="skip")


def test_front_end_is_bigvgan_v2_44k_128():
    assert mel_config(RELEASED_CONFIG) == BIGVGAN_V2_44K_128


def test_registry_entry():
    entry = vocoder_registry().get("discoder")
    assert entry.family == "neural" and entry.gpu_capable and entry.sample_rate == 44100
    assert entry.weights == WEIGHTS and WEIGHTS.files == ("config.json", "model.pt")
    assert WEIGHTS.repo_id == "disco-eth/discoder"
    built = entry.factory(LoadOptions(params={**entry.default_params, "random_init": True, "config": TINY}))
    assert isinstance(built, DisCoder) and built.padding == "reference" and built.use_skip


def test_config_consistency_is_checked():
    bad = copy.deepcopy(TINY)
    bad["model"]["initial_out_channels"] = 8
    with pytest.raises(ValueError, match="latent_dim"):
        DisCoderModel(bad)
    bad = copy.deepcopy(TINY)
    del bad["model"]["intermediate_dim"]
    with pytest.raises(ValueError, match="intermediate_dim"):
        DisCoderModel(bad)


# -- loading ---------------------------------------------------------------------------------------------------

def test_resolved_via_override_env_and_models_dir(saved, tmp_path, monkeypatch):
    folder = saved[0]
    monkeypatch.delenv("BENCH_WEIGHTS_DISCODER", raising=False)
    assert resolve("discoder", WEIGHTS, override=folder).path == folder
    assert resolve("discoder", WEIGHTS, models_dir=folder.parent).path == folder
    monkeypatch.setenv("BENCH_WEIGHTS_DISCODER", str(folder))
    res = resolve("discoder", WEIGHTS, models_dir=tmp_path)
    assert res.ready and res.path == folder and res.source == "$BENCH_WEIGHTS_DISCODER"
    voc = DisCoder(LoadOptions(weights_path=str(res.path)))
    out = voc.copy_synthesis(torch.randn(1, 3000) * 0.1)
    assert out.shape == (1, 3000) and voc.sample_rate == 44100


def test_strict_load_reproduces_the_reference_pipeline(saved, voc):
    _, model = saved
    assert voc.mel == BIGVGAN_V2_44K_128 and voc.use_skip and voc.padding == "reference"
    torch.manual_seed(3)
    audio = torch.randn(2, 5000) * 0.1
    out = voc.copy_synthesis(audio)
    assert out.shape == (2, 5000) and out.dtype == torch.float32
    assert_close_f32(out, reference_output(model, audio), ulps=256)


def test_model_pt_path_may_be_given(saved):
    voc = DisCoder(LoadOptions(weights_path=str(saved[0] / "model.pt")))
    assert voc.copy_synthesis(torch.zeros(1, 100)).shape == (1, 100)


def test_missing_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_WEIGHTS_DISCODER", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    res = resolve("discoder", WEIGHTS, models_dir=tmp_path)
    assert not res.ready
    msg = missing_message("discoder", WEIGHTS, res)
    assert "\n" not in msg and "model.pt" in msg and "disco-eth/discoder" in msg
    with pytest.raises(MissingWeightsError):
        DisCoder(LoadOptions())
    (tmp_path / "only_config").mkdir()
    (tmp_path / "only_config" / "config.json").write_text(json.dumps(TINY))
    with pytest.raises(MissingWeightsError, match="model.pt"):
        DisCoder(LoadOptions(weights_path=str(tmp_path / "only_config")))


def test_truncated_model_pt(tmp_path):
    folder = write_checkpoint(tmp_path / "d", tiny_model())
    data = (folder / "model.pt").read_bytes()
    (folder / "model.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(BenchError) as err:
        DisCoder(LoadOptions(weights_path=str(folder)))
    assert "\n" not in str(err.value) and "model.pt" in str(err.value)


def test_corrupt_config(tmp_path):
    folder = write_checkpoint(tmp_path / "d", tiny_model())
    (folder / "config.json").write_text("{not json")
    with pytest.raises(BenchError, match="config.json"):
        DisCoder(LoadOptions(weights_path=str(folder)))


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = tiny_model().state_dict()
    del state["encoder.resblocks.1.convs2.0.bias"]
    del state["decoder.dac_decoder.model.2.block.1.weight_g"]
    state["encoder.extra_conv.weight"] = torch.zeros(2)
    folder = write_checkpoint(tmp_path / "d", tiny_model(), state=state)
    with pytest.raises(BenchError) as err:
        DisCoder(LoadOptions(weights_path=str(folder)))
    msg = str(err.value)
    assert "\n" not in msg and "model.pt" in msg
    assert "missing keys" in msg and "encoder.resblocks.1.convs2.0.bias" in msg
    assert "decoder.dac_decoder.model.2.block.1.weight_g" in msg
    assert "unexpected keys: encoder.extra_conv.weight" in msg


def test_many_missing_keys_are_summarised(tmp_path):
    state = {k: v for k, v in tiny_model().state_dict().items() if not k.startswith("decoder.")}
    folder = write_checkpoint(tmp_path / "d", tiny_model(), state=state)
    with pytest.raises(BenchError, match=r"missing keys: decoder\.dac_decoder\..*in all\)"):
        DisCoder(LoadOptions(weights_path=str(folder)))


def test_wrong_shape_is_named(tmp_path):
    state = tiny_model().state_dict()
    state["encoder.output_conv.weight"] = torch.zeros(16, 16, 5)
    folder = write_checkpoint(tmp_path / "d", tiny_model(), state=state)
    with pytest.raises(BenchError, match=r"shape mismatch: encoder\.output_conv\.weight \(16, 16, 5\)"):
        DisCoder(LoadOptions(weights_path=str(folder)))


def test_dac_decoder_in_parametrization_layout_loads(tmp_path, saved):
    model = saved[1]
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("decoder."):
            k = k.replace(".weight_g", ".parametrizations.weight.original0").replace(
                ".weight_v", ".parametrizations.weight.original1")
        state[k] = v
    folder = write_checkpoint(tmp_path / "d", model, state=state)
    audio = torch.randn(1, 2000) * 0.1
    out = DisCoder(LoadOptions(weights_path=str(folder))).copy_synthesis(audio)
    assert_close_f32(out, reference_output(model, audio), ulps=256)


# -- lengths, padding, batching -----------------------------------------------------------------------------------

@pytest.mark.parametrize("padding,expected", [
    ("reference", {1: 16384, 511: 16384, 512: 16384, 16383: 16384, 16384: 32768, 16385: 32768, 44100: 49152}),
    ("minimal", {1: 512, 511: 512, 512: 512, 513: 1024, 16383: 16384, 16384: 16384, 44100: 44544}),
])
def test_padded_lengths(saved, padding, expected):
    voc = DisCoder(LoadOptions(weights_path=str(saved[0]), params={"padding": padding}))
    assert {t: voc.padded_length(t) for t in expected} == expected
    with pytest.raises(ValueError):
        voc.padded_length(0)


@pytest.mark.parametrize("padding", ["reference", "minimal"])
@pytest.mark.parametrize("length", [1, 511, 512, 513, 16383, 16384, 16385, 44100])
def test_length_rules(saved, padding, length):
    voc = DisCoder(LoadOptions(weights_path=str(saved[0]), params={"padding": padding}))
    torch.manual_seed(length)
    audio = torch.randn(1, length) * 0.1
    mel = voc.analyse(audio)
    frames = mel.shape[-1]
    assert frames % 2 == 0 and frames * 256 == voc.padded_length(length)
    with torch.inference_mode():
        full = voc.synthesise(mel)
    assert full.shape == (1, 256 * frames)
    out = voc.copy_synthesis(audio)
    assert out.shape == (1, length) and torch.isfinite(out).all()
    assert torch.equal(out, full[:, :length])
    if padding == "reference":
        assert_close_f32(out, reference_output(saved[1], audio), ulps=256)


def test_odd_frame_count_mel(voc):
    mel = voc.analyse(torch.randn(1, 2048) * 0.1)[..., :7]
    with torch.inference_mode():
        assert voc.synthesise(mel).shape == (1, 7 * 256)


def test_batched_equals_unbatched(voc):
    torch.manual_seed(4)
    audio = torch.randn(3, 4000) * 0.1
    batched = voc.copy_synthesis(audio)
    for i in range(3):
        assert_close_f32(batched[i], voc.copy_synthesis(audio[i : i + 1])[0], ulps=256)


def test_items_of_different_lengths_equal_unbatched(voc):
    torch.manual_seed(5)
    clips = [torch.randn(n) * 0.1 for n in (700, 16000, 513, 16385, 9000, 1)]
    outs = voc.copy_synthesis_items(clips)
    assert [o.shape[-1] for o in outs] == [c.shape[-1] for c in clips]
    for clip, out in zip(clips, outs):
        alone = voc.copy_synthesis(clip.unsqueeze(0))[0]
        assert_close_f32(out, alone, ulps=256)
    # A harness-style zero-padded batch of clips that share a padded length is exact per item too.
    batch = torch.zeros(2, 9000)
    batch[0, :700], batch[1] = clips[0], clips[4]
    y = voc.copy_synthesis(batch)
    assert_close_f32(y[0, :700], outs[0], ulps=256)
    assert_close_f32(y[1], outs[4], ulps=256)


# -- options ---------------------------------------------------------------------------------------------------------

def test_weight_norm_removal_keeps_the_output(saved, voc):
    kept = DisCoder(LoadOptions(weights_path=str(saved[0]), params={"remove_weight_norm": False}))
    keys = kept.model.state_dict()
    assert any("parametrizations" in k for k in keys) and any(k.endswith("weight_g") for k in keys)
    assert not any("parametrizations" in k or k.endswith("weight_g") for k in voc.model.state_dict())
    audio = torch.randn(2, 3000) * 0.1
    assert_close_f32(kept.copy_synthesis(audio), voc.copy_synthesis(audio), ulps=256)


def test_skip_follows_the_checkpoint_stage(tmp_path, voc):
    model = tiny_model()
    stage1 = DisCoder(LoadOptions(weights_path=str(write_checkpoint(tmp_path / "s1", model, training_step=5000))))
    assert not stage1.use_skip and voc.use_skip
    forced = DisCoder(LoadOptions(weights_path=str(tmp_path / "s1"), params={"skip": True}))
    assert forced.use_skip
    audio = torch.randn(1, 2000) * 0.1
    with torch.no_grad():
        mel = stage1.analyse(audio)
        z, _ = model.encoder(mel)
        no_skip = model.decoder.dac_decoder(z).squeeze(1)[:, :2000]
    assert_close_f32(stage1.copy_synthesis(audio), no_skip, ulps=256)
    assert (forced.copy_synthesis(audio) - stage1.copy_synthesis(audio)).abs().max() > 1e-4


def test_random_init_and_params_checks():
    voc = DisCoder(LoadOptions(params={"random_init": True, "config": TINY, "seed": 7}))
    again = DisCoder(LoadOptions(params={"random_init": True, "config": TINY, "seed": 7}))
    audio = torch.randn(1, 1000) * 0.1
    assert torch.equal(voc.copy_synthesis(audio), again.copy_synthesis(audio))
    assert voc.config()["weights_source"] == "random initialisation"
    with pytest.raises(ValueError, match="padding"):
        DisCoder(LoadOptions(params={"random_init": True, "config": TINY, "padding": "bogus"}))
    with pytest.raises(ValueError, match="unknown params"):
        DisCoder(LoadOptions(params={"random_init": True, "config": TINY, "bogus": 1}))


@pytest.mark.parametrize("precision,tolerance", [("bf16", 0.06), ("fp16", 0.01)])
def test_reduced_precision(saved, voc, precision, tolerance):
    low = DisCoder(LoadOptions(weights_path=str(saved[0]), precision=precision))
    assert next(low.model.parameters()).dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    torch.manual_seed(8)
    audio = torch.randn(1, 3000) * 0.1
    out, ref = low.copy_synthesis(audio), voc.copy_synthesis(audio)
    assert out.shape == (1, 3000) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - ref).abs().max() < tolerance * ref.abs().max()


def test_quant_latents_variant(tmp_path):
    config = copy.deepcopy(TINY)
    config["model"].update(predict_type="quant_latents", n_codebooks=3, codebook_dim=4)
    model = tiny_model(config=config)
    assert model.encoder.output_conv.out_channels == 12
    assert "dac_encoder_quantizer.quantizers.2.out_proj.weight_v" in model.state_dict()
    folder = write_checkpoint(tmp_path / "q", model, config=config)
    voc = DisCoder(LoadOptions(weights_path=str(folder)))
    audio = torch.randn(1, 1500) * 0.1
    with torch.no_grad():
        mel = voc.analyse(audio)
        pred, skip = model.encoder(mel)
        parts = pred.reshape(1, 3, 4, -1)
        z = sum(q.out_proj(parts[:, i]) for i, q in enumerate(model.dac_encoder_quantizer.quantizers))
        expected = model.decoder.dac_decoder(z + skip).squeeze(1)[:, :1500]
    assert_close_f32(voc.copy_synthesis(audio), expected, ulps=256)


def test_padding_rule_only_changes_the_end_of_a_clip(saved, voc):
    minimal = DisCoder(LoadOptions(weights_path=str(saved[0]), params={"padding": "minimal"}))
    torch.manual_seed(6)
    audio = torch.randn(1, 40000) * 0.1  # reference pads to 49152 samples, minimal to 40448
    a, b = voc.copy_synthesis(audio), minimal.copy_synthesis(audio)
    assert_close_f32(a[:, :20000], b[:, :20000], ulps=256)  # beyond this tiny model's receptive field
    assert (a[:, -2000:] - b[:, -2000:]).abs().max() > 1e-4


def test_checkpoint_without_ddp_prefix(tmp_path, saved):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY))
    torch.save({"model_state_dict": saved[1].state_dict()}, folder / "model.pt")
    voc = DisCoder(LoadOptions(weights_path=str(folder)))
    audio = torch.randn(1, 1200) * 0.1
    assert voc.use_skip
    assert_close_f32(voc.copy_synthesis(audio), reference_output(saved[1], audio), ulps=256)


@pytest.mark.slow
def test_full_size_random_init_runs():
    entry = vocoder_registry().get("discoder")
    voc = entry.factory(LoadOptions(params={**entry.default_params, "random_init": True}))
    # Weight norm is folded: one weight per conv instead of g and v (the filters are buffers of 12 taps).
    stored = sum(v.numel() for k, v in voc.model.state_dict().items() if not k.endswith("filter"))
    assert stored / 1e6 == pytest.approx(430.02, abs=0.01)
    out = voc.copy_synthesis(torch.randn(1, 1000) * 0.1)
    assert out.shape == (1, 1000) and torch.isfinite(out).all()
