"""Reading and writing audio files (wav/flac/ogg/mp3 through libsndfile)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.audio.resample import resample
from bench.errors import AudioError

#: Extensions the loader accepts (libsndfile >= 1.1 reads mp3).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


def read_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Header information of an audio file; raises :class:`AudioError` for unreadable files."""
    try:
        return sf.info(str(path))
    except Exception as err:  # libsndfile raises several types for corrupt headers
        raise AudioError(f"{path}: cannot read audio header ({err})") from None


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Load a file as mono float32.

    Args:
        path: audio file.
        sr: target rate in Hz (resampled with :func:`bench.audio.resample`), or None for the file's rate.
        offset, duration: excerpt in seconds (of the file's own timeline).
    Returns:
        (x [T] float32 in the file's scale, sample rate in Hz). Channels are averaged (mono downmix).
    Raises:
        AudioError: corrupt/unreadable file, empty excerpt, or non-finite samples.
    """
    info = read_info(path)
    start = int(round(offset * info.samplerate))
    frames = -1 if duration is None else int(round(duration * info.samplerate))
    try:
        data, file_sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(f"{path}: cannot decode audio ({err})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples at offset {offset:.2f} s (file is {info.duration:.2f} s)")
    x = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: contains NaN/inf samples")
    if sr is not None and sr != file_sr:
        x = resample(x, file_sr, sr)
        file_sr = sr
    return x, int(file_sr)


def save_audio(path: str | os.PathLike, x: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Write mono [T] float audio atomically (temp file + rename), so a killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = {".wav": "WAV", ".flac": "FLAC"}.get(path.suffix.lower(), "WAV")
    if fmt == "FLAC" and subtype == "FLOAT":
        subtype = "PCM_24"
    sf.write(str(tmp), np.asarray(x, dtype=np.float32), sr, subtype=subtype, format=fmt)
    os.replace(tmp, path)
