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
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("mrstft") and lines[1].startswith("mrmel")
    assert all(line.startswith(("note: ", "warning: ")) for line in lines[2:])  # then what was done, one line each
    assert "note: mrstft: trimmed 37 samples (0.001 s) at the end of REF to DEG's length" in lines
    assert any(line.startswith("warning: DEG is ") and "dB quieter than REF" in line for line in lines)


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
    # how many units ran where (default: one worker process per core for the CPU metrics)
    assert "references: 5 units: main 5" in text.err and "metrics: 3 units: worker-" in text.err
    assert "synthesis: 6 units: main 6" in text.err
    assert main(["table", str(out), "--format", "tex", "--rtf"]) == 0
    tex = capsys.readouterr().out
    assert r"\toprule" in tex and "RTF" not in tex  # the reference and anchors are not timed: no RTF column
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


# -- bad input: one line, before any work --------------------------------------------------------------------------
def _exit_status(argv: list[str]) -> int:
    """main()'s status, also for argparse usage errors (which exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _run_argv(folder, out, *extra, domain=True):
    argv = ["run", "--dataset", "folder", "--path", str(folder), "--vocoders", "reference,griffinlim", "--metrics",
            "mrstft", "--device", "cpu", "--quiet", "--out", str(out)]
    return argv + (["--domain", "music"] if domain else []) + list(extra)


@pytest.mark.parametrize("extra, says", [
    (["--loudness", "loud"], "argument --loudness: expected a target in LUFS"),
    (["--loudness", "nan"], "argument --loudness: expected a finite target"),
    (["--set", "griffinlim.iterations=-5"], "griffinlim.iterations: must be an integer >= 0, got -5"),
    (["--set", "griffinlim.iterations=abc"], "griffinlim.iterations: must be an integer >= 0, got 'abc'"),
    (["--set", "griffinlim.momentum=1"], "griffinlim.momentum: must be a number >= 0 and < 1, got 1"),
    (["--set", "griffinlim.iters=5"], "griffinlim.iters: unknown parameter (its parameters are iterations, "
                                      "momentum, seed)"),
    (["--set", "reference.gain=2"], "reference.gain: unknown parameter (it has no parameters)"),
    (["--set", "anchor35.cutoff_hz=2000"], "--set anchor35: anchor35 is not in --vocoders"),
    (["--set", "nosuch.x=1"], "unknown vocoder 'nosuch'"),
    (["--metrics", ""], "--metrics is empty"),
    (["--vocoders", " , "], "--vocoders is empty"),
    (["--limit", "-1"], "argument --limit: expected an integer >= 1, got -1"),
    (["--limit", "0"], "argument --limit: expected an integer >= 1, got 0"),
    (["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got 0"),
    (["--jobs", "-2"], "argument --jobs: expected an integer >= 0, got -2"),
    (["--clip-seconds", "0"], "argument --clip-seconds: expected a number of seconds > 0"),
    (["--weights", "griffinlim=/tmp"], "--weights griffinlim: vocoder 'griffinlim' uses no weights"),
])
def test_bad_run_arguments_are_one_line_and_touch_nothing(tmp_path, audio_folder, capsys, extra, says):
    out = tmp_path / "run"
    assert _exit_status(_run_argv(audio_folder, out, *extra)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(("bench: error:", "bench run: error:")) and says in last, err
    assert not out.exists()


def test_executor_ray_without_ray_is_one_line_and_touches_nothing(tmp_path, audio_folder, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where the extra is not installed
    out = tmp_path / "run"
    assert _exit_status(_run_argv(audio_folder, out, "--executor", "ray")) == 2
    err = capsys.readouterr().err
    assert err.strip() == "bench: error: --executor ray needs Ray: pip install 'vocoder-bench[ray]'"
    assert not out.exists()


def test_folder_without_domain_is_an_error(tmp_path, audio_folder, capsys):
    out = tmp_path / "run"
    assert _exit_status(_run_argv(audio_folder, out, domain=False)) == 2
    assert capsys.readouterr().err.strip() == (
        "bench: error: dataset 'folder' needs --domain music or --domain speech (it selects the metrics' variants "
        "and the table the clips go to)")
    assert not out.exists()


def test_set_values_are_stored_in_canonical_form(tmp_path, audio_folder, capsys, monkeypatch):
    import bench.runner

    seen = {}
    monkeypatch.setattr(bench.runner, "run", lambda cfg: seen.setdefault("cfg", cfg) and 1 / 0)
    _exit_status(_run_argv(audio_folder, tmp_path / "run", "--set", "griffinlim.iterations=8.0", "--set",
                           "griffinlim.momentum=0"))
    params = seen["cfg"].vocoder_params["griffinlim"]
    assert params == {"iterations": 8, "momentum": 0.0}
    assert type(params["iterations"]) is int and type(params["momentum"]) is float


def test_results_store_that_is_not_a_database(tmp_path, audio_folder, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"this is not an SQLite file, just text that is long enough" * 40)
    assert main(["table", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err and "file is not a database" in err
    assert main(_run_argv(audio_folder, out, "--vocoders", "reference")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err and "results.sqlite" in err


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, capsys):
    import bench.cli as cli

    def broken(args):
        raise RuntimeError("something\nwent wrong")

    monkeypatch.setattr(cli, "cmd_metrics", broken)
    monkeypatch.delenv("BENCH_DEBUG", raising=False)
    assert main(["metrics"]) == 1
    assert capsys.readouterr().err == ("bench: unexpected error: RuntimeError: something went wrong (rerun with "
                                       "--debug or BENCH_DEBUG=1 for the traceback)\n")
    assert main(["--debug", "metrics"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise RuntimeError("something' in err
    monkeypatch.setenv("BENCH_DEBUG", "1")
    assert main(["metrics"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_os_errors_are_one_line(monkeypatch, capsys):
    import bench.cli as cli

    def denied(args):
        raise PermissionError(13, "Permission denied", "/results/x/table.md")

    monkeypatch.setattr(cli, "cmd_metrics", denied)
    monkeypatch.delenv("BENCH_DEBUG", raising=False)
    assert main(["metrics"]) == 1
    assert capsys.readouterr().err == "bench: error: [Errno 13] Permission denied: '/results/x/table.md'\n"


# -- help ----------------------------------------------------------------------------------------------------------
def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # unwrapped


def test_run_help_lists_names_and_defaults(capsys):
    from bench.metrics.registry import metric_registry
    from bench.vocoders.registry import vocoder_registry
    from bench_datasets.registry import dataset_registry

    text = _help(["run", "--help"], capsys)
    for reg in (vocoder_registry(), metric_registry(), dataset_registry()):
        known = text.split("Known: ")
        assert any(all(n in part.split(".")[0] for n in reg.names()) for part in known[1:]), reg.kind
    assert "Default: mrstft,mrmel,cdpam,visqol." in text and "Default: demo." in text
    assert "Default: -24." in text


def test_score_help_says_which_metrics_by_default(capsys):
    text = _help(["score", "--help"], capsys)
    assert "Default: mrstft,mrmel." in text and "add cdpam and visqol" in text
    from bench.cli import build_parser

    assert build_parser().parse_args(["score", "a.wav", "b.wav"]).metrics == "mrstft,mrmel"


def test_top_help_has_examples_that_parse(capsys):
    import re
    import shlex

    from bench.cli import EXAMPLES, build_parser

    text = _help(["--help"], capsys)
    assert "examples: bench datasets prepare demo" in text
    # Each example (continuation lines joined, the trailing description dropped) is a valid command line.
    joined = re.sub(r"\\\n\s*", " ", EXAMPLES)
    commands = [line.strip().split("   ")[0] for line in joined.splitlines() if line.strip().startswith("bench ")]
    assert len(commands) >= 6
    parser = build_parser()
    for cmd in commands:
        parser.parse_args(shlex.split(cmd)[1:])


def test_version(capsys):
    from importlib.metadata import version

    assert _help(["--version"], capsys) == f"bench (vocoder-bench) {version('vocoder-bench')}"


def test_top_help_does_not_import_torch():
    code = ("import sys, bench.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(repr(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules)))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stderr == "[]"


def test_vocoders_verbose_lists_parameters(capsys):
    assert main(["vocoders", "-v"]) == 0
    out = capsys.readouterr().out
    assert "--set griffinlim.iterations=32 (an integer >= 0): Griffin-Lim iterations" in out
    assert "--set anchor35.cutoff_hz=3500.0 (a number > 0 and < 22050)" in out


def test_set_for_a_vocoder_left_out_of_the_default_selection(tmp_path, audio_folder, capsys, monkeypatch):
    monkeypatch.delenv("BENCH_WEIGHTS_HIFIGAN", raising=False)  # hifigan has no hub copy: env + models dir
    argv = ["run", "--dataset", "folder", "--path", str(audio_folder), "--domain", "music", "--metrics", "mrstft",
            "--models-dir", str(tmp_path / "no_models"), "--set", "hifigan.seed=3", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "--set hifigan: hifigan is not part of this run (its weights are not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_datasets_info_folder_needs_a_domain(audio_folder, capsys):
    assert main(["datasets", "info", "folder", "--path", str(audio_folder)]) == 2
    assert "dataset 'folder' needs --domain music or --domain speech" in capsys.readouterr().err
    assert main(["datasets", "info", "folder", "--path", str(audio_folder), "--domain", "speech"]) == 0
    assert '"speech": 5' in capsys.readouterr().out

def test_metrics_lists_variants_with_sources(capsys):
    assert main(["metrics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dac = "descriptinc/descript-audio-codec"
    for name, repo in [("mrstft@discoder", "ETH-DISCO/discoder"), ("mrmel@discoder", "ETH-DISCO/discoder"),
                       ("mrstft@dac", dac), ("mrmel@dac", dac), ("mrstft@bigvgan", "NVIDIA/BigVGAN")]:
        i = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
        assert "source: github " + repo in lines[i + 1]
    assert any(line.startswith("mrstft ") for line in lines)
