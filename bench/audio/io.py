"""Reading and writing audio files (wav/flac/ogg/mp3 through libsndfile)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.audio.resample import resample
from bench.errors import AudioError

#: Extensions the loader accepts (libsndfile >= 1.1 reads mp3; >= 1.0.29 reads Ogg Opus).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff")
#: Audio extensions that libsndfile does not decode: a folder lists such files as skipped, with this reason.
UNSUPPORTED_EXTENSIONS: dict[str, str] = {
    ext: f"{ext} ({codec}) is not decoded by libsndfile; convert it, e.g. `ffmpeg -i FILE FILE.flac`"
    for ext, codec in ((".m4a", "AAC/ALAC in MP4"), (".mp4", "MP4"), (".aac", "AAC"), (".wma", "Windows Media"),
                       (".webm", "WebM"), (".mka", "Matroska"), (".ape", "Monkey's Audio"), (".wv", "WavPack"),
                       (".ac3", "AC-3"), (".amr", "AMR"))
}


def read_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Header information of an audio file; raises :class:`AudioError` for unreadable files."""
    try:
        return sf.info(str(path))
    except Exception as err:  # libsndfile raises several types for corrupt headers
        raise AudioError(f"{path}: cannot read audio header ({err})") from None


def wav_truncation(path: str | os.PathLike) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's ``data`` chunk when the file ends inside it, else None.

    libsndfile reads such a file without an error and returns only the frames present, so a copy or
    download that stopped half-way would be evaluated as a shorter clip. Files of other formats, and
    streamed WAVs whose header leaves the size open (0 or 0xFFFFFFFF), give None.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            endian = "<" if head[:4] == b"RIFF" else ">"
            size = os.fstat(f.fileno()).st_size
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, n = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
                if cid == b"data":
                    present = size - f.tell()
                    if n not in (0, 0xFFFFFFFF) and n > present:
                        return n, present
                    return None
                f.seek(n + (n & 1), os.SEEK_CUR)
    except OSError:
        return None


def read_source(path: str | os.PathLike, *, offset: float = 0.0, duration: float | None = None,
                max_seconds: float | None = None) -> tuple[np.ndarray, int, sf._SoundFileInfo]:
    """Decode an excerpt of a file as it is stored: ([T, C] float32 in the file's scale, rate in Hz, header).

    Raises:
        AudioError: unreadable or truncated file, an excerpt that starts past the end, or (before decoding,
            so memory stays bounded) an excerpt longer than ``max_seconds``.
    """
    info = read_info(path)
    cut = wav_truncation(path)
    if cut is not None:
        raise AudioError(f"{path}: truncated WAV: the header declares {cut[0]} bytes of audio, the file holds "
                         f"{cut[1]} ({cut[1] / cut[0]:.0%}); the copy or download is incomplete")
    start = int(round(offset * info.samplerate))
    frames = -1 if duration is None else int(round(duration * info.samplerate))
    if max_seconds is not None:
        length = max(0, info.frames - start) if frames < 0 else min(frames, max(0, info.frames - start))
        if length > max_seconds * info.samplerate:
            raise AudioError(
                f"{path}: the clip is {length / info.samplerate:.1f} s, longer than the {max_seconds:g} s maximum "
                f"(memory and time grow with length); cut it with --dataset-option duration=SECONDS (folder) "
                f"or clip_seconds=SECONDS")
    try:
        data, file_sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(f"{path}: cannot decode audio ({err})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples at offset {offset:.2f} s (file is {info.duration:.2f} s)")
    return data, int(file_sr), info


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
        AudioError: corrupt/unreadable/truncated file, empty excerpt, or non-finite samples.
    """
    data, file_sr, _ = read_source(path, offset=offset, duration=duration)
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
