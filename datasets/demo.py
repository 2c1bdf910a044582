"""`demo`: a built-in held-out set of real music and speech recordings from Debian packages.

``prepare()`` downloads a few Debian packages of freely licensed game music, band recordings, sample
loops and read sentences (``apt-get download`` + ``dpkg-deb``, nothing is installed), picks clips with a
seeded, deterministic procedure, and writes each clip as a mono 44.1 kHz float32 WAV file plus a JSON
manifest (source package and version, path inside the package, offset, licence, measured bandwidth, gain,
hashes) into a cache directory. :class:`DemoDataset` reads that manifest.

Sources (44.1 kHz stereo; a file at another rate is resampled with soxr, see ``resampler`` in the manifest):

- music: fretsonfire-songs-muldjord / -sectoid (band-recorded metal and rock mixes, CC-BY-SA-3.0 / MIT),
  wesnoth-1.16-music (orchestral, folk, choral; GPL-2+), nexuiz-music (electronic; GPL-2+),
  sonic-pi-samples (lossless loops and instrument samples; per-file licences, mostly CC0).
- speech: tuxpaint-stamps-default read descriptions in Spanish, French, Russian, Romanian and Bulgarian
  (GPL-2); Greek and Catalan recordings are band-limited to ~9-11 kHz and are not used.

Selection: music clips are fixed-length excerpts (10 s by default) at seeded offsets, kept only when the
excerpt is within 6 dB of the file's active level, above -50 dBFS, without long pauses, and at least 12 kHz
wide; speech clips are whole read sentences trimmed of silence (5-10 s; longer ones are cut at a pause).
Identical recordings are used once. Clips are scaled down (never up) to a 0.99 peak.

Cache layout (``root`` defaults to ``$BENCH_DATA_DIR`` or ``./data``)::

    root/debian/pkgs/<package>/...       unpacked package members (shared by all subsets)
    root/demo[-test][-seedN][-Ls]/clips/<domain>/<id>.wav
    root/demo[-test][-seedN][-Ls]/manifest.json
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench.audio.io import save_audio
from bench.audio.resample import RESAMPLER, resample
from bench.errors import MissingDatasetError
from bench_datasets import analysis
from bench_datasets.base import Clip, Dataset, DatasetEntry, sha256_file, sha256_samples, source_sha256
from bench_datasets.debian import Package, dep5_licence, fetch
from bench_datasets.selection import interleave, probe_level_dbfs, probe_windows, quick_active, rng_for, shuffled

SAMPLE_RATE = 44100
MANIFEST = "manifest.json"
#: Bumped whenever the selection procedure changes, so an old cache is rebuilt rather than trusted.
FORMAT_VERSION = 1
DEFAULT_CLIP_SECONDS = 10.0
SPEECH_SECONDS = (5.0, 10.0)  # min/max length of a speech clip after trimming
SPEECH_LANGUAGES = ("es", "fr", "ru", "ro", "bg")  # interleaving order; el/ca are band-limited
#: Files whose measured bandwidth is below this are not used (e.g. an 11 kHz file in a 44.1 kHz pack).
MIN_BANDWIDTH_HZ = {"music": 12000.0, "speech": 10000.0}
FLOOR_DBFS = -50.0  # excerpts quieter than this are never used
PEAK = 0.99  # clips are scaled down (never up) to at most this peak
SUBSETS = ("full", "test")
_PROBES = 10  # 1 s windows per music file for its active level and bandwidth
_TRIES = 32  # seeded offsets tried per music file (most are ruled out by a cheap 3-block check)


@dataclass(frozen=True)
class Source:
    """One Debian package and how clips are taken from it."""

    package: str
    domain: str
    short: str  # clip id prefix
    genre: str
    files: tuple[str, ...]  # globs (package paths) of candidate files, after unpacking
    extract: tuple[str, ...]  # tar patterns of the members to unpack
    licence: str  # short name used when the copyright file is not machine-readable ...
    licence_evidence: str  # ... provided the copyright file matches this regex (else "unknown")
    zip_archive: str | None = None  # a zip inside the package whose members hold the audio ...
    zip_members: str = ""  # ... and the glob of those members (unpacked to <zip_archive>.d/)


_FOF = "usr/share/games/fretsonfire/data/songs"
_NEXUIZ_PK3 = "usr/share/games/nexuiz/data/music.pk3"
_TUXPAINT = "usr/share/tuxpaint/stamps"

SOURCES: tuple[Source, ...] = (
    Source("fretsonfire-songs-muldjord", "music", "fof-muldjord", "metal (band recording)",
           (f"{_FOF}/muldjord/*/song.ogg",), (f"{_FOF}/muldjord/*/song.ogg",), "CC-BY-SA-3.0",
           r"Attribution\s+Share-?Alike\s+licen[cs]e\s+3\.0"),
    Source("wesnoth-1.16-music", "music", "wesnoth", "orchestral/folk/choral",
           ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",),
           ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",), "GPL-2+",
           r"GNU General Public License version 2\s+or at your option any later version"),
    Source("nexuiz-music", "music", "nexuiz", "electronic",
           (f"{_NEXUIZ_PK3}.d/sound/cdtracks/*.ogg",), (_NEXUIZ_PK3,), "GPL-2+",
           r"either version 2\s+of the License, or \(at your option\) any later version", zip_archive=_NEXUIZ_PK3,
           zip_members="sound/cdtracks/*.ogg"),
    Source("sonic-pi-samples", "music", "sonicpi", "loops and instrument samples (lossless)",
           ("usr/share/sonic-pi/samples/*.flac",), ("usr/share/sonic-pi/samples/*.flac",), "MIT",
           r"(?m)^License: MIT$"),
    Source("fretsonfire-songs-sectoid", "music", "fof-sectoid", "rock/metal (band recording)",
           (f"{_FOF}/sectoid/*/song.ogg",), (f"{_FOF}/sectoid/*/song.ogg",), "Expat",
           r"Permission is hereby granted, free of charge"),
    Source("tuxpaint-stamps-default", "speech", "tuxpaint", "read speech",
           tuple(f"{_TUXPAINT}/**/*_desc_{lang}.ogg" for lang in SPEECH_LANGUAGES),
           tuple(f"{_TUXPAINT}/*_desc_{lang}.ogg" for lang in SPEECH_LANGUAGES), "GPL-2", r"(?m)^License: GPL-2$"),
)

#: Clips per music source / per speech language, by subset. Music order = SOURCES order (interleaved).
QUOTAS: dict[str, dict[str, int]] = {
    "full": {"fretsonfire-songs-muldjord": 4, "wesnoth-1.16-music": 12, "nexuiz-music": 8,
             "sonic-pi-samples": 4, "fretsonfire-songs-sectoid": 4,
             **{f"speech:{lang}": 8 for lang in SPEECH_LANGUAGES}},
    "test": {"fretsonfire-songs-muldjord": 2, "sonic-pi-samples": 2,
             **{f"speech:{lang}": 2 for lang in SPEECH_LANGUAGES}},
}


# ----------------------------------------------------------------------------------------------- paths


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data cache: ``root``, else ``$BENCH_DATA_DIR``, else ``./data``."""
    return Path(root if root is not None else os.environ.get("BENCH_DATA_DIR") or "data").expanduser().resolve()


