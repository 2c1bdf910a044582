"""`folder`: every audio file under a directory, one clip per file (or fixed-length excerpts)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.audio.io import AUDIO_EXTENSIONS, UNSUPPORTED_EXTENSIONS
from bench.errors import MissingDatasetError
from bench_datasets.base import DOMAINS, Clip, Dataset, DatasetEntry, Skipped, assign_ids, slugify, source_sha256


def folder_clip_id_slug(rel: str) -> str:
    """Readable part of a folder clip id: the relative path without its extension, slugified."""
    stem, dot, ext = rel.rpartition(".")
    return slugify(stem if dot and "/" not in ext else rel)


def walk_audio(root: Path) -> tuple[list[str], list[Skipped]]:
    """Relative POSIX paths of the audio files under ``root`` (sorted) and the entries skipped, with reasons.

    Symbolic links are followed (to files and directories); a link that points nowhere, a link loop and a
    directory reached twice through links are skipped with a reason, as are unreadable directories and
    files with an audio extension this suite does not decode. Other files are ignored without a word.
    """
    files: list[str] = []
    skipped: list[Skipped] = []
    visited: set[tuple[int, int]] = set()

    def walk(d: Path, rel: str) -> None:
        try:
            st = d.stat()
        except OSError as err:
            skipped.append(Skipped(rel or ".", _stat_reason(d, err)))
            return
        if (st.st_dev, st.st_ino) in visited:
            skipped.append(Skipped(rel, "directory already listed (a symbolic link loop, or a second link to it)"))
            return
        visited.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as err:
            skipped.append(Skipped(rel or ".", f"cannot list directory ({err.strerror or err})"))
            return
        for e in entries:
            r = f"{rel}/{e.name}" if rel else e.name
            path = Path(e.path)
            try:
                is_dir = e.is_dir()  # follows links
                is_file = e.is_file()
            except OSError as err:
                skipped.append(Skipped(r, _stat_reason(path, err)))
                continue
            if is_dir:
                walk(path, r)
                continue
            ext = os.path.splitext(e.name)[1].lower()
            if not is_file:
                if e.is_symlink():
                    skipped.append(Skipped(r, _stat_reason(path, None)))
                elif ext in AUDIO_EXTENSIONS:
                    skipped.append(Skipped(r, "not a regular file"))
                continue
            if ext in AUDIO_EXTENSIONS:
                files.append(r)
            elif ext in UNSUPPORTED_EXTENSIONS:
                skipped.append(Skipped(r, UNSUPPORTED_EXTENSIONS[ext]))

    walk(root, "")
    return sorted(files), skipped


def _stat_reason(path: Path, err: OSError | None) -> str:
    """Why a path cannot be followed: dangling link, link loop, or the OS error."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return f"symbolic link loop ({path.name} -> {os.readlink(path)})"
        except OSError as e:
            if e.errno == 40:  # ELOOP
                return f"symbolic link loop ({path.name} -> {os.readlink(path)})"
            return f"dangling symbolic link (-> {os.readlink(path)}: target does not exist)"
    return f"cannot read ({(err.strerror if err else None) or err})"


class FolderDataset(Dataset):
    """All files with an audio extension under ``path`` (recursive, links followed, sorted), each one clip.

    Clip ids are the relative path without extension as an ASCII slug; files whose slugs collide
    (``x.wav``/``x.flac``, ``sub/x.wav``/``sub_x.wav``, names differing in non-ASCII characters or in case)
    get a suffix from the hash of their exact relative path (:func:`bench_datasets.base.assign_ids`). Every
    clip carries the SHA-256 of its file. Files are not decoded here: a corrupt file becomes a per-item error
    when the run loads it; entries that cannot be clips at all are listed by :meth:`skipped`.
    ``offset`` and ``duration`` (seconds) cut each clip to ``duration`` seconds after ``offset``.
    """

    name = "folder"

    def __init__(self, path: str | os.PathLike | None = None, domain: str = "music", offset: float = 0.0,
                 duration: float | None = None, **_: object) -> None:
        if path is None:
            raise MissingDatasetError("dataset 'folder' needs --path DIR (a directory of audio files)")
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise MissingDatasetError(f"dataset 'folder': {self.root} is not a directory")
        if domain not in DOMAINS:
            raise MissingDatasetError(f"dataset 'folder': --domain must be one of {', '.join(DOMAINS)}")
        self.domain = domain
        self.offset = float(offset)
        self.duration = duration
        self._skipped: list[Skipped] = []

    def clips(self) -> list[Clip]:
        rels, self._skipped = walk_audio(self.root)
        if not rels:
            raise MissingDatasetError(
                f"dataset 'folder': no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {self.root}"
                + (f" ({len(self._skipped)} skipped, e.g. {self._skipped[0].path}: {self._skipped[0].reason})"
                   if self._skipped else ""))
        ids = assign_ids(rels, folder_clip_id_slug)
        out = []
        for rel, cid in zip(rels, ids):
            p = self.root / rel
            out.append(Clip(id=cid, domain=self.domain, path=str(p), offset=self.offset, duration=self.duration,
                            sha256=source_sha256(p), meta={"relative_path": rel}))
        return out

    def skipped(self) -> list[Skipped]:
        return list(self._skipped)

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.root), "domain": self.domain, "offset": self.offset,
                "duration": self.duration}


ENTRY = DatasetEntry(
    name="folder",
    description="any directory of audio files (--path DIR --domain music|speech; --dataset-option "
                "offset=SECONDS / duration=SECONDS cut every file, e.g. files longer than the 60 s clip maximum)",
    factory=FolderDataset,
)
