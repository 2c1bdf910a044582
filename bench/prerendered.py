"""Pre-rendered systems: a folder of a user's vocoder outputs, scored like a built-in vocoder.

``bench run ... --renders NAME=DIR`` adds the system NAME whose output for each clip of the run is read from
DIR instead of synthesised. Files are matched to clips by clip id or by the clip's source path relative to the
dataset root, both without extension (``DIR/<clip id>.wav``, as written by ``bench references``). Each matched
file goes through the same stage as a vocoder's output: resampled to the evaluation rate with the suite's
resampler and aligned to the reference (:func:`bench.align.align_to_reference`), then stored as a render of
NAME, so metrics, tables, the report and ``bench mushra build`` treat it like any other system.

Per item, a file is refused (stored as a synthesis failure of NAME, with its reason) when it cannot be read,
holds NaN/inf or silence, its length differs from the reference by more than :data:`LENGTH_TOLERANCE_S`
(with a hint when the ratio points at a wrong sample-rate header), or its level differs from the reference by
more than :data:`MAX_LEVEL_DIFF_DB`. A clip without a file is a failure of NAME too (never a silently smaller
mean); a file that matches no clip is listed. The render key includes the file's content hash, so a file
changed on disk is read and scored again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench.align import align_to_reference
from bench.audio import save_audio
from bench.audio.checks import rms_dbfs
from bench.audio.io import AUDIO_EXTENSIONS
from bench.errors import BenchError
from bench.references import Reference
from bench.results.store import ResultsStore
from bench.synthesis import is_current, render_key
from bench_datasets.base import sha256_file, sha256_samples

#: A render whose length (after resampling to the reference's rate) differs from the reference's by more than
#: this is refused: vocoders differ from their input by a few frames (up to ~4 hops of 512-1024 samples).
LENGTH_TOLERANCE_S = 0.1
#: A render whose RMS level differs from the reference's by more than this (dB) is refused: level-sensitive
#: metrics (MR-STFT, MR-MEL) would score the gain, not the vocoder. Smaller folder-wide offsets are reported.
MAX_LEVEL_DIFF_DB = 6.0
#: Folder-wide median level difference (dB) above which the run prints and stores a warning.
WARN_LEVEL_DIFF_DB = 1.0
#: Below this RMS level (dBFS) a render counts as silent.
SILENCE_DBFS = -80.0
#: Sample rates a file header commonly claims; used to explain a length ratio.
COMMON_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class FolderReport:
    """What a folder gave for one run: items stored, refused, missing, unmatched, and its level offset."""

    name: str
    folder: str
    stored: int = 0
    reused: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (clip id, reason)
    missing: list[str] = field(default_factory=list)  # clip ids without a file
    unmatched: list[str] = field(default_factory=list)  # files (relative to the folder) matching no clip
    level_diff_db: float | None = None  # median render - reference RMS level over readable files

    def lines(self) -> list[str]:
        """One line per problem, for the terminal."""
        out = [f"renders {self.name}: no file for clip {c} in {self.folder}" for c in self.missing]
        out += [f"renders {self.name}: {f} matches no clip of the run" for f in self.unmatched]
        out += [f"renders {self.name}: {c}: {why}" for c, why in self.refused]
        if self.level_diff_db is not None and abs(self.level_diff_db) > WARN_LEVEL_DIFF_DB:
            out.append(f"renders {self.name}: folder is {self.level_diff_db:+.1f} dB from the references (median "
                       "RMS difference): render from `bench references` without renormalising")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "stored": self.stored, "reused": self.reused, "refused": self.refused,
                "missing": self.missing, "unmatched": self.unmatched, "level_diff_db": self.level_diff_db}


def parse_renders(items: dict[str, str], taken: Sequence[str]) -> dict[str, Path]:
    """Validate ``--renders NAME=DIR`` pairs: NAME a new system name, DIR an existing directory (resolved)."""
    out: dict[str, Path] = {}
    for name, folder in items.items():
        if not _NAME.match(name):
            raise BenchError(f"--renders: system name {name!r} may hold only letters, digits, '.', '_', '-'")
        if name in taken or name == "reference":
            raise BenchError(f"--renders: {name!r} is already a vocoder name; choose another NAME")
        p = Path(folder).expanduser().resolve()
        if not p.is_dir():
            raise BenchError(f"--renders {name}: {p} is not a directory")
        out[name] = p
    return out


def audio_files(folder: Path) -> dict[str, list[Path]]:
    """Audio files under ``folder`` by relative path without extension (posix). Two files with the same stem
    (``a.wav`` and ``a.flac``) map to the key ``a`` with the later one kept; :func:`match` reports them."""
    out: dict[str, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."):
            out.setdefault(p.relative_to(folder).with_suffix("").as_posix(), []).append(p)
    return out


def clip_keys(ref: Reference, dataset_root: str | None) -> list[str]:
    """Names a clip's render may have (without extension): its id, and its source path relative to the
    dataset root (a folder, or a manifest file's folder) when the source lies under it."""
    keys = [ref.clip.id]
    if dataset_root:
        root = Path(dataset_root).resolve()
        root = root.parent if root.is_file() else root  # a manifest file: paths relative to its folder
        try:
            rel = Path(ref.clip.path).resolve().relative_to(root)
        except (ValueError, OSError):
            rel = None
        if rel is not None:
            keys.append(rel.with_suffix("").as_posix())
    return list(dict.fromkeys(keys))


def match(refs: Sequence[Reference], files: dict[str, list[Path]], dataset_root: str | None
          ) -> tuple[dict[str, Path], dict[str, str], list[str]]:
    """Pair clips with files. Returns (clip id -> file, clip id -> reason it has none, unmatched file keys)."""
    found: dict[str, Path] = {}
    problems: dict[str, str] = {}
    used: set[str] = set()
    for r in refs:
        hits = [(k, p) for k in clip_keys(r, dataset_root) for p in files.get(k, [])]
        paths = list(dict.fromkeys(p for _, p in hits))
        used.update(k for k, _ in hits)
        if len(paths) == 1:
            found[r.clip.id] = paths[0]
        elif len(paths) > 1:
            problems[r.clip.id] = f"{len(paths)} files match this clip ({', '.join(p.name for p in paths)})"
    unmatched = [p for k, ps in files.items() if k not in used for p in ps]
    return found, problems, [str(p) for p in unmatched]


@dataclass(frozen=True)
class LoadedRender:
    audio: np.ndarray  # [T_ref] at the reference rate, aligned
    file_sample_rate: int
    length_diff: int  # samples at the reference rate, before trimming/padding
    level_diff_db: float


def _rate_hint(ratio: float, file_sr: int) -> str:
    """Why a file may be ``ratio`` times the reference's duration: its header names the wrong rate."""
    for sr in COMMON_RATES:
        if sr != file_sr and abs(sr / file_sr - ratio) < 0.01 * ratio:
            return f"; its content looks like {sr} Hz audio labelled {file_sr} Hz"
    return ""


def load_render(path: Path, ref: Reference) -> LoadedRender:
    """Read one render, check it and align it to ``ref``; raises BenchError with the reason it is refused."""
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise BenchError(f"cannot read {path.name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
                         ) from None
    if data.shape[0] == 0:
        raise BenchError(f"{path.name} holds no samples")
    x = data.mean(axis=1).astype(np.float32)  # the same downmix as the loader of references
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise BenchError(f"{path.name} has {bad} NaN/inf samples")
    level = rms_dbfs(x)
    if not np.isfinite(level) or level < SILENCE_DBFS:
        raise BenchError(f"{path.name} is silent (RMS {level:.0f} dBFS)")
    ref_seconds = ref.audio.size / ref.sample_rate
    seconds = x.size / file_sr
    if abs(seconds - ref_seconds) > LENGTH_TOLERANCE_S:
        raise BenchError(f"{path.name} lasts {seconds:.3f} s at {file_sr} Hz, the reference {ref_seconds:.3f} s "
                         f"(more than {LENGTH_TOLERANCE_S} s apart){_rate_hint(seconds / ref_seconds, file_sr)}")
    aligned = align_to_reference(x, int(file_sr), ref.audio.size, ref.sample_rate)
    diff_db = rms_dbfs(aligned.audio) - rms_dbfs(ref.audio)
    if abs(diff_db) > MAX_LEVEL_DIFF_DB:
        raise BenchError(f"{path.name} is {diff_db:+.1f} dB from the reference's level (more than "
                         f"{MAX_LEVEL_DIFF_DB:g} dB): render from `bench references` without renormalising")
    return LoadedRender(aligned.audio, int(file_sr), aligned.length_diff, float(diff_db))


def file_key(name: str, folder: Path, path: Path, sha256: str, sample_rate: int) -> str:
    """Render key of a pre-rendered item: changes when the file's content (hash) or rate changes."""
    rel = path.relative_to(folder).as_posix()
    return render_key(name, {"renders_dir": str(folder), "file": rel, "file_sample_rate": sample_rate},
                      None, {rel: sha256})


def _drop(store: ResultsStore, name: str, clip_id: str) -> None:
    """Remove a stored render of ``name`` (and its values) whose file is gone or now refused."""
    row = store.render(name, clip_id)
    if row is None:
        return
    with store.transaction() as c:
        c.execute("DELETE FROM renders WHERE vocoder = ? AND clip_id = ?", (name, clip_id))
        c.execute("DELETE FROM scores WHERE vocoder = ? AND clip_id = ?", (name, clip_id))
    Path(row["path"]).unlink(missing_ok=True)


def import_folder(store: ResultsStore, name: str, folder: Path, refs: Sequence[Reference],
                  dataset_root: str | None = None) -> FolderReport:
    """Store ``folder``'s renders of ``refs`` as the system ``name`` (see the module docstring)."""
    report = FolderReport(name, str(folder))
    files = audio_files(folder)
    found, problems, unmatched = match(refs, files, dataset_root)
    report.unmatched = sorted(os.path.relpath(p, folder) for p in unmatched)
    with store.transaction() as c:  # this folder's listing is redone each run
        c.execute("DELETE FROM failures WHERE stage = 'renders' AND vocoder = ?", (name,))
    for f in report.unmatched:
        store.put_failure("renders", "file matches no clip of the run", vocoder=name, clip_id=f)
    for r in refs:
        cid = r.clip.id
        path = found.get(cid)
        if path is None:
            why = problems.get(cid)
            if why is None:
                report.missing.append(cid)
                why = f"no file for this clip in {folder}"
            else:
                report.refused.append((cid, why))
            _drop(store, name, cid)
            store.put_failure("synthesis", why, vocoder=name, clip_id=cid)
            continue
        sha = sha256_file(path)
        try:
            file_sr = int(sf.info(str(path)).samplerate)
        except Exception:
            file_sr = 0
        key = file_key(name, folder, path, sha, file_sr)
        if is_current(store, name, cid, key):
            report.reused += 1
            continue
        try:
            item = load_render(path, r)
        except BenchError as err:
            report.refused.append((cid, str(err)))
            _drop(store, name, cid)
            store.put_failure("synthesis", str(err), vocoder=name, clip_id=cid)
            continue
        save_audio(store.audio_path(name, cid), item.audio, r.sample_rate)
        rel = path.relative_to(folder).as_posix()
        store.put_render(
            name, cid, sample_rate=r.sample_rate, n_samples=item.audio.size, sha256=sha256_samples(item.audio),
            native_sample_rate=item.file_sample_rate, length_diff=item.length_diff, rtf=None, seconds=None,
            device="", precision=None, batch_size=0, config_hash=key,
            provenance={"vocoder": name, "renders_dir": str(folder), "file": rel, "file_sha256": sha,
                        "file_sample_rate": item.file_sample_rate, "level_diff_db": round(item.level_diff_db, 2),
                        "render_key": key})
        report.stored += 1
    # level of every render of this folder now stored (new and reused ones): the folder-wide offset
    levels = []
    for r in refs:
        row = store.render(name, r.clip.id)
        if row is not None and row["path"].is_file():
            x, _ = sf.read(str(row["path"]), dtype="float32")
            levels.append(rms_dbfs(x) - rms_dbfs(r.audio))
    if levels:
        report.level_diff_db = float(np.median(levels))
        if abs(report.level_diff_db) > WARN_LEVEL_DIFF_DB:  # kept with the failures, so the report shows it
            store.put_failure("renders", f"folder is {report.level_diff_db:+.1f} dB from the references (median RMS "
                              f"difference over {len(levels)} files)", vocoder=name)
    return report
