from bench.results.report import write_report
from bench.runner import RunConfig, run


def test_report_from_a_run(audio_folder, tmp_path):
    out = tmp_path / "r"
    run(RunConfig(out=out, dataset="folder", dataset_options={"path": str(audio_folder), "domain": "music"},
                  vocoders=["reference", "anchor35"], metrics=["mrmel"], device="cpu", progress=False))
    path = write_report(out)
    text = path.read_text()
    assert "<b>" in text and "MR-MEL ↓" in text
    assert "data:image/png;base64," in text
    assert "audio/anchor35/song0.wav" in text
    assert "silent" in text and "corrupt" in text  # failures listed
    assert (out / "plots" / "music_mrmel.png").stat().st_size > 1000
