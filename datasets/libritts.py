"""`libritts`: LibriTTS test-clean utterances (``<root>/test-clean/<speaker>/<chapter>/*.wav``, 24 kHz)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import MissingDatasetError
from bench_datasets.base import Clip, Dataset, DatasetEntry, assign_ids, source_sha256
from bench_datasets.selection import clip_id, grouped_interleave, local_root

ENV_VAR = "BENCH_LIBRITTS_DIR"
HOW_TO_GET = "LibriTTS test-clean from OpenSLR (resource 60, test-clean.tar.gz)"
SUBSETS = ("test-clean", "test-other", "dev-clean", "dev-other")
SAMPLE_RATE = 24000


def find_subset(root: Path, subset: str) -> Path:
    """The ``<subset>`` folder: root/<subset>, root/LibriTTS[_R]/<subset>, or root itself."""
    for cand in (root / subset, root / "LibriTTS" / subset, root / "LibriTTS_R" / subset, root):
        if cand.is_dir() and (cand.name == subset or cand != root) and any(cand.glob("*/*/*.wav")):
            return cand
    raise MissingDatasetError(
        f"dataset 'libritts': no {subset}/<speaker>/<chapter>/*.wav under {root}; download {HOW_TO_GET}, "
        f"extract it and point --path or {ENV_VAR} at the LibriTTS folder"
    )


class LibriTTSDataset(Dataset):
    """Whole LibriTTS utterances (24 kHz speech), interleaved across speakers.

    Speakers are visited in a seeded order, round-robin, each speaker's utterances in a seeded order, so
    any prefix (``max_clips`` or the run's ``--limit``) covers as many speakers as possible. The
    normalised transcript (``<utt>.normalized.txt``) goes to ``meta["text"]`` when present.
    """

    name = "libritts"

    def __init__(self, path: str | os.PathLike | None = None, seed: int = 0, max_clips: int | None = None,
                 subset: str = "test-clean", **_: object) -> None:
        if subset not in SUBSETS:
            raise MissingDatasetError(f"dataset 'libritts': subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
        self.root = local_root(path, ENV_VAR, self.name, HOW_TO_GET)
        self.dir = find_subset(self.root, subset)
        self.files = sorted(p for p in self.dir.glob("*/*/*.wav") if p.is_file())
        self.subset, self.seed = subset, int(seed)
        self.max_clips = None if max_clips is None else int(max_clips)

    def clips(self) -> list[Clip]:
        rels = [p.relative_to(self.dir).as_posix() for p in self.files]
        ids = dict(zip(self.files, assign_ids(rels, lambda rel: clip_id(rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]))))
        order = grouped_interleave(self.files, lambda p: p.parent.parent.name, self.seed, self.name, self.subset)
        if self.max_clips is not None:
            order = order[: self.max_clips]
        out = []
        for p in order:
            meta = {"speaker": p.parent.parent.name, "chapter": p.parent.name, "sample_rate": SAMPLE_RATE,
                    "subset": self.subset}
            text = p.with_name(f"{p.stem}.normalized.txt")
            if text.is_file():
                meta["text"] = text.read_text(encoding="utf-8").strip()
            out.append(Clip(id=ids[p], domain="speech", path=str(p), sha256=source_sha256(p), meta=meta))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.dir), "subset": self.subset, "seed": self.seed,
                "max_clips": self.max_clips, "utterances": len(self.files)}


ENTRY = DatasetEntry(
    name="libritts",
    description="LibriTTS test-clean (24 kHz read speech), whole utterances interleaved across speakers",
    factory=LibriTTSDataset,
    domains=("speech",),
    env_var=ENV_VAR,
    how_to_get=HOW_TO_GET,
)
