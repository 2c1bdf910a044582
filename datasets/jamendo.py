"""`jamendo`: MTG-Jamendo tracks named by a file list (e.g. a split file), seeded 10 s excerpts."""

from __future__ import annotations

import os
from pathlib import Path

from bench.audio.io import AUDIO_EXTENSIONS
from bench.errors import MissingDatasetError
from bench_datasets.base import Clip, Dataset, DatasetEntry, assign_ids, source_sha256
from bench_datasets.selection import clip_id, local_root, pick_active_offset, rng_for, shuffled

ENV_VAR = "BENCH_JAMENDO_DIR"
LIST_ENV_VAR = "BENCH_JAMENDO_LIST"
HOW_TO_GET = ("MTG-Jamendo audio (the mtg-jamendo-dataset repository's download script, from MTG/UPF) and a "
              "split file such as data/splits/split-0/autotagging-test.tsv")


def read_file_list(list_path: Path) -> list[str]:
    """Relative audio paths from a list file.

    Accepts plain lists (one relative path per line, ``#`` comments) and the dataset's TSV split/metadata
    files (header ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS``: the PATH column is used).
    """
    lines = [ln.rstrip("\n\r") for ln in list_path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return []
    header = lines[0].split("\t")
    if "PATH" in header:
        col = header.index("PATH")
        return [ln.split("\t")[col].strip() for ln in lines[1:] if len(ln.split("\t")) > col]
    out = []
    for ln in lines:
        fields = [f.strip() for f in ln.split("\t")]
        audio = [f for f in fields if f.lower().endswith(AUDIO_EXTENSIONS)]
        out.append(audio[0] if audio else fields[0])
    return out


def resolve(root: Path, rel: str) -> Path | None:
    """The file for a listed path; the low-bitrate download names files ``<id>.low.mp3``."""
    p = root / rel
    if p.is_file():
        return p
    low = p.with_name(f"{p.stem}.low{p.suffix}")
    return low if low.is_file() else None


class JamendoDataset(Dataset):
    """MTG-Jamendo: one seeded, non-silent ``clip_seconds`` excerpt per listed track.

    ``file_list`` (or ``$BENCH_JAMENDO_LIST``; relative paths are looked up in the working directory,
    then under the root) names the tracks relative to the audio root. Every listed file must exist: a
    partial download is an error, not a smaller test set. Tracks are taken in a seeded order
    (``max_clips`` keeps the first N). ``clip_seconds=None`` uses whole tracks.
    """

    name = "jamendo"

    def __init__(self, path: str | os.PathLike | None = None, file_list: str | os.PathLike | None = None,
                 seed: int = 0, clip_seconds: float | None = 10.0, max_clips: int | None = None,
                 **_: object) -> None:
        self.root = local_root(path, ENV_VAR, self.name, HOW_TO_GET)
        listed = file_list if file_list is not None else os.environ.get(LIST_ENV_VAR) or None
        if listed is None:
            raise MissingDatasetError(
                f"dataset 'jamendo' needs a file list (file_list option or {LIST_ENV_VAR}), e.g. "
                "data/splits/split-0/autotagging-test.tsv from the mtg-jamendo-dataset repository"
            )
        lp = Path(listed).expanduser()
        if not lp.is_absolute() and not lp.is_file():
            lp = self.root / lp
        if not lp.is_file():
            raise MissingDatasetError(
                f"dataset 'jamendo': file list {listed} not found (also looked under {self.root})")
        self.file_list = lp.resolve()
        rels = sorted(set(read_file_list(self.file_list)))
        if not rels:
            raise MissingDatasetError(f"dataset 'jamendo': {self.file_list} lists no audio files")
        found = {rel: resolve(self.root, rel) for rel in rels}
        missing = [rel for rel, p in found.items() if p is None]
        if missing:
            raise MissingDatasetError(
                f"dataset 'jamendo': {len(missing)} of {len(rels)} listed files are not under {self.root} "
                f"(e.g. {missing[0]}); download the missing part of {HOW_TO_GET.split(' and ')[0]}"
            )
        self.files: list[tuple[str, Path]] = [(rel, found[rel]) for rel in rels]  # type: ignore[misc]
        self.seed = int(seed)
        self.clip_seconds = None if clip_seconds is None else float(clip_seconds)
        self.max_clips = None if max_clips is None else int(max_clips)

    def clips(self) -> list[Clip]:
        # ids over the whole list (not just the first max_clips), so a track's id does not depend on max_clips
        ids = dict(zip((rel for rel, _ in self.files),
                       assign_ids([rel for rel, _ in self.files], lambda rel: clip_id(rel.rsplit(".", 1)[0]))))
        order = shuffled(self.files, self.seed, self.name)
        if self.max_clips is not None:
            order = order[: self.max_clips]
        out = []
        for rel, p in order:
            cid = ids[rel]
            meta = {"listed_path": rel}
            if self.clip_seconds is None:
                out.append(Clip(id=cid, domain="music", path=str(p), sha256=source_sha256(p), meta=meta))
                continue
            offset, duration, active = pick_active_offset(p, self.clip_seconds, rng_for(self.seed, self.name, rel))
            out.append(Clip(id=cid, domain="music", path=str(p), offset=offset, duration=duration,
                            sha256=source_sha256(p), meta={**meta, "active_excerpt": active}))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.root), "file_list": str(self.file_list), "seed": self.seed,
                "clip_seconds": self.clip_seconds, "max_clips": self.max_clips, "tracks": len(self.files)}


ENTRY = DatasetEntry(
    name="jamendo",
    description="MTG-Jamendo tracks from a split/file list (file_list option), one seeded 10 s excerpt per track",
    factory=JamendoDataset,
    domains=("music",),
    env_var=ENV_VAR,
    how_to_get=HOW_TO_GET,
)
