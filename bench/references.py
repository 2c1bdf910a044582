"""Reference preparation: load each clip, check it, normalise its loudness and keep it in the run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soundfile as sf

from bench.audio import load_audio, normalize_loudness, save_audio, validate
from bench.audio.checks import check_clipping, rms_dbfs
from bench.results.store import ResultsStore
from bench_datasets.base import Clip, sha256_samples

#: Shortest clip the harness accepts: one 2048-sample analysis window at 44.1 kHz is not enough for ViSQOL
#: or CDPAM; half a second is.
MIN_SECONDS = 0.5


@dataclass(frozen=True)
class Reference:
    clip: Clip
    audio: np.ndarray  # [T] float32 at the evaluation rate
    sample_rate: int


def prepare_reference(clip: Clip, sr: int, loudness_lufs: float | None) -> np.ndarray:
    """Load ``clip`` as the evaluation reference [T] at ``sr`` Hz; raises AudioError with a reason."""
    x, _ = load_audio(clip.path, sr, offset=clip.offset, duration=clip.duration)
    validate(x, sr, min_samples=int(MIN_SECONDS * sr), what=clip.id)
    check_clipping(x, what=clip.id)
    if loudness_lufs is not None:
        x = normalize_loudness(x, sr, loudness_lufs)
    return x


def load_or_prepare(store: ResultsStore, clip: Clip, dataset: str, sr: int,
                    loudness_lufs: float | None) -> Reference:
    """The clip's reference from the run directory, computed and stored on first use."""
    path = store.audio_path("reference", clip.id)
    row = store.clip(clip.id)
    if row and row["status"] == "ok" and path.is_file():
        x, file_sr = sf.read(str(path), dtype="float32")
        if file_sr == sr and sha256_samples(x) == row["sha256"]:
            return Reference(clip, x, sr)
    x = prepare_reference(clip, sr, loudness_lufs)
    save_audio(path, x, sr)
    meta = {**clip.meta, "source_sha256": clip.sha256, "rms_dbfs": round(rms_dbfs(x), 2),
            "peak": float(np.max(np.abs(x)))}
    store.put_clip(clip.id, dataset=dataset, domain=clip.domain, path=clip.path, offset=clip.offset,
                   duration=x.size / sr, sha256=sha256_samples(x), meta=meta)
    return Reference(clip, x, sr)
