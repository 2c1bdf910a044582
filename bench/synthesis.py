"""Copy-synthesis stage: reference -> vocoder's own rate and front-end -> vocoder -> aligned output on disk."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from bench.align import align_to_reference
from bench.audio import resample, save_audio
from bench.errors import BenchError
from bench.references import Reference
from bench.results.store import ResultsStore
from bench.vocoders.base import LoadOptions, Vocoder
from bench.vocoders.registry import VocoderEntry
from bench_datasets.base import sha256_file, sha256_samples


@dataclass(frozen=True)
class RenderResult:
    clip_id: str
    ok: bool
    error: str | None = None


def weights_digest(weights_path: str | None, cache: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Content hash of each weight file: {file name: sha256} for a file, or the files directly in a directory.

    ``cache`` maps a resolved file path to ``{"size", "mtime_ns", "sha256"}``; a file whose size and mtime are
    unchanged is not read again, and new hashes are added to it (the caller keeps it, e.g. in the run's store).
    """
    if not weights_path:
        return {}
    p = Path(weights_path)
    files = sorted((f for f in (p.iterdir() if p.is_dir() else [p]) if f.is_file()), key=lambda f: f.name)
    cache = cache if cache is not None else {}
    out: dict[str, str] = {}
    for f in files:
        st = f.stat()
        where = str(f.resolve())
        hit = cache.get(where)
        if not (hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns):
            hit = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(f)}
            cache[where] = hit
        out[f.name] = hit["sha256"]
    return out


@dataclass(frozen=True)
class RenderSpec:
    """What determines a vocoder's output, hence its renders' cache key and recorded provenance.

    ``precision`` is None for vocoders whose output does not depend on it (anchors, Griffin-Lim, reference);
    ``weights`` maps each weight file's name to its content hash. Batch size, device and job count are not
    part of it: batching never changes an item's output (``Vocoder.copy_synthesis_items``).
    """

    name: str
    params: dict[str, Any]
    precision: str | None
    weights: dict[str, str]

    @property
    def key(self) -> str:
        return render_key(self.name, self.params, self.precision, self.weights)

    def provenance(self) -> dict[str, Any]:
        return {"vocoder": self.name, "params": self.params, "precision": self.precision, "weights": self.weights,
                "render_key": self.key}


def render_key(name: str, params: dict, precision: str | None, weights: dict[str, str]) -> str:
    """Hash of name, parameters, precision (None where unused) and weight files' content hashes (renders with
    another key are redone). Computable without loading the vocoder."""
    key = {"name": name, "params": params, "precision": precision, "weights": sorted(weights.items())}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def render_spec(entry: VocoderEntry, options: LoadOptions, cache: dict[str, dict[str, Any]] | None = None
                ) -> RenderSpec:
    """The :class:`RenderSpec` of ``entry`` loaded with ``options`` (hashes its weight files, see
    :func:`weights_digest`)."""
    return RenderSpec(entry.name, dict(options.params), options.precision if entry.uses_precision else None,
                      weights_digest(options.weights_path, cache))


def is_current(store: ResultsStore, name: str, clip_id: str, key: str) -> bool:
    """Whether the stored render of (``name``, ``clip_id``) was made under ``key`` and its file on disk still
    holds exactly the stored samples (a file changed or truncated since is rendered again)."""
    row = store.render(name, clip_id)
    if not (row and row["config_hash"] == key and row["path"].is_file()):
        return False
    try:
        x, sr = sf.read(str(row["path"]), dtype="float32")
    except Exception:  # unreadable = changed; it is rendered again
        return False
    return sr == row["sample_rate"] and x.ndim == 1 and sha256_samples(x) == row["sha256"]


def batches(refs: Sequence[Reference], batch_size: int, max_length_ratio: float = 1.25) -> list[list[Reference]]:
    """Group references of similar length (sorted by length; a batch never mixes lengths > ratio apart)."""
    order = sorted(refs, key=lambda r: r.audio.size)
    out: list[list[Reference]] = []
    for r in order:
        if out and len(out[-1]) < batch_size and r.audio.size <= out[-1][0].audio.size * max_length_ratio:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def _synthesise_batch(vocoder: Vocoder, batch: list[Reference]) -> tuple[list[np.ndarray], float]:
    """Run one batch through :meth:`Vocoder.copy_synthesis_items` (each output as if vocoded alone).

    Returns per-item outputs [T'_i] at the vocoder's rate and the wall seconds of the batch.
    """
    inputs = [torch.from_numpy(resample(r.audio, r.sample_rate, vocoder.sample_rate)) for r in batch]
    if vocoder.device.type == "cuda":
        torch.cuda.synchronize(vocoder.device)
    start = time.perf_counter()
    outs = vocoder.copy_synthesis_items(inputs)
    if vocoder.device.type == "cuda":
        torch.cuda.synchronize(vocoder.device)
    seconds = time.perf_counter() - start
    return [y.detach().float().cpu().numpy() for y in outs], seconds


