"""Audio shared with a cluster's nodes through an fsspec URL, for nodes that do not see the driver's files.

The results store is SQLite and stays in the run folder on the driver's machine (``--out DIR``), with the audio
the driver writes there as always (``audio/<vocoder>/<clip>.wav``, ``audio/reference/``). With ``--audio-url
URL`` the driver also copies every file a unit reads to ``URL`` (each once, before the first unit that reads
it), with the same layout:

    URL/audio/reference/<clip>.wav    the references as evaluated
    URL/audio/<vocoder>/<clip>.wav    each vocoder's aligned output
    URL/sources/<clip><suffix>        each clip's source file (the reference units read it)

and the units sent to the nodes name those URLs; a node copies what a unit reads into a local folder of its
worker once, and runs the unit on the local copy. The run's store records the URL (meta ``executor``), so where
each file is follows from the layout above. Any fsspec URL works that the driver can write and every node can
read: ``s3://bucket/run`` (with s3fs), ``gs://...`` (gcsfs), ``file:///shared/run`` or a plain path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from pathlib import Path

from bench.execution.units import MetricUnit, ReferenceUnit, Unit


def _join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])


def _is_url(path: str) -> bool:
    return "://" in path


class SharedFiles:
    """The driver's side: copies the files units read to ``url`` and rewrites the units to name the copies."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self._fs, self._root = fsspec.core.url_to_fs(self.url)
        self._copied: dict[str, str] = {}  # local path -> its URL, copied by this driver

    def _share(self, local: str, *parts: str) -> str:
        if local not in self._copied:
            target = _join(self._root, *parts)
            self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self._fs.put_file(local, target)
            self._copied[local] = _join(self.url, *parts)
        return self._copied[local]

    def run_file(self, local: str) -> str:
        """The URL of a run folder's audio file (``.../audio/<folder>/<clip>.wav``), copied there once."""
        p = Path(local)
        return self._share(local, "audio", p.parent.name, p.name)

    def shared(self, unit: Unit) -> Unit:
        """``unit`` naming URLs instead of the driver's files (a render unit carries its audio: unchanged)."""
        if isinstance(unit, ReferenceUnit):
            suffix = Path(unit.clip.path).suffix
            url = self._share(unit.clip.path, "sources", f"{unit.clip.id}{suffix}")
            return dataclasses.replace(unit, clip=dataclasses.replace(unit.clip, path=url))
        if isinstance(unit, MetricUnit):
            return dataclasses.replace(unit, reference=self.run_file(unit.reference),
                                       degraded=tuple(self.run_file(d) for d in unit.degraded))
        return unit


class LocalCopies:
    """A worker's side: local copies of the URLs its units name (each fetched once), in a folder of its own."""

    def __init__(self) -> None:
        # made at the first URL only: a worker whose units name no URL leaves nothing behind, even when Ray
        # ends it without calling remove()
        self.folder: Path | None = None

    def _local(self, url: str) -> str:
        import fsspec

        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="bench-files-"))
        name = hashlib.sha256(url.encode()).hexdigest()[:20] + Path(url.rsplit("/", 1)[-1]).suffix
        path = self.folder / name
        if not path.exists():
            part = path.with_suffix(path.suffix + ".part")
            with fsspec.open(url, "rb") as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            part.rename(path)
        return str(path)

    def local(self, unit: Unit) -> Unit:
        """``unit`` naming local copies instead of URLs (a unit without URLs is returned as it is)."""
        if isinstance(unit, ReferenceUnit) and _is_url(unit.clip.path):
            return dataclasses.replace(unit, clip=dataclasses.replace(unit.clip, path=self._local(unit.clip.path)))
        if isinstance(unit, MetricUnit) and _is_url(unit.reference):
            return dataclasses.replace(unit, reference=self._local(unit.reference),
                                       degraded=tuple(self._local(d) for d in unit.degraded))
        return unit

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