def cache_dir(root: str | os.PathLike | None = None, subset: str = "full", seed: int = 0,
              clip_seconds: float | None = None) -> Path:
    """Folder holding the clips and manifest of one (subset, seed, clip length) configuration."""
    _check_subset(subset)
    name = "demo" if subset == "full" else f"demo-{subset}"
    if int(seed) != 0:
        name += f"-seed{int(seed)}"
    if clip_seconds is not None and float(clip_seconds) != DEFAULT_CLIP_SECONDS:
        name += f"-{float(clip_seconds):g}s"
    return data_root(root) / name


def prepare_hint(subset: str = "full", seed: int = 0, clip_seconds: float | None = None) -> str:
    opts = "" if subset == "full" else f" --subset {subset}"
    opts += "" if int(seed) == 0 else f" --seed {int(seed)}"
    if clip_seconds is not None and float(clip_seconds) != DEFAULT_CLIP_SECONDS:
        opts += f" --clip-seconds {float(clip_seconds):g}"
    return f"run `bench datasets prepare demo{opts}`"


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise MissingDatasetError(f"dataset 'demo': unknown subset {subset!r} (choose {', '.join(SUBSETS)})")


def sources_for(subset: str) -> list[Source]:
    """The sources a subset draws from (in interleaving order)."""
    quota = QUOTAS[subset]
    return [s for s in SOURCES if s.package in quota or any(k.startswith(f"{s.domain}:") for k in quota)]


