"""`bench run --vocoders discoder,bigvgan-v2-44k-256x` with weights placed where the README says (models/NAME/),
in the published file formats (tiny architectures, random weights), and the one-line error without them."""

import copy
import json

import pytest
import torch

from bench.cli import main
from bench.results.store import ResultsStore
from bench.vocoders.base import LoadOptions
from bench.vocoders.bigvgan import VARIANTS
from bench.vocoders.discoder import RELEASED_CONFIG
from bench.vocoders.registry import vocoder_registry

TINY_DISCODER = copy.deepcopy(RELEASED_CONFIG)
TINY_DISCODER["model"].update(latent_dim=16, codebook_size=16, initial_out_channels=16, intermediate_dim=12,
                              n_resblocks=2, resblock_kernel_sizes=[3, 5], resblock_dilations=[[1, 3, 5], [1, 3]],
                              dac_decoder={"channels": 32, "rates": [8, 8, 4, 2]})
TINY_BIGVGAN = {**VARIANTS["bigvgan-v2-44k-256x"][1], "upsample_rates": [4, 4, 4, 4],
                "upsample_kernel_sizes": [8, 8, 8, 8], "upsample_initial_channel": 32,
                "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}


def _random(name, config):
    entry = vocoder_registry().get(name)
    return entry.factory(LoadOptions(params={"random_init": True, "remove_weight_norm": False, "config": config}))


@pytest.fixture
def models_dir(tmp_path):
    root = tmp_path / "models"
    d = root / "discoder"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(TINY_DISCODER))
    sd = _random("discoder", TINY_DISCODER).model.state_dict()
    torch.save({"training_step": 300000, "model_state_dict": {f"module.{k}": v for k, v in sd.items()}},
               d / "model.pt")
    b = root / "bigvgan-v2-44k-256x"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(TINY_BIGVGAN))
    torch.save({"generator": _random("bigvgan-v2-44k-256x", TINY_BIGVGAN).model.state_dict()},
               b / "bigvgan_generator.pt")
    return root


def test_run_with_placed_weights(audio_folder, tmp_path, models_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "run"
    rc = main(["run", "--vocoders", "discoder,bigvgan-v2-44k-256x", "--dataset", "folder", "--path", str(audio_folder),
               "--domain", "music", "--metrics", "mrstft,mrmel", "--models-dir", str(models_dir), "--out", str(out),
               "--quiet", "--device", "cpu"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| discoder |" in text and "| bigvgan-v2-44k-256x |" in text
    with ResultsStore.open(out) as s:
        renders = s.renders()
        assert {r["vocoder"] for r in renders} == {"discoder", "bigvgan-v2-44k-256x"}
        for r in renders:
            assert r["sample_rate"] == 44100 and r["native_sample_rate"] == 44100 and r["rtf"] > 0
            assert abs(r["length_diff"]) < 512  # aligned: trimmed by at most a frame or two
        assert len(s.scores()) == 3 * 2 * 2
    assert main(["vocoders", "--models-dir", str(models_dir)]) == 0
    listing = capsys.readouterr().out
    assert "discoder" in listing and str(models_dir / "discoder") in listing


def test_run_without_weights_is_one_line(audio_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["run", "--vocoders", "discoder,bigvgan-v2-44k-256x", "--dataset", "folder", "--path", str(audio_folder),
               "--domain", "music", "--models-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "discoder: weights not found (config.json, model.pt)" in err
    assert str(tmp_path / "empty" / "discoder") in err and "--weights discoder=DIR" in err
    assert not (tmp_path / "run").exists()  # nothing started
