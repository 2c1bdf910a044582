"""A run's results as one pandas DataFrame in long form, for analysis outside the bench (and for its own tables).

:func:`load` reads a run folder read-only and returns one row per stored value, per render and per recorded
failure (column ``kind``), each with its clip's metadata and its render's facts. The tables, plots and report
are aggregations of this frame. Columns, in order:

=====================  ============================================================================================
``run``                run folder name
``kind``               ``"value"`` (a metric value), ``"render"`` (a vocoder output; its facts, no value) or
                       ``"failure"`` (a recorded failure; ``value`` is NaN)
``vocoder``            vocoder name (also the hidden ``reference`` and the MUSHRA anchors); ``""`` for failures
                       of no vocoder
``family``             the vocoder's registry family: reference, anchor, baseline, neural; NA if not registered
``clip``               clip id; ``""`` for failures of no clip
``domain``             clip domain (music, speech, ...); NA for failures of no stored clip
``metric``             stored metric key (``mrstft``, ``mrstft@discoder``); NA on render rows and on failures of
                       a whole render (``stage`` synthesis) or clip
``variant_id``         hash of the metric variant (value rows)
``variant``            the metric variant as sorted-key JSON text (value rows)
``direction``          ``"lower"``/``"higher"`` is better, as stored in the variant; NA if not stored
``value``              the metric value (float64; NaN on render and failure rows)
``metric_seconds``     seconds spent computing the value
``created``            when the row was written (Unix time, s)
``latest_variant``     the value is of the most recent variant of its (vocoder, clip, metric); always True unless
                       ``all_variants=True``
``stale``              a failure recorded after the value or render (a later re-render or a new variant failed):
                       the tables count the failure, not the value
``selected``           the clip is in the run's current selection (:mod:`bench.results.selection`; a store that
                       records none: every clip with status ok)
``counted``            the row is what the tables average: a value (or, for RTF, a render with an RTF) of a
                       selected clip, latest variant, not stale
``stage``              failure rows: reference, synthesis, metric, renders
``error``              failure rows: the error text
``dataset``            clip metadata: dataset name
``source_path``        path of the source file the clip was cut from
``offset``             clip start in the source (s)
``duration``           clip duration (s)
``reference_sha256``   hash of the reference samples evaluated
``source_sha256``      hash of the source file
``clip_status``        ``"ok"`` or ``"error"`` (reference could not be prepared)
``meta_<field>``       each field of the clip's metadata (lists and dicts as JSON text)
``rtf``                render facts of (vocoder, clip), on value and render rows: real-time factor (audio
                       seconds per synthesis second)
``seconds``            synthesis wall time (s)
``device``             device the render ran on
``precision``          numeric precision (fp32, bf16, ...)
``batch_size``         clips synthesized together
``sample_rate``        sample rate of the stored output (Hz)
``n_samples``          samples of the stored output
``native_sample_rate`` the vocoder's own rate (Hz)
``length_diff``        output minus reference length before alignment (samples)
``config_hash``        key of the vocoder configuration that made the render
``audio``              the output's path relative to the run folder
=====================  ============================================================================================
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.results.selection import coverage
from bench.results.store import ResultsStore

#: Columns of every frame, in order (``meta_<field>`` columns follow ``clip_status``).
BASE_COLUMNS = ["run", "kind", "vocoder", "family", "clip", "domain", "metric", "variant_id", "variant", "direction",
                "value", "metric_seconds", "created", "latest_variant", "stale", "selected", "counted", "stage",
                "error"]
CLIP_COLUMNS = ["dataset", "source_path", "offset", "duration", "reference_sha256", "source_sha256", "clip_status"]
RENDER_COLUMNS = ["rtf", "seconds", "device", "precision", "batch_size", "sample_rate", "n_samples",
                  "native_sample_rate", "length_diff", "config_hash", "audio"]
#: dtype of each fixed column, e.g. to read an export back: ``pd.read_csv(f, dtype=DTYPES)`` (hashes stay text).
DTYPES: dict[str, str] = {}
_INT_COLUMNS = ["batch_size", "sample_rate", "n_samples", "native_sample_rate", "length_diff"]
_STR_COLUMNS = ["run", "kind", "vocoder", "family", "clip", "domain", "metric", "variant_id", "variant", "direction",
                "stage", "error", "dataset", "source_path", "reference_sha256", "source_sha256", "clip_status",
                "device", "precision", "config_hash", "audio"]

DTYPES.update({c: "object" for c in _STR_COLUMNS})
DTYPES.update({c: "Int64" for c in _INT_COLUMNS})
DTYPES.update({c: "float64" for c in ("value", "metric_seconds", "created", "offset", "duration", "rtf", "seconds")})
DTYPES.update({c: "bool" for c in ("latest_variant", "stale", "selected", "counted")})


def load(run_dir: str | Path, *, all_variants: bool = False) -> pd.DataFrame:
    """The results of the run in ``run_dir`` as a long-form DataFrame (columns: see the module docstring).

    Opens the store read-only (writes nothing). ``all_variants``: also the values of older metric variants
    (``latest_variant`` False), which the tables never average. Raises BenchError when there is no store.
    """
    with ResultsStore.open_readonly(run_dir) as store:
        return from_store(store, all_variants=all_variants)


def _families(names: set[str]) -> dict[str, str]:
    from bench.vocoders.registry import vocoder_registry

    reg = vocoder_registry()
    return {n: reg.get(n).family for n in names if n in reg}


def _json_text(x: Any) -> Any:
    return json.dumps(x, sort_keys=True, default=str) if isinstance(x, (list, dict, tuple)) else x


def _clip_frame(store: ResultsStore, selected: set[str]) -> pd.DataFrame:
    rows = []
    for c in store.clips():
        meta = {f"meta_{k}": _json_text(v) for k, v in (c["meta"] or {}).items() if k != "source_sha256"}
        rows.append({"clip": c["clip_id"], "domain": c["domain"], "dataset": c["dataset"], "source_path": c["path"],
                     "offset": c["offset"], "duration": c["duration"], "reference_sha256": c["sha256"],
                     "source_sha256": c.get("source_sha256"), "clip_status": c["status"],
                     "selected": c["clip_id"] in selected, **meta})
    clips = pd.DataFrame(rows, columns=None if rows else ["clip", "domain", *CLIP_COLUMNS, "selected"])
    for col in [c for c in clips.columns if c.startswith("meta_")]:
        kinds = {type(v) for v in clips[col] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(kinds) > 1:  # one dtype per column (parquet needs it): mixed fields become text
            clips[col] = clips[col].map(lambda v: None if v is None else str(v))
    return clips


def _render_frame(store: ResultsStore) -> pd.DataFrame:
    rows = [{"vocoder": r["vocoder"], "clip": r["clip_id"], "created": r["created"], "rtf": r["rtf"],
             "seconds": r["seconds"], "device": r["device"], "precision": r["precision"],
             "batch_size": r["batch_size"], "sample_rate": r["sample_rate"], "n_samples": r["n_samples"],
             "native_sample_rate": r["native_sample_rate"], "length_diff": r["length_diff"],
             "config_hash": r["config_hash"], "audio": Path(r["path"]).relative_to(store.run_dir).as_posix()}
            for r in store.renders()]
    return pd.DataFrame(rows, columns=["vocoder", "clip", "created", *RENDER_COLUMNS])


def from_store(store: ResultsStore, *, all_variants: bool = False) -> pd.DataFrame:
    """:func:`load` for an open store (the tables, plots and report use it on the store they already hold)."""
    cover = coverage(store)
    clips = _clip_frame(store, set(cover.ids()) | {c["clip_id"] for c in cover.skipped})
    renders = _render_frame(store)

    scores = store.scores(all_variants=True)  # ordered by clip, vocoder, metric, time written
    # the JSON text of each variant (as stored: sorted keys), made once per variant rather than once per value
    text = {s["variant_hash"]: s["variant"] for s in scores}
    text = {h: json.dumps(v, sort_keys=True, default=str) for h, v in text.items()}
    values = pd.DataFrame({
        "kind": "value",
        "vocoder": [s["vocoder"] for s in scores], "clip": [s["clip_id"] for s in scores],
        "metric": [s["metric"] for s in scores], "variant_id": [s["variant_hash"] for s in scores],
        "variant": [text[s["variant_hash"]] for s in scores],
        "direction": [s["variant"].get("direction") for s in scores],
        "value": pd.Series([s["value"] for s in scores], dtype="float64"),
        "metric_seconds": pd.Series([s["seconds"] for s in scores], dtype="float64"),
        "created": pd.Series([s["created"] for s in scores], dtype="float64"),
    })
    values["latest_variant"] = ~values.duplicated(["vocoder", "clip", "metric"], keep="last")
    if not all_variants:
        values = values[values["latest_variant"]]

    fails = pd.DataFrame(store.failures(), columns=["stage", "vocoder", "clip_id", "metric", "error", "created"])
    fails = fails.rename(columns={"clip_id": "clip"}).assign(kind="failure")
    fails["metric"] = fails["metric"].where(fails["metric"] != "", None)

    # A failure written after a value or render makes it stale: synthesis failures of (vocoder, clip) for both,
    # metric failures of (vocoder, clip, metric) for values.
    when = fails[["stage", "vocoder", "clip", "metric", "created"]].fillna({"created": 0.0})
    synth = (when[when["stage"] == "synthesis"].groupby(["vocoder", "clip"], as_index=False)["created"].max()
             .rename(columns={"created": "_synth_failed"}))
    metric = (when[when["stage"] == "metric"].dropna(subset=["metric"])
              .groupby(["vocoder", "clip", "metric"], as_index=False)["created"].max()
              .rename(columns={"created": "_metric_failed"}))
    keys = {"vocoder": object, "clip": object, "metric": object}  # an empty frame's keys would be float
    values, synth, metric = (x.astype({k: t for k, t in keys.items() if k in x}) for x in (values, synth, metric))
    renders = renders.astype({"vocoder": object, "clip": object})
    values = values.merge(synth, on=["vocoder", "clip"], how="left").merge(metric, on=["vocoder", "clip", "metric"],
                                                                           how="left")
    last = values[["_synth_failed", "_metric_failed"]].max(axis=1).fillna(-math.inf)
    values["stale"] = last >= values["created"].fillna(0.0)
    values = values.drop(columns=["_synth_failed", "_metric_failed"])
    renders = renders.merge(synth, on=["vocoder", "clip"], how="left")
    renders["stale"] = renders["_synth_failed"].fillna(-math.inf) >= renders["created"].fillna(0.0)
    renders = renders.drop(columns=["_synth_failed"]).assign(kind="render")

    facts = renders[["vocoder", "clip", *RENDER_COLUMNS]]
    values = values.merge(facts, on=["vocoder", "clip"], how="left")
    df = pd.concat([values, renders, fails], ignore_index=True)
    df = df.merge(clips, on="clip", how="left")
    df["selected"] = df["selected"].astype("boolean").fillna(False).astype(bool)
    # render and failure rows are of no metric variant (never an older one) and stale only as computed above
    df["latest_variant"] = df["latest_variant"].astype("boolean").fillna(True).astype(bool)
    df["stale"] = df["stale"].astype("boolean").fillna(False).astype(bool)
    df["counted"] = (df["selected"] & df["latest_variant"] & ~df["stale"]
                     & ((df["kind"] == "value") | ((df["kind"] == "render") & df["rtf"].notna())))
    fam = _families(set(df["vocoder"]))
    df["family"] = df["vocoder"].map(fam)
    df["run"] = store.run_dir.name
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in ("value", "metric_seconds", "created", "offset", "duration", "rtf", "seconds"):
        df[col] = df[col].astype("float64")
    meta = sorted(c for c in df.columns if c.startswith("meta_"))
    text_meta = [c for c in meta if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    for col in _STR_COLUMNS + text_meta:  # text columns: object dtype with None for "no value" (pandas 2 and 3)
        df[col] = df[col].astype("object").where(df[col].notna(), None)
    return df[BASE_COLUMNS + CLIP_COLUMNS + meta + RENDER_COLUMNS].reset_index(drop=True)