# ------------------------------------------------------------------------------------------ selection


@dataclass
class _Candidate:
    """A source file being considered."""

    source: Source
    rel: str  # path inside the package (for archive members: path inside the unpacked archive folder)
    path: Path

    @property
    def language(self) -> str | None:
        m = re.search(r"_desc_([a-z]{2})\.ogg$", self.rel)
        return m.group(1) if m else None


def list_files(source: Source, tree: Path) -> list[_Candidate]:
    """Candidate files of ``source`` in an unpacked package ``tree``, sorted by package path."""
    found: set[str] = set()
    for pattern in source.files:
        found.update(p.relative_to(tree).as_posix() for p in tree.glob(pattern) if p.is_file())
    return [_Candidate(source, rel, tree / rel) for rel in sorted(found)]


def _read(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Mono float32 samples of a region (channel average) and the file's rate."""
    with sf.SoundFile(str(path)) as f:
        if start:
            f.seek(start)
        x = f.read(frames, dtype="float32", always_2d=True)
        return x.mean(axis=1).astype(np.float32), f.samplerate


def offset_range(total_seconds: float, clip_seconds: float) -> tuple[float, float]:
    """Allowed excerpt start range (s): skips the first and last 10% (intros, fade-outs) when possible."""
    lo, hi = 0.1 * total_seconds, 0.9 * total_seconds - clip_seconds
    if hi < lo:
        lo, hi = 0.0, max(0.0, total_seconds - clip_seconds)
    return lo, hi


def choose_music_excerpt(cand: _Candidate, clip_seconds: float, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """Pick a seeded active excerpt of one music file.

    Returns (facts, samples at 44.1 kHz or None). ``facts`` holds the measurements and, on rejection,
    ``reason``.
    """
    info = sf.info(str(cand.path))
    facts: dict[str, Any] = {"source_seconds": round(float(info.duration), 3), "source_sample_rate": info.samplerate}
    if info.duration < clip_seconds:
        return {**facts, "reason": f"shorter than {clip_seconds:g} s"}, None
    probes, sr = probe_windows(cand.path, _PROBES)
    bw = analysis.bandwidth_of_segments(probes, sr)
    level = probe_level_dbfs(probes, sr)
    facts.update(bandwidth_hz=round(bw, 1), source_active_dbfs=round(level, 2) if np.isfinite(level) else None)
    if not np.isfinite(level) or level < FLOOR_DBFS:
        return {**facts, "reason": f"active level {level:.1f} dBFS < {FLOOR_DBFS:.0f} dBFS (near-silent)"}, None
    if bw < MIN_BANDWIDTH_HZ["music"]:
        return {**facts, "reason": f"bandwidth {bw:.0f} Hz < {MIN_BANDWIDTH_HZ['music']:.0f} Hz"}, None
    rng = rng_for(seed, cand.source.package, cand.rel)
    lo, hi = offset_range(float(info.duration), clip_seconds)
    frames = int(round(clip_seconds * sr))
    for _ in range(_TRIES):
        offset = round(float(rng.uniform(lo, hi)), 2)
        start = min(int(round(offset * sr)), info.frames - frames)
        if not quick_active(cand.path, start, frames, level):
            continue
        x, _sr = _read(cand.path, start, frames)
        if x.size != frames or not analysis.is_active_excerpt(x, sr, level, floor_dbfs=FLOOR_DBFS):
            continue
        # a quiet, dark passage of a full-band file says little about a vocoder's high band
        if analysis.bandwidth_hz(x, sr) >= MIN_BANDWIDTH_HZ["music"]:
            return {**facts, "offset": round(start / sr, 6), "duration": round(frames / sr, 6)}, x
    return {**facts, "reason": f"no active {clip_seconds:g} s excerpt with bandwidth >= "
                               f"{MIN_BANDWIDTH_HZ['music']:.0f} Hz in {_TRIES} seeded tries"}, None


def choose_speech_excerpt(cand: _Candidate) -> tuple[dict[str, Any], np.ndarray | None]:
    """Trim one utterance of silence; shorten it at a pause when longer than 10 s (5-10 s kept)."""
    x, sr = _read(cand.path)
    lo_s, hi_s = SPEECH_SECONDS
    facts: dict[str, Any] = {"source_seconds": round(x.size / sr, 3), "source_sample_rate": sr,
                             "bandwidth_hz": round(analysis.bandwidth_hz(x, sr), 1)}
    if facts["bandwidth_hz"] < MIN_BANDWIDTH_HZ["speech"]:
        why = f"bandwidth {facts['bandwidth_hz']:.0f} Hz < {MIN_BANDWIDTH_HZ['speech']:.0f} Hz"
        return {**facts, "reason": why}, None
    start, stop = analysis.trim_silence(x, sr)
    if stop - start > hi_s * sr:
        cut = start + analysis.quietest_cut(x[start:stop], sr, lo_s, hi_s)
        s2, e2 = analysis.trim_silence(x[start:cut], sr)
        start, stop = start + s2, start + e2
    if stop - start < lo_s * sr:
        return {**facts, "reason": f"{(stop - start) / sr:.2f} s after trimming silence (< {lo_s:g} s)"}, None
    y = x[start:stop]
    level = analysis.rms_dbfs(y)
    if level < FLOOR_DBFS:
        return {**facts, "reason": f"RMS {level:.1f} dBFS < {FLOOR_DBFS:.0f} dBFS"}, None
    return {**facts, "offset": round(start / sr, 6), "duration": round(y.size / sr, 6)}, y


def _finish(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Resample to 44.1 kHz and scale down (only) to peak <= PEAK; returns (samples, gain)."""
    if sr != SAMPLE_RATE:
        x = resample(x, sr, SAMPLE_RATE)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    gain = min(1.0, PEAK / peak) if peak > 0 else 1.0
    return (x * np.float32(gain)).astype(np.float32), gain


def _clip_name(cand: _Candidate) -> str:
    p = Path(cand.rel)
    stem = p.parent.name if p.stem == "song" else p.stem  # fretsonfire: <song>/song.ogg
    stem = re.sub(r"_desc_[a-z]{2}$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()
    lang = cand.language
    return f"{cand.source.short}-{lang}-{stem}" if lang else f"{cand.source.short}-{stem}"


def licence_of(source: Source, copyright_text: str, path: str) -> str:
    """Short licence name of ``path``: from a machine-readable copyright file, else the source's known
    licence when the copyright text still says so, else "unknown (see copyright file)"."""
    found = dep5_licence(copyright_text, path)
    if found:
        return found
    if re.search(source.licence_evidence, copyright_text):
        return source.licence
    return "unknown (see copyright file)"


def _package_path(cand: _Candidate) -> tuple[str, str | None]:
    """(path inside the .deb, member inside an archive or None)."""
    arch = cand.source.zip_archive
    if arch and cand.rel.startswith(f"{arch}.d/"):
        return arch, cand.rel[len(arch) + 3:]
    return cand.rel, None


def select_clips(packages: dict[str, Package], subset: str, seed: int, clip_seconds: float, out_dir: Path,
                 log: Callable[[str], None] = lambda s: None) -> tuple[list[dict], list[dict], dict[str, int]]:
    """Choose, cut, normalise and write the clips.

    Returns (manifest clip records, analysed-but-rejected files with the reason, number of files per
    source/language skipped as shorter than a clip).

    Deterministic: candidates are sorted package paths, visited in a seeded order per source (per
    language for speech), identical files (same SHA-256) are used once, and excerpt offsets come from a
    generator seeded by (seed, package, path). Clip files already on disk with the same samples are
    not rewritten.
    """
    quota = QUOTAS[subset]
    groups: list[list[dict]] = []
    speech_groups: list[list[dict]] = []
    rejected: list[dict] = []
    too_short: dict[str, int] = {}
    for source in sources_for(subset):
        pkg = packages[source.package]
        copyright_text = pkg.copyright_text()
        files = list_files(source, pkg.root)
        if source.domain == "music":
            plans = [(source.package, files, quota[source.package])]
        else:
            plans = [(f"speech:{lang}", [c for c in files if c.language == lang], quota[f"speech:{lang}"])
                     for lang in SPEECH_LANGUAGES if f"speech:{lang}" in quota]
        for key, cands, want in plans:
            # files shorter than a clip (one-shot samples, short sentences) are skipped by their header
            shortest = clip_seconds if source.domain == "music" else SPEECH_SECONDS[0]
            long_enough = [c for c in cands if _header_seconds(c.path) >= shortest]
            too_short[key] = len(cands) - len(long_enough)
            cands = long_enough
            chosen: list[dict] = []
            seen: set[str] = set()
            for cand in shuffled(cands, seed, "demo", key):
                if len(chosen) >= want:
                    break
                digest = sha256_file(cand.path)
                if digest in seen:
                    rejected.append({"source": source.package, "path": cand.rel, "reason": "duplicate file"})
                    continue
                seen.add(digest)
                try:
                    if source.domain == "music":
                        facts, x = choose_music_excerpt(cand, clip_seconds, seed)
                    else:
                        facts, x = choose_speech_excerpt(cand)
                except (sf.LibsndfileError, RuntimeError, ValueError) as err:  # corrupt file: skip, say why
                    facts, x = {"reason": f"cannot decode: {err}"}, None
                if x is None:
                    rejected.append({"source": source.package, "path": cand.rel, **facts})
                    continue
                y, gain = _finish(x, facts["source_sample_rate"])
                cid = _clip_name(cand)
                target = out_dir / "clips" / source.domain / f"{cid}.wav"
                digest_samples = sha256_samples(y)
                if not (target.is_file() and _samples_hash(target) == digest_samples):
                    save_audio(target, y, SAMPLE_RATE)
                in_pkg, member = _package_path(cand)
                rec: dict[str, Any] = {
                    "id": cid, "domain": source.domain, "file": target.relative_to(out_dir).as_posix(),
                    "source": source.package, "package_version": pkg.version, "path_in_package": in_pkg,
                    "archive_member": member, "genre": source.genre, "language": cand.language,
                    "offset": facts["offset"], "duration": facts["duration"],
                    "sample_rate": SAMPLE_RATE, "source_sample_rate": facts["source_sample_rate"],
                    "source_seconds": facts["source_seconds"],
                    "resampler": RESAMPLER if facts["source_sample_rate"] != SAMPLE_RATE else None,
                    "licence": licence_of(source, copyright_text, in_pkg),
                    "copyright": f"/{pkg.copyright_path()}",
                    "bandwidth_hz": facts["bandwidth_hz"],
                    "clip_bandwidth_hz": round(analysis.bandwidth_hz(y, SAMPLE_RATE), 1),
                    "gain": round(gain, 8), "peak": round(float(np.max(np.abs(y))), 6),
                    "rms_dbfs": round(analysis.rms_dbfs(y), 2),
                    "source_active_dbfs": facts.get("source_active_dbfs"),
                    "source_sha256": digest, "sha256": digest_samples,
                }
                chosen.append({k: v for k, v in rec.items() if v is not None or k in ("language",)})
            log(f"{key}: {len(chosen)} clips (wanted {want})")
            (groups if source.domain == "music" else speech_groups).append(chosen)
    clips = interleave(groups) + interleave(speech_groups)
    ids = [c["id"] for c in clips]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"demo: duplicate clip ids {sorted(i for i, n in Counter(ids).items() if n > 1)}")
    return clips, rejected, too_short


def _header_seconds(path: Path) -> float:
    """Duration from the header; +inf when unreadable, so the file is decoded and its error recorded."""
    try:
        return float(sf.info(str(path)).duration)
    except (sf.LibsndfileError, RuntimeError):
        return float("inf")


def _samples_hash(path: Path) -> str | None:
    try:
        x, _ = sf.read(str(path), dtype="float32")
    except Exception:
        return None
    return sha256_samples(x)


# -------------------------------------------------------------------------------------------- prepare


def _unzip_members(archive: str, pattern: str) -> Callable[[Path], None]:
    """Post-unpack step: extract ``pattern`` members of zip ``archive`` to ``<archive>.d/`` and drop the zip."""

    def run(tree: Path) -> None:
        import fnmatch

        src = tree / archive
        dest = tree / f"{archive}.d"
        with zipfile.ZipFile(src) as z:
            for name in sorted(z.namelist()):
                if fnmatch.fnmatchcase(name, pattern) and not name.endswith("/"):
                    target = dest / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(name))
        src.unlink()  # 88 MB of which only the extracted members are used

    return run


def fetch_packages(root: Path, subset: str, log: Callable[[str], None] = lambda s: None) -> dict[str, Package]:
    """Download and unpack the packages a subset needs into ``root/debian`` (skips finished ones)."""
    srcs = sources_for(subset)
    post = {s.package: _unzip_members(s.zip_archive, s.zip_members) for s in srcs if s.zip_archive}
    return fetch([s.package for s in srcs], root / "debian", {s.package: s.extract for s in srcs}, post, log=log)


def _config(subset: str, seed: int, clip_seconds: float) -> dict[str, Any]:
    """Everything that decides the clip list; a manifest with other values is rebuilt."""
    return {"format": FORMAT_VERSION, "dataset": "demo", "subset": subset, "seed": int(seed),
            "clip_seconds": float(clip_seconds), "sample_rate": SAMPLE_RATE,
            "selection": {"quotas": QUOTAS[subset], "min_bandwidth_hz": MIN_BANDWIDTH_HZ, "floor_dbfs": FLOOR_DBFS,
                          "peak": PEAK, "speech_seconds": list(SPEECH_SECONDS), "bandwidth_drop_db": 60.0,
                          "probes": _PROBES, "tries": _TRIES}}


def prepare(root: str | os.PathLike | None = None, subset: str = "full", seed: int = 0, progress: bool = True,
            clip_seconds: float | None = None, **_: object) -> Path:
    """Build the demo set (download, unpack, select, write clips, manifest last); returns the cache folder.

    Idempotent: a complete manifest for the same configuration returns at once; otherwise unpacked
    packages and identical clip files already on disk are reused.
    """
    _check_subset(subset)
    length = float(clip_seconds) if clip_seconds is not None else DEFAULT_CLIP_SECONDS
    out_dir = cache_dir(root, subset, seed, clip_seconds)
    log = (lambda s: print(f"[demo] {s}", file=sys.stderr, flush=True)) if progress else (lambda s: None)
    manifest = _load_manifest(out_dir)
    if manifest is not None and _matches(manifest, _config(subset, seed, length), out_dir):
        log(f"already prepared: {out_dir}")
        return out_dir
    t0 = time.perf_counter()
    packages = fetch_packages(data_root(root), subset, log)
    t1 = time.perf_counter()
    log(f"packages ready ({t1 - t0:.1f} s)")
    clips, rejected, too_short = select_clips(packages, subset, seed, length, out_dir, log)
    keep = {c["file"] for c in clips}
    for stale in sorted((out_dir / "clips").glob("*/*.wav")):
        if stale.relative_to(out_dir).as_posix() not in keep:
            stale.unlink()  # left by an older selection in this folder
    used = sorted({c["source"] for c in clips})
    doc = {
        **_config(subset, seed, length),
        "created_by": "vocoder-bench demo builder",
        "packages": {n: {"version": packages[n].version, "deb_sha256": packages[n].deb_sha256,
                         "deb_bytes": packages[n].deb_bytes, "copyright": f"/{packages[n].copyright_path()}"}
                     for n in used},
        "clips": clips,
        "rejected": rejected,
        "too_short": too_short,
    }
    _write_json(out_dir / MANIFEST, doc)
    log(f"{len(clips)} clips in {out_dir} (selection {time.perf_counter() - t1:.1f} s, "
        f"total {time.perf_counter() - t0:.1f} s)")
    return out_dir


def _write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # allow_nan=False: the manifest must stay strict JSON (no Infinity/NaN) for other tools
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _load_manifest(out_dir: Path) -> dict | None:
    try:
        doc = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("clips"), list) else None


def _matches(manifest: dict, config: dict, out_dir: Path) -> bool:
    same = all(manifest.get(k) == v for k, v in config.items())
    return same and all((out_dir / c["file"]).is_file() for c in manifest["clips"])


# -------------------------------------------------------------------------------------------- dataset


class DemoDataset(Dataset):
    """The prepared demo clips (music and speech), in the manifest's interleaved order.

    Args:
        root: data cache (default ``$BENCH_DATA_DIR`` or ``./data``); ``path`` is accepted as an alias.
        seed, subset, clip_seconds: which prepared configuration to read.
        domain: "music" or "speech" to keep one domain; None (or "all") for both.
    """

    name = "demo"

    def __init__(self, root: str | os.PathLike | None = None, seed: int = 0, subset: str = "full",
                 domain: str | None = None, clip_seconds: float | None = None,
                 path: str | os.PathLike | None = None, **_: object) -> None:
        _check_subset(subset)
        if domain not in (None, "all", "both", "music", "speech"):
            raise MissingDatasetError(f"dataset 'demo': domain must be music or speech, got {domain!r}")
        self.dir = cache_dir(root if root is not None else path, subset, seed, clip_seconds)
        self.subset, self.seed = subset, int(seed)
        self.clip_seconds = float(clip_seconds) if clip_seconds is not None else DEFAULT_CLIP_SECONDS
        self.domain = domain if domain in ("music", "speech") else None
        manifest = _load_manifest(self.dir)
        hint = prepare_hint(subset, seed, clip_seconds)
        if manifest is None:
            raise MissingDatasetError(f"dataset 'demo' is not prepared in {self.dir}: {hint}")
        if manifest.get("format") != FORMAT_VERSION:
            raise MissingDatasetError(f"dataset 'demo' in {self.dir} was built by another version: {hint}")
        missing = [c["file"] for c in manifest["clips"] if not (self.dir / c["file"]).is_file()]
        if missing:
            raise MissingDatasetError(f"dataset 'demo' in {self.dir} is incomplete ({len(missing)} clip files "
                                      f"missing, e.g. {missing[0]}): {hint}")
        self.manifest = manifest

    def clips(self) -> list[Clip]:
        out = []
        for rec in self.manifest["clips"]:
            if self.domain is not None and rec["domain"] != self.domain:
                continue
            path = self.dir / rec["file"]
            # Clip.sha256 is the hash of the file the run reads; the Debian file it was cut from is "origin_sha256"
            meta = {k: v for k, v in rec.items() if k != "source_sha256"} | {"origin_sha256": rec["source_sha256"]}
            out.append(Clip(id=rec["id"], domain=rec["domain"], path=str(path), offset=0.0, duration=None,
                            sha256=source_sha256(path), meta=meta))
        return out

    def describe(self) -> dict:
        listing = "\n".join(f"{c['id']} {c['sha256']}" for c in self.manifest["clips"])
        return {"name": self.name, "subset": self.subset, "seed": self.seed, "clip_seconds": self.clip_seconds,
                "domain": self.domain, "cache": str(self.dir),
                # one hash of every clip id + content: equal on two machines <=> the same demo set
                "clips_sha256": hashlib.sha256(listing.encode()).hexdigest(),
                "packages": {n: p["version"] for n, p in sorted(self.manifest.get("packages", {}).items())}}


def info(root: str | os.PathLike | None = None, subset: str = "full", seed: int = 0,
         clip_seconds: float | None = None) -> dict[str, Any]:
    """Summary of a prepared demo set (or where it would go and how to build it)."""
    out_dir = cache_dir(root, subset, seed, clip_seconds)
    manifest = _load_manifest(out_dir)
    base: dict[str, Any] = {"name": "demo", "subset": subset, "seed": int(seed), "cache": str(out_dir),
                            "sources": {s.package: {"domain": s.domain, "genre": s.genre}
                                        for s in sources_for(subset)}}
    if manifest is None:
        return {**base, "prepared": False, "hint": prepare_hint(subset, seed, clip_seconds)}
    clips = manifest["clips"]

    def count(key: str, domain: str | None = None) -> dict[str, int]:
        return dict(sorted(Counter(c[key] for c in clips if domain is None or c["domain"] == domain).items()))

    def bw(domain: str) -> dict[str, float]:
        v = sorted(c["bandwidth_hz"] for c in clips if c["domain"] == domain)
        return {"min": v[0], "median": float(np.median(v)), "max": v[-1]} if v else {}

    return {
        **base, "prepared": True, "clip_seconds": manifest["clip_seconds"], "clips": len(clips),
        "per_domain": count("domain"), "per_source": count("source"), "per_language": count("language", "speech"),
        "duration_s": {d: round(sum(c["duration"] for c in clips if c["domain"] == d), 2) for d in ("music", "speech")},
        "bandwidth_hz": {d: bw(d) for d in ("music", "speech")},
        "licences": dict(sorted(Counter(f"{c['source']}: {c['licence']}" for c in clips).items())),
        "packages": {n: p["version"] for n, p in sorted(manifest["packages"].items())},
        "download_bytes": sum(p["deb_bytes"] for p in manifest["packages"].values()),
        "rejected_files": len(manifest.get("rejected", [])),
    }


ENTRY = DatasetEntry(
    name="demo",
    description="built-in held-out set: real music (metal/rock bands, orchestral, electronic, loops) and read "
                "speech (es/fr/ru/ro/bg) from Debian packages; `bench datasets prepare demo` builds it",
    factory=DemoDataset,
    prepare=prepare,
    env_var="BENCH_DATA_DIR",
    how_to_get="run `bench datasets prepare demo` (downloads ~480 MB of Debian packages with apt-get)",
)
