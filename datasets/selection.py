"""Deterministic, seeded clip selection shared by the dataset definitions.

Randomness is derived from the seed *and* a string key (a dataset, source or file name) through SHA-256,
never from Python's ``hash()`` or dict/set order, so a clip list depends only on the arguments and the
sorted file names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf

from bench.errors import MissingDatasetError
from bench_datasets.base import slugify
from bench_datasets.analysis import active_level_dbfs, block_levels_dbfs, is_active_excerpt, rms_dbfs

T = TypeVar("T")


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the string form of ``keys``."""
    text = "\x1f".join([str(int(seed)), *map(str, keys)])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def shuffled(items: Sequence[T], seed: int, *keys: object) -> list[T]:
    """A seeded permutation of ``items`` (which the caller passes in a stable, e.g. sorted, order)."""
    order = rng_for(seed, *keys).permutation(len(items))
    return [items[i] for i in order]


def interleave(groups: Sequence[Sequence[T]]) -> list[T]:
    """Round-robin over ``groups``: first item of each group, then the second of each, ...

    Used so that any prefix of a clip list (``--limit N``) covers many speakers, tracks or sources.
    """
    out: list[T] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def grouped_interleave(items: Iterable[T], key: Callable[[T], object], seed: int, *keys: object) -> list[T]:
    """Group ``items`` by ``key(item)``, shuffle groups and members (seeded), then :func:`interleave`.

    ``items`` must come in a stable (e.g. sorted) order; group names are sorted before shuffling.
    """
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(str(key(item)), []).append(item)
    names = shuffled(sorted(groups), seed, *keys, "groups")
    return interleave([shuffled(groups[n], seed, *keys, "group", n) for n in names])


def clip_id(text: str) -> str:
    """A file-name-safe clip id from a relative path or name (see :func:`bench_datasets.base.slugify`)."""
    return slugify(text)


def local_root(path: str | os.PathLike | None, env_var: str, dataset: str, how_to_get: str) -> Path:
    """The dataset directory from ``path`` or ``$env_var``; :class:`MissingDatasetError` when absent.

    ``how_to_get`` names the official download; it is repeated in the one-line error.
    """
    where = path if path is not None else os.environ.get(env_var) or None
    if where is None:
        raise MissingDatasetError(
            f"dataset '{dataset}' is not on disk: download {how_to_get}, then pass --path DIR or set {env_var}=DIR"
        )
    root = Path(where).expanduser().resolve()
    if not root.is_dir():
        source = "--path" if path is not None else env_var
        raise MissingDatasetError(
            f"dataset '{dataset}': {root} (from {source}) is not a directory; download {how_to_get} and point "
            f"--path or {env_var} at it"
        )
    return root


def audio_duration(path: str | os.PathLike) -> float | None:
    """Duration in seconds from the file header, or None when the header cannot be read."""
    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # a corrupt file is reported per item when the run loads it
        return None


def probe_windows(path: str | os.PathLike, count: int = 10, seconds: float = 1.0) -> tuple[list[np.ndarray], int]:
    """``count`` evenly spaced mono windows of ``seconds`` (the whole file when it is short), and the rate.

    Seeks instead of decoding the whole file: a file's active level and bandwidth are estimated from
    these windows.
    """
    with sf.SoundFile(str(path)) as f:
        sr, n = f.samplerate, f.frames
        win = int(round(seconds * sr))
        if n <= count * win * 1.2:
            return [f.read(dtype="float32", always_2d=True).mean(axis=1)], sr
        out = []
        for s in np.linspace(0, n - win, count).astype(np.int64):
            f.seek(int(s))
            out.append(f.read(win, dtype="float32", always_2d=True).mean(axis=1))
        return out, sr


def probe_level_dbfs(windows: list[np.ndarray], sr: int) -> float:
    """Active level (dBFS) of a file from its probe windows (see :func:`analysis.active_level_dbfs`)."""
    return active_level_dbfs(np.concatenate([block_levels_dbfs(w, sr) for w in windows]))


def quick_active(path: str | os.PathLike, start: int, frames: int, reference_dbfs: float,
                 gap_db: float = 30.0) -> bool:
    """Cheap pre-check of the excerpt [start, start + frames) (samples): its first, middle and last 0.4 s
    block are within ``gap_db`` of the file's active level. The full check on the decoded excerpt
    (:func:`analysis.is_active_excerpt`) follows when this passes."""
    with sf.SoundFile(str(path)) as f:
        block = int(0.4 * f.samplerate)
        for at in (start, start + (frames - block) // 2, start + frames - block):
            f.seek(max(0, int(at)))
            x = f.read(block, dtype="float32", always_2d=True).mean(axis=1)
            if rms_dbfs(x) < reference_dbfs - gap_db:
                return False
    return True


def pick_active_offset(path: str | os.PathLike, clip_seconds: float, rng: np.random.Generator,
                       tries: int = 32) -> tuple[float, float | None, bool]:
    """A seeded excerpt start (s) of ``clip_seconds`` inside ``path`` that is not near-silent.

    The file's active level comes from :func:`probe_windows`; up to ``tries`` seeded offsets are checked
    (:func:`quick_active`, then :func:`bench_datasets.analysis.is_active_excerpt`) and the first that passes
    is returned. When none passes (or the file cannot be read) the first seeded offset is returned with
    ``active=False`` (kept in the clip's meta): the run reports a silent or broken excerpt as a per-item
    error, and a quiet one is visible as such, instead of the clip list quietly changing.

    Returns ``(offset_seconds, duration_seconds, active)``; duration is None (whole file) when the file is
    not longer than ``clip_seconds`` (then nothing is checked and ``active`` is False).
    """
    total = audio_duration(path)
    if total is None:
        return 0.0, clip_seconds, False
    if total <= clip_seconds:
        return 0.0, None, False
    starts = [round(float(rng.uniform(0.0, total - clip_seconds)), 2) for _ in range(tries)]
    try:
        windows, sr = probe_windows(path)
        reference = probe_level_dbfs(windows, sr)
        frames = int(round(clip_seconds * sr))
        for start in starts:
            first = int(round(start * sr))
            if not quick_active(path, first, frames, reference):
                continue
            with sf.SoundFile(str(path)) as f:
                f.seek(first)
                x = f.read(frames, dtype="float32", always_2d=True).mean(axis=1)
            if is_active_excerpt(x, sr, reference):
                return start, clip_seconds, True
    except (sf.LibsndfileError, RuntimeError, ValueError):
        pass  # unreadable: keep the first seeded offset; the run's loader reports the error for this clip
    return starts[0], clip_seconds, False
