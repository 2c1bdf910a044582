"""`vctk`: VCTK utterances (0.92: ``wav48_silence_trimmed/<spk>/*_mic1.flac``; 0.80: ``wav48/<spk>/*.wav``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bench.errors import MissingDatasetError
from bench_datasets.base import Clip, Dataset, DatasetEntry, assign_ids, source_sha256
from bench_datasets.selection import clip_id, grouped_interleave, local_root

ENV_VAR = "BENCH_VCTK_DIR"
HOW_TO_GET = "the VCTK Corpus 0.92 from the University of Edinburgh DataShare (doi:10.7488/ds/2645)"
MICS = ("mic1", "mic2")


def find_layout(root: Path, mic: str) -> tuple[str, list[Path]]:
    """(layout name, sorted utterance files) for a VCTK folder (or the folder holding it)."""
    for base in (root, *sorted(p for p in root.glob("VCTK*") if p.is_dir())):
        files = sorted(base.glob(f"wav48_silence_trimmed/*/*_{mic}.flac"))
        if files:
            return "0.92", files
        files = sorted(base.glob("wav48/*/*.wav"))
        if files:
            return "0.80", files
    raise MissingDatasetError(
        f"dataset 'vctk': no wav48_silence_trimmed/<speaker>/*_{mic}.flac (VCTK 0.92) or wav48/<speaker>/*.wav "
        f"(0.80) under {root}; download {HOW_TO_GET}, unzip it and point --path or {ENV_VAR} at it"
    )


def _utterance_id(p: Path, mic: str) -> str:
    return p.stem[: -len(mic) - 1] if p.stem.endswith(f"_{mic}") else p.stem


class VCTKDataset(Dataset):
    """Whole VCTK utterances (48 kHz read speech, 110 speakers), interleaved across speakers.

    ``speakers`` (list or comma-separated string, e.g. held-out speakers of a paper) restricts the set;
    ``mic`` picks mic1/mic2 of release 0.92. Order and ``max_clips`` as in :mod:`bench_datasets.libritts`.
    The prompt (``txt/<spk>/<utt>.txt``) goes to ``meta["text"]`` when present.
    """

    name = "vctk"

    def __init__(self, path: str | os.PathLike | None = None, seed: int = 0, max_clips: int | None = None,
                 speakers: str | Sequence[str] | None = None, mic: str = "mic1", **_: object) -> None:
        if mic not in MICS:
            raise MissingDatasetError(f"dataset 'vctk': mic must be one of {', '.join(MICS)}, got {mic!r}")
        self.root = local_root(path, ENV_VAR, self.name, HOW_TO_GET)
        self.layout, files = find_layout(self.root, mic)
        if isinstance(speakers, str):
            speakers = [s.strip() for s in speakers.split(",") if s.strip()]
        self.speakers = sorted(set(speakers)) if speakers else None
        if self.speakers is not None:
            known = {p.parent.name for p in files}
            unknown = [s for s in self.speakers if s not in known]
            if unknown:
                raise MissingDatasetError(f"dataset 'vctk': no utterances for speaker(s) {', '.join(unknown)} "
                                          f"under {self.root}")
            files = [p for p in files if p.parent.name in self.speakers]
        self.files = files
        self.mic, self.seed = mic, int(seed)
        self.max_clips = None if max_clips is None else int(max_clips)

    def clips(self) -> list[Clip]:
        rels = [f"{p.parent.name}/{p.name}" for p in self.files]
        ids = dict(zip(self.files, assign_ids(rels, lambda rel: clip_id(_utterance_id(Path(rel), self.mic)))))
        order = grouped_interleave(self.files, lambda p: p.parent.name, self.seed, self.name, self.mic)
        if self.max_clips is not None:
            order = order[: self.max_clips]
        out = []
        for p in order:
            utt = _utterance_id(p, self.mic)
            meta = {"speaker": p.parent.name, "layout": self.layout}
            if self.layout == "0.92":
                meta["mic"] = self.mic
            text = p.parent.parent.parent / "txt" / p.parent.name / f"{utt}.txt"
            if text.is_file():
                meta["text"] = text.read_text(encoding="utf-8", errors="replace").strip()
            out.append(Clip(id=ids[p], domain="speech", path=str(p), sha256=source_sha256(p), meta=meta))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.root), "layout": self.layout, "mic": self.mic,
                "speakers": self.speakers, "seed": self.seed, "max_clips": self.max_clips,
                "utterances": len(self.files)}


ENTRY = DatasetEntry(
    name="vctk",
    description="VCTK 0.92 (48 kHz read speech, mic1), whole utterances interleaved across speakers",
    factory=VCTKDataset,
    domains=("speech",),
    env_var=ENV_VAR,
    how_to_get=HOW_TO_GET,
)
