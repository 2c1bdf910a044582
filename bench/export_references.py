"""`bench references RUN --out DIR`: the run's reference clips as evaluated, for rendering with outside code.

Each clip's reference (after excerpting, downmix and loudness normalisation, exactly the samples the metrics
compare against) is written as ``DIR/<clip id>.wav`` (32-bit float), at the evaluation rate or at
``sample_rate`` (converted with the suite's resampler), with ``manifest.json`` and ``manifest.csv`` listing
clip id, file, domain, sample rate, number of samples and the sha256 of the written samples. A user vocodes
the folder with their own model and passes the outputs back with ``bench run ... --renders NAME=DIR``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import soundfile as sf

from bench.audio import resample, save_audio
from bench.audio.resample import RESAMPLER
from bench.errors import BenchError
from bench.results.store import ResultsStore
from bench_datasets.base import sha256_samples

MANIFEST_FIELDS = ("clip_id", "file", "domain", "sample_rate", "n_samples", "sha256")


def export_references(run_dir: Path, out: Path, sample_rate: int | None = None) -> list[dict[str, Any]]:
    """Write the references of the run's current selection (all ok clips for older stores) into ``out``.

    Returns the manifest rows. Raises BenchError when the run has no usable reference, or when a stored
    reference file no longer holds the samples the run evaluated (it was changed on disk).
    """
    run_dir, out = Path(run_dir), Path(out)
    if sample_rate is not None and sample_rate <= 0:
        raise BenchError(f"--sample-rate must be positive, got {sample_rate}")
    rows: list[dict[str, Any]] = []
    with ResultsStore.open(run_dir) as store:
        clips = {c["clip_id"]: c for c in store.clips() if c["status"] == "ok"}
        selection = store.get_meta("selection")
        ids = [c for c in selection if c in clips] if selection is not None else list(clips)
        if not ids:
            raise BenchError(f"{run_dir}: no reference clip stored (run `bench run --out {run_dir}` first)")
        out.mkdir(parents=True, exist_ok=True)
        for cid in ids:
            path = store.audio_path("reference", cid)
            try:
                x, sr = sf.read(str(path), dtype="float32")
            except Exception as err:
                raise BenchError(f"{path}: cannot read the stored reference ({err})") from None
            if sha256_samples(x) != clips[cid]["sha256"]:
                raise BenchError(f"{path} changed since the run evaluated it; rerun `bench run` on {run_dir}")
            sr_out = sample_rate or int(sr)
            y = resample(x, int(sr), sr_out)
            name = f"{cid}.wav"
            save_audio(out / name, y, sr_out)
            rows.append({"clip_id": cid, "file": name, "domain": clips[cid]["domain"], "sample_rate": sr_out,
                         "n_samples": int(y.size), "sha256": sha256_samples(y)})
    meta = {"run": str(run_dir.resolve()), "resampler": RESAMPLER if sample_rate else None,
            "sha256_of": "float32 samples (C order) of each file", "clips": rows}
    (out / "manifest.json").write_text(json.dumps(meta, indent=2))
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return rows
