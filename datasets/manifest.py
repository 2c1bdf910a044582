"""`manifest`: any list of files, from a CSV or JSON-lines file (``--dataset manifest --path FILE``).

Each row names ``path`` and ``domain`` (music|speech), optionally ``offset`` and ``duration`` in seconds and
``id``. A relative path is relative to the manifest's folder. Without ``id``, a clip's id is its file name
without extension (characters other than letters, digits, ``.``, ``_``, ``-`` replaced by ``_``), made unique
in file order with ``_2``, ``_3``, ... A malformed row is a one-line error naming the file and line; a file that
does not exist or does not decode is a per-clip error when the run loads it, like in the ``folder`` dataset.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from bench.errors import MissingDatasetError
from bench_datasets.base import DOMAINS, Clip, Dataset, DatasetEntry, sha256_file

FIELDS = ("path", "domain", "offset", "duration", "id")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) of a .csv (header row) or .jsonl/.ndjson manifest."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = [f for f in ("path", "domain") if f not in (reader.fieldnames or [])]
        if missing:
            raise MissingDatasetError(f"{path}: header row lacks column {', '.join(missing)} "
                                      f"(columns: {', '.join(FIELDS)})")
        return [(reader.line_num, dict(row)) for row in reader]
    if suffix in (".jsonl", ".ndjson"):
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise MissingDatasetError(f"{path}:{n}: not JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise MissingDatasetError(f"{path}:{n}: expected an object with {', '.join(FIELDS)}")
            out.append((n, row))
        return out
    raise MissingDatasetError(f"dataset 'manifest': {path} must be a .csv or .jsonl file")


def _seconds(value: Any, what: str, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MissingDatasetError(f"{where}: {what} {value!r} is not a number of seconds") from None
    if not math.isfinite(x) or x < 0 or (what == "duration" and x == 0):
        raise MissingDatasetError(f"{where}: {what} must be a positive number of seconds, got {value!r}")
    return x


class ManifestDataset(Dataset):
    """The clips listed in a CSV/JSON-lines manifest, in its order (see the module docstring)."""

    name = "manifest"

    def __init__(self, path: str | os.PathLike | None = None, **_: object) -> None:
        if path is None:
            raise MissingDatasetError("dataset 'manifest' needs --path FILE.csv|FILE.jsonl")
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise MissingDatasetError(f"dataset 'manifest': {self.path} is not a file")

    def clips(self) -> list[Clip]:
        rows = _rows(self.path)
        if not rows:
            raise MissingDatasetError(f"dataset 'manifest': {self.path} lists no file")
        out: list[Clip] = []
        taken: set[str] = set()
        explicit = {str(r.get("id")).strip() for _, r in rows if str(r.get("id") or "").strip()}
        for n, row in rows:
            where = f"{self.path}:{n}"
            unknown = sorted(set(row) - set(FIELDS) - {None})
            if unknown:
                raise MissingDatasetError(f"{where}: unknown column {', '.join(map(str, unknown))} "
                                          f"(columns: {', '.join(FIELDS)})")
            file = str(row.get("path") or "").strip()
            if not file:
                raise MissingDatasetError(f"{where}: empty path")
            domain = str(row.get("domain") or "").strip()
            if domain not in DOMAINS:
                raise MissingDatasetError(f"{where}: domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
            p = Path(file).expanduser()
            p = p if p.is_absolute() else self.path.parent / p
            cid = str(row.get("id") or "").strip()
            if cid:
                if not _ID.match(cid):
                    raise MissingDatasetError(f"{where}: id {cid!r} may hold only letters, digits, '.', '_', '-'")
                if cid in taken:
                    raise MissingDatasetError(f"{where}: id {cid!r} is used twice")
            else:
                base = re.sub(r"[^A-Za-z0-9._-]+", "_", p.stem).lstrip("._-") or "clip"
                cid, k = base, 1
                while cid in taken or cid in explicit:  # explicit ids keep their names
                    k += 1
                    cid = f"{base}_{k}"
            taken.add(cid)
            out.append(Clip(id=cid, domain=domain, path=str(p.resolve()),  # type: ignore[arg-type]
                            offset=_seconds(row.get("offset"), "offset", where) or 0.0,
                            duration=_seconds(row.get("duration"), "duration", where), meta={"manifest_line": n}))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": sha256_file(self.path)}


ENTRY = DatasetEntry(
    name="manifest",
    description="a CSV or JSON-lines list of files (--path FILE: path, domain[, offset, duration, id])",
    factory=ManifestDataset,
)
