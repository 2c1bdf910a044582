"""`--dataset manifest --path FILE.csv|jsonl`: any list of files, without code."""

import json

import pytest
import soundfile as sf

from bench.cli import main
from bench.errors import MissingDatasetError
from bench.results.store import ResultsStore
from bench_datasets.manifest import ManifestDataset
from tests.conftest import music_like


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "audio"
    (d / "b").mkdir(parents=True)
    sf.write(d / "take.wav", music_like(3.0, 44100, seed=1), 44100)
    sf.write(d / "b" / "take.wav", music_like(1.0, 22050, seed=2), 22050)
    return d


def test_csv_rows_offsets_ids(files, tmp_path):
    m = tmp_path / "list.csv"
    m.write_text("path,domain,offset,duration,id\n"
                 "audio/take.wav,music,1.0,1.5,chorus\n"
                 f"{files / 'b' / 'take.wav'},speech,,,\n"
                 "audio/take.wav,music,,,\n")
    clips = ManifestDataset(m).clips()
    assert [c.id for c in clips] == ["chorus", "take", "take_2"]
    assert (clips[0].offset, clips[0].duration, clips[0].domain) == (1.0, 1.5, "music")
    assert (clips[1].offset, clips[1].duration, clips[1].domain) == (0.0, None, "speech")
    assert clips[0].path == str(files / "take.wav") and clips[1].path == str(files / "b" / "take.wav")


def test_jsonl_and_run(files, tmp_path):
    m = tmp_path / "list.jsonl"
    rows = [{"path": "audio/take.wav", "domain": "music", "offset": 0.5, "duration": 1.0},
            {"path": "audio/b/take.wav", "domain": "speech", "id": "reading"},
            {"path": "audio/missing.wav", "domain": "music"}]
    m.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out = tmp_path / "run"
    assert main(["run", "--dataset", "manifest", "--path", str(m), "--vocoders", "reference", "--metrics", "mrstft",
                 "--out", str(out), "--quiet", "--jobs", "0"]) == 0
    with ResultsStore.open(out) as s:
        clips = {c["clip_id"]: c for c in s.clips()}
        assert clips["take"]["status"] == "ok" and clips["take"]["duration"] == pytest.approx(1.0)
        assert clips["reading"]["domain"] == "speech"
        assert clips["missing"]["status"] == "error"  # a per-clip error; the other clips are scored
        assert {r["clip_id"] for r in s.scores()} == {"take", "reading"}
        assert s.config()["dataset_description"]["name"] == "manifest"


@pytest.mark.parametrize("text, suffix, why", [
    ("file,domain\na.wav,music\n", ".csv", "lacks column path"),
    ("path,domain\na.wav,noise\n", ".csv", r"list.csv:2: domain must be one of music, speech, got 'noise'"),
    ("path,domain,offset\na.wav,music,soon\n", ".csv", "offset 'soon' is not a number"),
    ("path,domain,duration\na.wav,music,-1\n", ".csv", "duration must be a positive"),
    ("path,domain,id\na.wav,music,x\nb.wav,music,x\n", ".csv", r"list.csv:3: id 'x' is used twice"),
    ("path,domain,id\na.wav,music,a/b\n", ".csv", "may hold only"),
    ("path,domain,gain\na.wav,music,2\n", ".csv", "unknown column gain"),
    ('{"path": "a.wav", "domain": "music"}\nnot json\n', ".jsonl", r"list.jsonl:2: not JSON"),
    ("path,domain\n", ".csv", "lists no file"),
    ("path: a.wav\n", ".yaml", "must be a .csv or .jsonl"),
])
def test_bad_manifest_is_one_line(tmp_path, text, suffix, why):
    m = tmp_path / f"list{suffix}"
    m.write_text(text)
    with pytest.raises(MissingDatasetError, match=why):
        ManifestDataset(m).clips()


def test_cli_error_is_one_line(tmp_path, capsys):
    assert main(["run", "--dataset", "manifest", "--path", str(tmp_path / "none.csv"), "--vocoders", "reference",
                 "--metrics", "mrstft", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.csv is not a file" in err and "\n" not in err
