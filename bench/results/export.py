"""Write a run's frame (:func:`bench.results.frame.load`) as CSV, Parquet or JSON Lines.

Every format keeps every column and float values exactly (CSV and JSON Lines write the shortest text that reads
back as the same double); a missing value is an empty CSV field, a JSON ``null``, a Parquet null. Parquet
needs pyarrow (the ``parquet`` extra) and a file to write to.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

import pandas as pd

from bench.errors import BenchError

FORMATS = ("csv", "parquet", "jsonl")


def _plain(x: Any) -> Any:
    """A JSON-ready Python value: None for missing values, numpy scalars as Python numbers."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return None
    if hasattr(x, "item"):  # numpy scalar
        x = x.item()
        return None if isinstance(x, float) and math.isnan(x) else x
    return x


def write_jsonl(df: pd.DataFrame, stream: IO[str]) -> None:
    """One JSON object per row (keys in column order)."""
    cols = list(df.columns)
    for row in df.itertuples(index=False, name=None):
        stream.write(json.dumps({c: _plain(v) for c, v in zip(cols, row)}, ensure_ascii=False, allow_nan=False))
        stream.write("\n")


def export(df: pd.DataFrame, fmt: str, out: Path | None, stdout: IO[str]) -> None:
    """Write ``df`` in ``fmt`` to the file ``out``, or to ``stdout`` when ``out`` is None (csv and jsonl only).

    Raises BenchError for an unknown format, parquet without pyarrow or without ``out``."""
    if fmt not in FORMATS:
        raise BenchError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise BenchError("--format parquet needs pyarrow: pip install 'vocoder-bench[parquet]'") from None
        if out is None:
            raise BenchError("--format parquet writes a binary file: give --out FILE")
        df.to_parquet(out, index=False)
        return
    if out is None:
        _write_text(df, fmt, stdout)
        return
    with open(out, "w", encoding="utf-8", newline="") as f:
        _write_text(df, fmt, f)


def _write_text(df: pd.DataFrame, fmt: str, stream: IO[str]) -> None:
    if fmt == "csv":
        df.to_csv(stream, index=False, lineterminator="\n")
    else:
        write_jsonl(df, stream)
