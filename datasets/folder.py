"""`folder`: every audio file under a directory, one clip per file (or fixed-length excerpts)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from bench.audio.io import AUDIO_EXTENSIONS
from bench.errors import MissingDatasetError
from bench_datasets.base import DOMAINS, Clip, Dataset, DatasetEntry


class FolderDataset(Dataset):
    """All files with an audio extension under ``path`` (recursive, sorted), each one clip.

    Files are not decoded here: a corrupt file becomes a per-item error when the run loads it.
    ``duration`` (seconds) limits each clip to its first ``duration`` seconds after ``offset``.
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

    def clips(self) -> list[Clip]:
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise MissingDatasetError(
                f"dataset 'folder': no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {self.root}")
        out = []
        for p in files:
            rel = p.relative_to(self.root).with_suffix("").as_posix()
            cid = re.sub(r"[^A-Za-z0-9._-]+", "_", rel)
            out.append(Clip(id=cid, domain=self.domain, path=str(p), offset=self.offset, duration=self.duration))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.root), "domain": self.domain, "offset": self.offset,
                "duration": self.duration}


ENTRY = DatasetEntry(
    name="folder",
    description="any directory of audio files (--path DIR --domain music|speech)",
    factory=FolderDataset,
)
