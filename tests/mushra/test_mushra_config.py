"""Config model: YAML round trip, webMUSHRA's own layout, validation errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from mushra.config import (ConfigError, MushraPage, Page, PageGroup, TestConfig, dump_config, find_config,
                           load_config, parse_yaml, read_raw, rewrite_audio_paths, write_config)

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


# -- webMUSHRA's YAML reader (yaml.js 0.3.0) ---------------------------------------------------------------------
# Texts that break a YAML writer or reader somewhere: '+', '&', '=', ': ', ' #', quotes, backslashes, line breaks,
# tabs, YAML words and numbers as text, leading indicator characters, non-ASCII and astral characters.
NASTY_TEXTS = [
    "A+B & C=D 100%", "ünïcødé ✓ 日本語 🎧", "Reminder: rate it", "ends with colon:", "x #not a comment",
    '"quoted" and \'single\'', "back\\slash \\n literal", "two\nlines", "tab\there", "yes", "No", "on", "true",
    "null", "~", "", " ", "123", "0x1f", "1e5", "- dash", "[bracket", "{brace", "*star", "&amp", "!bang", "%pct",
    "@at", "`tick", "|pipe", ">gt", "#hash", "? q", "a: b: c", "nul\x00", "\x7fdel",
    "zw\ufeffj", "nbsp\u00a0é", "Infinity", "NaN", "Yes", "OFF", "y", "Null", "audio/x-1.wav", "_a.b",
]


def _nasty_config() -> TestConfig:
    labels = ["voc", "yes", "a b", "x:y", "1", "true", "ü-label", "has: colon", "null"]
    stimuli = {label: f"audio/item01/{k}.wav" for k, label in enumerate(labels)}
    m1 = MushraPage(id="item01", name="Item: one", content=" | ".join(NASTY_TEXTS[:8]), reference="audio/r.wav",
                    stimuli=stimuli, extra={"nested": [[], {}, [["deep"]], {"k": [1, 2.5, None, True]}]})
    m2 = MushraPage(id="item02", name="#2", content="\n".join(NASTY_TEXTS), reference="audio/r.wav",
                    stimuli={"voc": "audio/v.wav"}, createAnchor35=True)
    inner = PageGroup([Page("generic", {"type": "generic", "id": "g", "content": "- - random"}),
                       Page("generic", {"type": "generic", "id": "h", "content": "random"})])
    fin = Page("finish", {"type": "finish", "name": "Bye", "content": "Thanks: bye", "questionnaire": [
        {"type": "number", "name": "age", "label": "Age", "min": 0, "max": 120, "default": ""},
        {"type": "likert", "name": "q", "label": "Q?", "response": [{"value": v, "label": v} for v in NASTY_TEXTS]},
    ]})
    return TestConfig(testname="T: 'x' & \"y\"", testId="123", pages=[
        Page("volume", {"type": "volume", "id": "v", "stimulus": "audio/r.wav", "defaultVolume": 0.5,
                        "tiny": 1e-05, "big": 1.5e20, "neg": -3}),
        PageGroup([m1, m2, inner], random=True), PageGroup([Page("generic", {"type": "generic", "id": "x"})]), fin,
    ], extra={"custom": {"on": "off", "list": NASTY_TEXTS}})


def _pages_typed(items: list) -> list:
    """The page structure as webMUSHRA's startup.js walks it: groups as lists ("random" first), pages by type."""
    out = []
    for it in items:
        if isinstance(it, list):
            rand = bool(it) and it[0] == "random"
            out.append(["random", *_pages_typed(it[1:])] if rand else _pages_typed(it))
        else:
            assert isinstance(it, dict) and isinstance(it.get("type"), str), f"page without a type: {it!r}"
            out.append(it["type"])
    return out


def test_written_config_reads_the_same_in_webmushras_yaml_reader(tmp_path: Path, webmushra_yaml) -> None:
    cfg = _nasty_config()
    path = tmp_path / "config.yaml"
    write_config(cfg, path)
    result = webmushra_yaml([path])[str(path)]
    assert "error" not in result, result
    js = result["ok"]
    assert _pages_typed(js["pages"]) == ["volume", ["random", "mushra", "mushra", ["generic", "generic"]],
                                         ["generic"], "finish"]
    assert js == cfg.to_dict()          # every string, number, boolean, null and key exactly as written
    assert read_raw(path) == js         # and the server reads the same