@dataclass(frozen=True)
class RenderedClip:
    """One clip's synthesis outcome, before it is stored: the output aligned to the reference, or the reason
    it failed. Small and picklable, so that it can come back from a worker (bench.execution)."""

    clip_id: str
    audio: np.ndarray | None = field(repr=False)  # [T] float32 at ``sample_rate``, aligned; None on failure
    sample_rate: int  # the reference's (evaluation) rate
    native_sample_rate: int  # the vocoder's own rate
    device: str
    batch_size: int
    length_diff: int = 0  # samples of the vocoder's output beyond the reference length (negative: short)
    seconds: float | None = None  # wall seconds of this clip's share of its batch
    rtf: float | None = None  # audio seconds per wall second of its batch
    error: str | None = None


def synthesise(vocoder: Vocoder, refs: Sequence[Reference], *, batch_size: int = 1,
               progress: Callable[[int], None] | None = None) -> list[RenderedClip]:
    """Copy-synthesis of ``refs`` with ``vocoder``, aligned to each reference; touches no store or file.

    A failing batch is retried item by item, so one bad clip costs one item; BenchError stops (it is raised).
    """
    results: list[RenderedClip] = []
    for batch in batches(refs, batch_size):
        try:
            outs, seconds = _synthesise_batch(vocoder, batch)
        except BenchError:
            raise
        except Exception as err:
            if len(batch) > 1:
                for r in batch:
                    results += synthesise(vocoder, [r], batch_size=1, progress=progress)
                continue
            msg = f"{type(err).__name__}: {err}".splitlines()[0]
            results.append(RenderedClip(batch[0].clip.id, None, batch[0].sample_rate, vocoder.sample_rate,
                                        str(vocoder.device), 1, error=msg))
            if progress:
                progress(1)
            continue
        audio_seconds = sum(r.audio.size / r.sample_rate for r in batch)
        for r, out in zip(batch, outs):
            common = dict(clip_id=r.clip.id, sample_rate=r.sample_rate, native_sample_rate=vocoder.sample_rate,
                          device=str(vocoder.device), batch_size=len(batch))
            if not np.all(np.isfinite(out)):
                msg = f"output has {int(np.count_nonzero(~np.isfinite(out)))} non-finite samples"
                results.append(RenderedClip(audio=None, error=msg, **common))
            else:
                aligned = align_to_reference(out, vocoder.sample_rate, r.audio.size, r.sample_rate)
                results.append(RenderedClip(
                    audio=aligned.audio, length_diff=aligned.length_diff,
                    rtf=audio_seconds / seconds if seconds > 0 else None,
                    seconds=seconds * (r.audio.size / r.sample_rate) / audio_seconds, **common))
            if progress:
                progress(1)
    return results


def store_rendered(store: ResultsStore, spec: RenderSpec, out: RenderedClip) -> RenderResult:
    """Write one synthesis outcome into the run: the file and its row, or the failure."""
    if out.audio is None:
        store.put_failure("synthesis", out.error or "", vocoder=spec.name, clip_id=out.clip_id)
        return RenderResult(out.clip_id, False, out.error)
    save_audio(store.audio_path(spec.name, out.clip_id), out.audio, out.sample_rate)
    store.put_render(
        spec.name, out.clip_id, sample_rate=out.sample_rate, n_samples=out.audio.size,
        sha256=sha256_samples(out.audio), native_sample_rate=out.native_sample_rate, length_diff=out.length_diff,
        rtf=out.rtf, seconds=out.seconds, device=out.device, precision=spec.precision, batch_size=out.batch_size,
        config_hash=spec.key, provenance=spec.provenance())
    return RenderResult(out.clip_id, True)


def render(store: ResultsStore, spec: RenderSpec, vocoder: Vocoder, refs: Sequence[Reference], *,
           batch_size: int = 1, progress: Callable[[int], None] | None = None) -> list[RenderResult]:
    """Render ``refs`` with ``vocoder`` into the run, stored under ``spec.key`` with ``spec``'s provenance.

    The caller passes only the references that need rendering.
    """
    todo = list(refs)
    if todo:
        warm_up(vocoder, todo[0])
    return [store_rendered(store, spec, out)
            for out in synthesise(vocoder, todo, batch_size=batch_size, progress=progress)]


def warm_up(vocoder: Vocoder, ref: Reference, seconds: float = 0.5) -> None:
    """One untimed synthesis of the first ``seconds`` of ``ref``, so that the first timed item does not pay for
    first-call costs (lazy initialisation, kernel selection, allocator growth). Without it a tiny HiFi-GAN
    measured RTF 5.6 on its first clip and 53 on the second (issue 7, item 13)."""
    try:
        _synthesise_batch(vocoder, [Reference(ref.clip, ref.audio[: int(seconds * ref.sample_rate)], ref.sample_rate)])
    except Exception:  # noqa: BLE001 - a vocoder that fails here fails on the timed item too, with its error stored
        pass
