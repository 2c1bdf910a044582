"""`musdb18hq`: MUSDB18-HQ test mixtures (``<root>/test/<track>/mixture.wav``), seeded 10 s excerpts."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import MissingDatasetError
from bench_datasets.base import Clip, Dataset, DatasetEntry, assign_ids, source_sha256
from bench_datasets.selection import clip_id, local_root, pick_active_offset, rng_for, shuffled

ENV_VAR = "BENCH_MUSDB18HQ_DIR"
HOW_TO_GET = "MUSDB18-HQ from Zenodo (record 3338373, musdb18hq.zip, uncompressed wav)"
SPLITS = ("test", "train")


def find_tracks(root: Path, split: str) -> tuple[Path, list[Path]]:
    """(split folder, sorted track folders holding a mixture.wav); accepts root or root/split."""
    for cand in (root / split, root / "musdb18hq" / split, root):
        tracks = sorted(p.parent for p in cand.glob("*/mixture.wav"))
        if tracks:
            return cand, tracks
    if any(root.glob("**/*.stem.mp4")):
        raise MissingDatasetError(
            f"dataset 'musdb18hq': {root} holds MUSDB18 (.stem.mp4, AAC-compressed); this set needs {HOW_TO_GET}"
        )
    raise MissingDatasetError(
        f"dataset 'musdb18hq': no {split}/<track>/mixture.wav under {root}; download {HOW_TO_GET}, unzip it and "
        f"point --path or {ENV_VAR} at the folder holding {split}/"
    )


class Musdb18HQDataset(Dataset):
    """MUSDB18-HQ mixtures: one seeded, non-silent excerpt of ``clip_seconds`` per track.

    Tracks are taken in a seeded order (``max_clips`` keeps the first N); each excerpt's offset comes from
    a generator seeded by (seed, track) and avoids near-silent passages
    (:func:`bench_datasets.selection.pick_active_offset`). ``clip_seconds=None`` uses whole tracks.
    """

    name = "musdb18hq"

    def __init__(self, path: str | os.PathLike | None = None, seed: int = 0, clip_seconds: float | None = 10.0,
                 max_clips: int | None = None, split: str = "test", **_: object) -> None:
        if split not in SPLITS:
            raise MissingDatasetError(f"dataset 'musdb18hq': split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.root = local_root(path, ENV_VAR, self.name, HOW_TO_GET)
        self.split_dir, self.tracks = find_tracks(self.root, split)
        self.split, self.seed = split, int(seed)
        self.clip_seconds = None if clip_seconds is None else float(clip_seconds)
        self.max_clips = None if max_clips is None else int(max_clips)

    def clips(self) -> list[Clip]:
        # ids over all tracks (not just the first max_clips), so a track's id does not depend on max_clips
        ids = dict(zip(self.tracks, assign_ids([t.name for t in self.tracks], clip_id)))
        order = shuffled(self.tracks, self.seed, self.name, self.split)
        if self.max_clips is not None:
            order = order[: self.max_clips]
        out = []
        for track in order:
            mix = track / "mixture.wav"
            meta = {"track": track.name, "split": self.split}
            if self.clip_seconds is None:
                out.append(Clip(id=ids[track], domain="music", path=str(mix), sha256=source_sha256(mix), meta=meta))
                continue
            rng = rng_for(self.seed, self.name, track.name)
            offset, duration, active = pick_active_offset(mix, self.clip_seconds, rng)
            out.append(Clip(id=ids[track], domain="music", path=str(mix), offset=offset, duration=duration,
                            sha256=source_sha256(mix), meta={**meta, "active_excerpt": active}))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.split_dir), "split": self.split, "seed": self.seed,
                "clip_seconds": self.clip_seconds, "max_clips": self.max_clips, "tracks": len(self.tracks)}


ENTRY = DatasetEntry(
    name="musdb18hq",
    description="MUSDB18-HQ test mixtures (50 tracks), one seeded 10 s excerpt per track",
    factory=Musdb18HQDataset,
    domains=("music",),
    env_var=ENV_VAR,
    how_to_get=HOW_TO_GET,
)