def test_written_config_round_trips_without_node(tmp_path: Path) -> None:
    cfg = _nasty_config()
    write_config(cfg, tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    assert read_raw(tmp_path / "config.yaml") == cfg.to_dict()
    assert yaml.safe_load(text) == cfg.to_dict()
    assert load_config(tmp_path / "config.yaml") == cfg
    # yaml.js reads a list nested on the dash line ("- - random") as the string "- random": never written.
    assert not any(line.lstrip().startswith("- -") for line in text.splitlines())
    assert "  -\n    - random\n" in text


# Entries webMUSHRA's reader accepts and PyYAML rejects ("mapping values are not allowed here"), with the value
# yaml.js 0.3.0 gives for each (run in node in this repository's tests when node is installed).
COLON_CASES = [
    ("content: Reminder: In a MUSHRA test you rate.\n", {"content": "Reminder: In a MUSHRA test you rate."}),
    ("content: a: b # comment\n", {"content": "a: b"}),
    ("content: x: y#z\n", {"content": "x: y#z"}),
    ("content: ends with:\n", {"content": "ends with:"}),
    ("k: first\n  second: line\n  third\nnext: 1\n", {"k": "first\nsecond: line\nthird", "next": 1}),
    ("pages:\n  - type: generic\n    content: one: two\n    id: p\n  - type: finish\n",
     {"pages": [{"type": "generic", "content": "one: two", "id": "p"}, {"type": "finish"}]}),
    ("- k: a: b\n  j: c\n", [{"k": "a: b", "j": "c"}]),
    ("a:\n  b: x: y\n  c: [1, 2]\n", {"a": {"b": "x: y", "c": [1, 2]}}),
    ("likert: [yes, No, on, TRUE, false, Null, ~, 12, -3, 0.5, 1e5]\n",
     {"likert": ["yes", "No", "on", True, False, None, None, 12, -3, 0.5, 100000]}),
    ("ids: [09, 0815, 012, -012, +012, 0, 0x1F, 1_000, 1.5e3, 3., .5, 2002-x]\n",
     {"ids": [0, 13, 10, -10, 12, 0, 31, "1_000", 1500, 3, 0.5, "2002-x"]}),
]


@pytest.mark.parametrize("text, expected", COLON_CASES)
def test_reads_configs_as_webmushra_does(tmp_path: Path, text: str, expected: object) -> None:
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    assert parse_yaml(text) == expected
    if isinstance(expected, dict):
        assert read_raw(tmp_path / "c.yaml") == expected


def test_colon_cases_match_webmushras_reader(tmp_path: Path, webmushra_yaml) -> None:
    paths = []
    for k, (text, _) in enumerate(COLON_CASES):
        paths.append(tmp_path / f"c{k}.yaml")
        paths[-1].write_text(text, encoding="utf-8")
    got = webmushra_yaml(paths)
    for p, (text, expected) in zip(paths, COLON_CASES):
        assert got[str(p)] == {"ok": expected}, text


@pytest.mark.parametrize("text, message", [
    ("content: [a, b\n", "flow sequence"),                   # broken in both readers
    ("a: 1\nb: x: y\nc: {d\n", "flow mapping, line 4"),       # the lenient entry is read, the next error still shown
    ("content: 'quoted': b\n", "mapping values are not allowed here"),   # quoted values are not re-read
])
def test_invalid_yaml_is_still_an_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_yaml(text, "c.yaml")


def test_webmushra_example_layout_with_colons_and_shared_ids(tmp_path: Path) -> None:
    """The shapes of webMUSHRA's default.yaml and spatial.yaml: an unquoted ': ' in content, pages sharing an id,
    and a response naming its stimulus by label (not an audio path)."""
    text = WEBMUSHRA_STYLE.replace("content: training", "content: Reminder: In a MUSHRA test you rate.")
    text += """\
    - type: spatial
      id : test_page
      name: Spatial
      content: evaluate: width
      stimuli:
          C1: configs/resources/audio/mono_c1.wav
      responses:
        - type: lev
          name: lev1
          stimulus: C1
    - type: spatial
      id : test_page
      name: Spatial 2
      stimuli:
          C1: configs/resources/audio/mono_c1.wav
"""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "configs" / "default.yaml")
    assert cfg.page("trial1").content == "Reminder: In a MUSHRA test you rate."
    assert [p.type for p in cfg.iter_pages() if p.id == "test_page"] == ["spatial", "spatial"]
    assert "C1" not in cfg.audio_paths()
    out = rewrite_audio_paths(read_raw(tmp_path / "configs" / "default.yaml"), lambda p: "/audio/" + p)
    assert out["pages"][5]["responses"][0]["stimulus"] == "C1"
    assert out["pages"][5]["stimuli"]["C1"] == "/audio/configs/resources/audio/mono_c1.wav"


@pytest.mark.parametrize("char", ["\x85", "\x9f", "\u2028", "\u2029"])
def test_control_characters_that_no_spelling_keeps_are_refused(tmp_path: Path, char: str) -> None:
    cfg = _nasty_config()
    cfg.testname = f"pasted{char}text"
    with pytest.raises(ConfigError, match=f"U\\+{ord(char):04X}"):
        write_config(cfg, tmp_path / "config.yaml")
    assert not (tmp_path / "config.yaml").exists()


def test_stored_page_ids_stay_unique() -> None:
    d = yaml.safe_load(WEBMUSHRA_STYLE)
    d["pages"].insert(1, {"type": "generic", "id": "trial1", "content": "same id as a mushra page"})
    with pytest.raises(ConfigError, match="'trial1' is used twice"):
        TestConfig.from_dict(d)


def test_every_webmushra_example_config_reads_as_in_webmushra(webmushra_yaml) -> None:
    """With a webMUSHRA checkout in WEBMUSHRA_DIR (not in this repository): each of its configs/*.yaml reads
    here exactly as its own reader reads it, and loads as a test config."""
    value = os.environ.get("WEBMUSHRA_DIR")
    if not value:
        pytest.skip("WEBMUSHRA_DIR not set: give the path of a webMUSHRA checkout "
                    "(git clone https://github.com/audiolabs/webMUSHRA)")
    paths = sorted((Path(value) / "configs").glob("*.yaml"))
    assert paths, f"{value}/configs has no *.yaml"
    js = webmushra_yaml(paths)
    for p in paths:
        assert "ok" in js[str(p)], (p.name, js[str(p)])
        assert read_raw(p) == js[str(p)]["ok"], p.name
        TestConfig.from_dict(read_raw(p))
