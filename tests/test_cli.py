"""The `bench` command as a user runs it (in-process through main(), and once as a real console script)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main


def test_score_prints_one_line_per_metric(tmp_path, music, capsys):
    x = music(1.0)
    sf.write(tmp_path / "ref.wav", x, 44100)
    sf.write(tmp_path / "deg.wav", (x * 0.5 + 0.01).astype(np.float32)[:-37], 44100)  # shorter: aligned
    assert main(["score", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"), "--metrics", "mrstft,mrmel",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("mrstft") and lines[1].startswith("mrmel")
    assert "-37 samples" in out.err


def test_score_same_file_is_perfect(tmp_path, music, capsys):
    sf.write(tmp_path / "ref.wav", music(1.0), 44100)
    assert main(["score", str(tmp_path / "ref.wav"), str(tmp_path / "ref.wav"), "--metrics", "mrstft"]) == 0
    assert "0.0000" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.wav").write_bytes(b"nope")
    assert main(["score", str(tmp_path / "bad.wav"), str(tmp_path / "bad.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err
    assert main(["run", "--vocoders", "nosuch", "--out", str(tmp_path / "r")]) == 2
    assert "unknown vocoder 'nosuch'" in capsys.readouterr().err
    assert main(["table", str(tmp_path / "missing")]) == 2


def test_folder_run_and_table(tmp_path, audio_folder, capsys):
    out = tmp_path / "run"
    rc = main(["run", "--dataset", "folder", "--path", str(audio_folder), "--domain", "speech", "--vocoders",
               "reference,anchor35", "--metrics", "mrstft", "--out", str(out), "--quiet", "--device", "cpu"])
    assert rc == 0
    text = capsys.readouterr()
    assert "**speech**" in text.out and "| anchor35 |" in text.out
    assert "skipped clip corrupt" in text.err and "skipped clip silent" in text.err
    assert main(["table", str(out), "--format", "tex", "--rtf"]) == 0
    tex = capsys.readouterr().out
    assert r"\toprule" in tex and "RTF" in tex
    for name in ("table.md", "table.tex", "table.csv"):
        assert (out / name).is_file()


def test_listings(capsys):
    assert main(["vocoders"]) == 0
    out = capsys.readouterr().out
    assert "griffinlim" in out and "ready" in out
    assert main(["metrics"]) == 0
    assert "mrstft" in capsys.readouterr().out
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "folder" in out and "demo" in out


def test_console_script_installed():
    exe = Path(sys.executable).with_name("bench")
    if not exe.is_file():
        pytest.skip(f"no bench console script beside {sys.executable} (not an installed environment)")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "vocoders" in res.stdout


def test_metrics_lists_variants_with_sources(capsys):
    assert main(["metrics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dac = "descriptinc/descript-audio-codec"
    for name, repo in [("mrstft@discoder", "ETH-DISCO/discoder"), ("mrmel@discoder", "ETH-DISCO/discoder"),
                       ("mrstft@dac", dac), ("mrmel@dac", dac), ("mrstft@bigvgan", "NVIDIA/BigVGAN")]:
        i = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        assert "source: github " + repo in lines[i + 1]
    assert any(line.startswith("mrstft ") for line in lines)
