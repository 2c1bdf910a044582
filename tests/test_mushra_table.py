"""The whole loop a user runs: bench run -> bench mushra build -> listeners post -> analyze -> table column."""

from mushra.app import create_app
from mushra.config import find_config, load_config
from mushra.testing import make_session, webmushra_body

from bench.cli import main


def test_run_build_rate_analyze_table(audio_folder, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", "--dataset", "folder", "--path", str(audio_folder), "--domain", "music", "--vocoders",
                 "reference,anchor35,griffinlim", "--metrics", "mrmel", "--out", str(run_dir), "--quiet",
                 "--device", "cpu", "--set", "griffinlim.iterations=4"]) == 0
    test_dir = tmp_path / "test"
    assert main(["mushra", "build", str(run_dir), "--vocoders", "griffinlim", "--items", "2", "--out", str(test_dir),
                 "--excerpt-seconds", "1.0"]) == 0
    cfg = load_config(find_config(test_dir))
    client = create_app(test_dir, admin_token="t").test_client()
    for i in range(3):
        scores = {p.id: {"reference": 100, "griffinlim": 60 + 10 * i, "anchor35": 10, "anchor70": 40}
                  for p in cfg.mushra_pages()}
        r = client.post("/service/write.php", data=webmushra_body(make_session(cfg, f"uuid-{i}", scores=scores)),
                        content_type="application/x-www-form-urlencoded")
        assert r.status_code == 200 and r.data == b""
    assert main(["mushra", "analyze", str(test_dir)]) == 0
    assert "griffinlim" in capsys.readouterr().out
    assert main(["table", str(run_dir), "--mushra", str(test_dir)]) == 0
    out = capsys.readouterr().out
    assert "MUSHRA ↑" in out
    row = next(line for line in out.splitlines() if line.startswith("| griffinlim |"))
    assert "70.0 ±" in row  # mean of 60, 70, 80 over both items
    # the only system under test is the best of its column, with nothing to compare it with: the caption says so
    # rather than naming a test over zero comparisons
    assert "**70.0 ±" in row and "MUSHRA: mean ± 95% CI over all ratings; bold: the only system under test" in out
    assert "0 comparisons" not in out
