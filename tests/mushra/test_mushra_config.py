"""Config model: YAML round trip, webMUSHRA's own layout, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mushra.config import (ConfigError, MushraPage, Page, PageGroup, TestConfig, dump_config, find_config,
                           load_config, read_raw, rewrite_audio_paths, write_config)

WEBMUSHRA_STYLE = """\
testname: webMUSHRA Example
testId: default_example
bufferSize: 2048
stopOnErrors: true
showButtonPreviousPage: true
remoteService: service/write.php

pages:
    - type: generic
      id: first_page
      name: Welcome
      content: Hello ünïcode & <b>html</b>
    - type: volume
      id: vol
      name: Volume
      content: set it
      stimulus: configs/resources/audio/mono_ref.wav
      defaultVolume: 0.5
    - type: mushra
      id: trial1
      name: MUSHRA
      content: training
      showWaveform: true
      enableLooping: true
      reference: configs/resources/audio/mono_ref.wav
      createAnchor35: true
      createAnchor70: true
      stimuli:
          C1: configs/resources/audio/mono_c1.wav
          C2: configs/resources/audio/mono_c2.wav
    -
          - random
          - type: mushra
            id: trial_random_1
            name: MUSHRA - Random 1
            content: x
            reference: configs/resources/audio/mono_ref.wav
            stimuli:
                C1: configs/resources/audio/mono_c1.wav
          - type: paired_comparison
            id: pc1
            name: PC
            content: y
            reference: configs/resources/audio/mono_ref.wav
            stimuli:
                C1: configs/resources/audio/mono_c1.wav
    - type: finish
      name: Thank you
      content: Thanks
      showResults: true
      writeResults: false
      questionnaire:
          - type: number
            label: Age
            name: age
          - type: likert
            name: gender
            label: Gender
            response:
             - value: female
               label: Female
"""


def _sample_config() -> TestConfig:
    m1 = MushraPage(id="item01", name="MUSHRA", content="rate ünï + & =", reference="audio/a/reference.wav",
                    stimuli={"reference": "audio/a/reference.wav", "voc": "audio/a/voc.wav"}, extra={"foo": [1, 2]})
    m2 = MushraPage(id="item02", name="MUSHRA", content="", reference="audio/b/reference.wav",
                    stimuli={"voc": "audio/b/voc.wav"}, createAnchor70=True)
    fin = Page("finish", {"type": "finish", "name": "Bye", "questionnaire": [{"type": "text", "name": "q", "label": "Q"}]})
    return TestConfig(testname="T", testId="t1", pages=[Page("generic", {"type": "generic", "id": "w", "content": "hi"}),
                                                       PageGroup([m1, m2], random=True), fin],
                      language="de", extra={"custom": {"a": 1}})


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = _sample_config()
    write_config(cfg, tmp_path / "config.yaml")
    back = load_config(tmp_path / "config.yaml")
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    assert raw["pages"][1][0] == "random"
    assert raw["custom"] == {"a": 1}


def test_reads_webmushra_layout_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text(WEBMUSHRA_STYLE, encoding="utf-8")
    path = find_config(tmp_path)
    assert path == tmp_path / "configs" / "default.yaml"
    cfg = load_config(path)
    assert [p.id for p in cfg.mushra_pages()] == ["trial1", "trial_random_1"]
    assert cfg.mushra_pages()[0].conditions() == ["C1", "C2", "reference", "anchor35", "anchor70"]
    assert cfg.mushra_pages()[1].conditions() == ["C1", "reference"]
    assert isinstance(cfg.pages[3], PageGroup) and cfg.pages[3].random
    assert cfg.page("pc1").type == "paired_comparison"
    assert [q["name"] for q in cfg.questionnaire()] == ["age", "gender"]
    assert "configs/resources/audio/mono_c2.wav" in cfg.audio_paths()
    again = TestConfig.from_dict(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_rewrite_audio_paths_keeps_structure(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(WEBMUSHRA_STYLE, encoding="utf-8")
    raw = read_raw(tmp_path / "c.yaml")
    out = rewrite_audio_paths(raw, lambda p: "/audio/" + p)
    assert out["pages"][1]["stimulus"] == "/audio/configs/resources/audio/mono_ref.wav"
    assert out["pages"][3][0] == "random"
    assert out["pages"][3][1]["stimuli"]["C1"] == "/audio/configs/resources/audio/mono_c1.wav"
    assert out["pages"][0]["content"] == raw["pages"][0]["content"]
    assert raw["pages"][1]["stimulus"] == "configs/resources/audio/mono_ref.wav"  # input untouched


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("testId"), "testId"),
    (lambda d: d.update(pages=[]), "pages"),
    (lambda d: d["pages"][2].pop("stimuli"), "stimuli"),
    (lambda d: d["pages"][2].update(enableLooping="yes"), "enableLooping"),
    (lambda d: d["pages"][0].pop("type"), "type"),
    (lambda d: d["pages"][3].append({**d["pages"][2]}), "twice"),
    (lambda d: d.update(bufferSize="big"), "bufferSize"),
])
def test_validation_errors(mutate, message: str) -> None:
    d = yaml.safe_load(WEBMUSHRA_STYLE)
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        TestConfig.from_dict(d)


def test_find_config_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config"):
        find_config(tmp_path)
    (tmp_path / "configs").mkdir()
    for n in ("a.yaml", "b.yaml"):
        (tmp_path / "configs" / n).write_text(WEBMUSHRA_STYLE, encoding="utf-8")
    with pytest.raises(ConfigError, match="several"):
        find_config(tmp_path)
    assert find_config(tmp_path, "b") == tmp_path / "configs" / "b.yaml"
    (tmp_path / "config.yaml").write_text(WEBMUSHRA_STYLE, encoding="utf-8")
    assert find_config(tmp_path) == tmp_path / "config.yaml"
