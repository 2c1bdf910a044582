"""Reference preparation: load each clip, check it, normalise its loudness and keep it in the run.

Checks run in the order in which the problems arise, each on the signal where it can be seen:

1. the file (unreadable, truncated WAV, clip longer than :data:`MAX_SECONDS`, checked from the header before
   decoding so memory stays bounded);
2. the stored samples, per channel and before any gain: NaN/inf, clipping (flat tops at or beyond full scale;
   a float file above 1.0 with a smooth waveform is not clipped, see :func:`bench.audio.checks.clipped_fraction`);
3. the mono downmix: silent, with "the channels cancel" when they are not silent on their own;
4. at the evaluation rate: shorter than :data:`MIN_SECONDS`, no audible content (DC offset or infrasound only);
5. warnings that do not stop the clip but are stored in its ``meta["warnings"]`` and printed by the run:
   mostly infrasonic energy, a bandwidth below 7 kHz (the anchors then score as well as the reference),
   a float source above full scale kept as is when loudness normalisation is off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from bench.audio import normalize_loudness, resample, save_audio, validate
from bench.audio.checks import (INFRASONIC_HZ, NARROW_BANDWIDTH_HZ, SILENCE_DBFS, check_clipping, check_downmix,
                                infrasonic_fraction, rms_dbfs)
from bench.audio.io import read_source
from bench.errors import AudioError
from bench.metrics.visqol import MIN_SAMPLES, MODES
from bench.results.store import ResultsStore
from bench_datasets.analysis import bandwidth_hz
from bench_datasets.base import Clip, sha256_samples, source_sha256

#: Shortest clip the harness accepts, in seconds: the longest minimum of the metrics (ViSQOL's audio mode
#: needs 0.96 s; its speech mode 0.64 s; MR-STFT/MR-MEL/CDPAM less), so that every metric can score every clip.
MIN_SECONDS = max(MIN_SAMPLES[mode] / rate for mode, rate in MODES.values())
#: Longest clip, in seconds. Memory and time per clip grow with its length (10 minutes of audio peaked at
#: 6.1 GB and showed no progress for 13 minutes); longer files are skipped with a reason that names the
#: ``duration`` (folder) and ``clip_seconds`` dataset options, which cut them.
MAX_SECONDS = 60.0


@dataclass(frozen=True)
class Reference:
    clip: Clip
    audio: np.ndarray  # [T] float32 at the evaluation rate
    sample_rate: int
    warnings: tuple[str, ...] = ()  # also in the stored clip's meta["warnings"]


def prepare_reference(clip: Clip, sr: int, loudness_lufs: float | None) -> tuple[np.ndarray, list[str]]:
    """Load ``clip`` as the evaluation reference [T] at ``sr`` Hz, with its warnings.

    Raises AudioError with a one-line reason (see the module docstring for the checks and their order).
    """
    what = clip.id
    data, file_sr, _ = read_source(clip.path, offset=clip.offset, duration=clip.duration, max_seconds=MAX_SECONDS)
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{what}: {int(np.count_nonzero(~np.isfinite(data)))} non-finite samples (NaN/inf)")
    check_clipping(data, what=what)
    mono = data.mean(axis=1).astype(np.float32)  # the downmix of load_audio (bench score), bit for bit
    check_downmix(data, mono, what=what)
    source_peak = float(np.max(np.abs(data)))
    del data
    x = resample(mono, file_sr, sr)
    validate(x, sr, min_samples=math.ceil(MIN_SECONDS * sr - 1e-6), what=what,
             min_reason="the minimum clip length, which ViSQOL's audio mode needs")
    warnings = []
    low, audible_dbfs = infrasonic_fraction(x, sr)
    if audible_dbfs < SILENCE_DBFS:
        raise AudioError(f"{what}: no audible content: {low:.1%} of the energy is below {INFRASONIC_HZ:g} Hz (DC "
                         f"offset or infrasound) and the rest is at {audible_dbfs:.1f} dBFS")
    if low > 0.5:
        warnings.append(f"{low:.0%} of the energy is below {INFRASONIC_HZ:g} Hz (DC offset or infrasound): "
                        "loudness normalisation and the metrics weigh only the audible rest")
    bandwidth = bandwidth_hz(x, sr)
    if bandwidth < NARROW_BANDWIDTH_HZ:
        warnings.append(f"band-limited to {bandwidth / 1000:.1f} kHz (source rate {file_sr} Hz): the 7 kHz anchor "
                        "passes it unchanged, so anchors score like the reference")
    if loudness_lufs is not None:
        x = normalize_loudness(x, sr, loudness_lufs)
    elif source_peak > 1.0:
        warnings.append(f"peaks at {source_peak:.3g} (above full scale, float source) and loudness normalisation "
                        "is off, so the reference is evaluated above full scale")
    return x, warnings


def load_or_prepare(store: ResultsStore, clip: Clip, dataset: str, sr: int,
                    loudness_lufs: float | None) -> Reference:
    """The clip's reference from the run directory, computed and stored on first use.

    A stored reference is reused only when its source file is unchanged (``clip.sha256``, the hash of the
    source file's bytes, equals the one stored in the clip's ``meta["source_sha256"]``) and its audio file
    matches its stored hash. Otherwise it is prepared again, and when the preparation fails or the new
    reference differs from the stored one (in any sample), every render, value and failure of the clip is
    dropped (:meth:`ResultsStore.reset_clip`) so that nothing computed from the old reference is reused. A
    source that changed only in its bytes (tags, a lossless re-encode) gives the same reference and keeps them.

    The run does the same in three steps (:func:`stored_reference`, :func:`prepare_reference` anywhere,
    :func:`store_reference` / :func:`forget_reference` in the process that writes the store).
    """
    ref = stored_reference(store, clip, sr)
    if ref is not None:
        return ref
    try:
        x, warnings = prepare_reference(clip, sr, loudness_lufs)
    except Exception:  # whatever the reason, values computed from the old reference must not outlive it
        forget_reference(store, clip)
        raise
    return store_reference(store, clip, dataset, sr, x, warnings)


def stored_reference(store: ResultsStore, clip: Clip, sr: int) -> Reference | None:
    """The stored reference of ``clip`` when it is still valid (see :func:`load_or_prepare`), else None."""
    path = store.audio_path("reference", clip.id)
    row = store.clip(clip.id)
    try:
        source = clip.sha256 or source_sha256(clip.path)
    except OSError:  # the source is gone or unreadable: its reference unit says why and drops the old values
        return None
    same_source = bool(row) and row["meta"].get("source_sha256") == source
    if row and same_source and row["status"] == "ok" and path.is_file():
        x, file_sr = sf.read(str(path), dtype="float32")
        if file_sr == sr and sha256_samples(x) == row["sha256"]:
            return Reference(clip, x, sr, tuple(row["meta"].get("warnings", ())))
    return None


def forget_reference(store: ResultsStore, clip: Clip) -> None:
    """The clip's reference could not be prepared again: drop whatever was computed from the old one."""
    if store.clip(clip.id):
        store.reset_clip(clip.id)


def store_reference(store: ResultsStore, clip: Clip, dataset: str, sr: int, x: np.ndarray,
                    warnings: Sequence[str]) -> Reference:
    """Store a freshly prepared reference ``x`` [T] at ``sr`` Hz (file and clip row) and return it; a stored
    reference that differs in any sample takes its renders and values with it."""
    row = store.clip(clip.id)
    digest = sha256_samples(x)
    if row and row["sha256"] != digest:
        store.reset_clip(clip.id)
    save_audio(store.audio_path("reference", clip.id), x, sr)
    meta = {**clip.meta, "source_sha256": clip.sha256 or source_sha256(clip.path), "rms_dbfs": round(rms_dbfs(x), 2),
            "peak": float(np.max(np.abs(x))), "warnings": list(warnings)}
    store.put_clip(clip.id, dataset=dataset, domain=clip.domain, path=clip.path, offset=clip.offset,
                   duration=x.size / sr, sha256=digest, meta=meta)
    return Reference(clip, x, sr, tuple(warnings))
