"""Where a vocoder's published weights are looked for, in order, and how a user gets them.

Order: ``--weights NAME=PATH`` > env var ``BENCH_WEIGHTS_<NAME>`` > ``<models_dir>/<name>/`` (models_dir
from ``--models-dir``, else ``$BENCH_MODELS_DIR``, else ``./models``) > Hugging Face cache
(``local_files_only``) > download from the hub, only when online and allowed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import MissingWeightsError


@dataclass(frozen=True)
class WeightSpec:
    """Published weights of one vocoder.

    ``files`` are the file names inside the published repository (all are required); ``repo_id`` is the
    Hugging Face repository (None where the weights are published elsewhere: then ``url`` and ``how_to_get``).
    """

    files: tuple[str, ...]
    repo_id: str | None = None
    revision: str | None = None
    url: str | None = None
    how_to_get: str = ""

    def env_var(self, vocoder: str) -> str:
        return "BENCH_WEIGHTS_" + vocoder.upper().replace("-", "_")


@dataclass
class Resolution:
    """Result of looking for weights: the directory that holds all ``files`` (or, for single-file weights, the
    file), None when not found, and where we looked."""

    path: Path | None
    source: str | None = None
    searched: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.path is not None


def default_models_dir() -> Path:
    return Path(os.environ.get("BENCH_MODELS_DIR", "models"))


def _is_offline() -> bool:
    flags = ("HF_HUB_OFFLINE", "BENCH_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _dir_with_files(candidate: Path, files: tuple[str, ...]) -> Path | None:
    """A directory holding all ``files``, or, where one file is required, that file under any name (returned
    as the file path itself: published single-file weights are often renamed by download tools)."""
    if candidate.is_file():
        return candidate if len(files) == 1 else None
    if candidate.is_dir() and all((candidate / f).is_file() for f in files):
        return candidate
    return None


def _hf_cache(spec: WeightSpec) -> Path | None:
    if spec.repo_id is None:
        return None
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    # Read at call time (huggingface_hub reads it once at import).
    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    found = []
    for f in spec.files:
        try:
            found.append(Path(hf_hub_download(spec.repo_id, f, revision=spec.revision, cache_dir=cache_dir,
                                              local_files_only=True)))
        except Exception:  # not cached (the hub client raises several types for that)
            return None
    return found[0].parent


def resolve(name: str, spec: WeightSpec, *, override: str | os.PathLike | None = None,
            models_dir: Path | None = None, download: bool = False) -> Resolution:
    """Look for ``spec.files`` of vocoder ``name``; never raises. ``download`` allows the hub step."""
    res = Resolution(path=None)
    candidates: list[tuple[str, Path]] = []
    if override is not None:
        candidates.append(("--weights", Path(override)))
    env = os.environ.get(spec.env_var(name))
    if env:
        candidates.append((f"${spec.env_var(name)}", Path(env)))
    candidates.append(("models dir", (models_dir or default_models_dir()) / name))
    for source, cand in candidates:
        res.searched.append(f"{source}: {cand}")
        found = _dir_with_files(cand, spec.files)
        if found is not None:
            res.path, res.source = found, source
            return res
    if spec.repo_id is not None:
        res.searched.append(f"Hugging Face cache: {spec.repo_id}")
        cached = _hf_cache(spec)
        if cached is not None:
            res.path, res.source = cached, "Hugging Face cache"
            return res
        if download and not _is_offline():
            if not hub_reachable():
                res.searched.append("download: skipped (hub unreachable: offline?)")
            else:
                res.searched.append(f"download: {spec.repo_id}")
                try:
                    res.path, res.source = fetch(spec), "downloaded"
                except MissingWeightsError as err:
                    res.searched[-1] += f" ({err})"
    return res


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint accepts a TCP connection (avoids the client's long retry loop)."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def fetch(spec: WeightSpec) -> Path:
    """Download ``spec.files`` into the Hugging Face cache; returns their directory."""
    if spec.repo_id is None:
        raise MissingWeightsError(f"no hub repository for these weights: {spec.how_to_get}")
    if not hub_reachable():
        raise MissingWeightsError(f"cannot reach the Hugging Face hub to download {spec.repo_id} (offline?)")
    try:
        from huggingface_hub import hf_hub_download

        paths = [Path(hf_hub_download(spec.repo_id, f, revision=spec.revision)) for f in spec.files]
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingWeightsError(f"download of {spec.repo_id} failed: {first}") from None
    return paths[0].parent


def missing_message(name: str, spec: WeightSpec, res: Resolution) -> str:
    """One line: what is missing, where we looked, how to get it."""
    files = ", ".join(spec.files)
    where = "; ".join(res.searched)
    get = spec.how_to_get or (f"`bench weights fetch {name}` (downloads {spec.repo_id})" if spec.repo_id else "")
    return (f"{name}: weights not found ({files}). Looked in: {where}. Put the files in "
            f"{(default_models_dir() / name)}/ or pass --weights {name}=DIR" + (f", or get them: {get}" if get else ""))
