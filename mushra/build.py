"""Build a MUSHRA listening test (webMUSHRA format) from a bench run directory.

For each selected item: an excerpt of about ``excerpt_seconds`` (the same samples for every condition, placed
to avoid silent regions, 20 ms raised-cosine fades) of the reference, of each vocoder's render and of the two
BS.1534-3 anchors (the reference low-passed at 3.5 and 7 kHz), written as 48 kHz 24-bit WAV. Every stimulus is
set to -23 LUFS (BS.1770), then one common gain for the whole test keeps every sample peak below -1 dBFS, so
loudness stays aligned across items and conditions. Gains are recorded in manifest.json.

Output folder layout::

    config.yaml                    webMUSHRA config (audio paths relative to this folder)
    manifest.json                  what was built: run, vocoders, items (clip, domain, offset, gains), seed
    audio/<page id>/<condition>.wav
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.audio import RESAMPLER, load_audio, resample, save_audio
from bench.audio.loudness import integrated_loudness
from bench.errors import AudioError, BenchError, UnknownNameError
from bench.vocoders.anchors import lowpass
from mushra.config import ANCHOR35, ANCHOR70, HIDDEN_REFERENCE, MushraPage, Page, PageGroup, TestConfig, write_config

STIMULUS_SR = 48000
TARGET_LUFS = -23.0
#: Largest sample peak after the common gain (-1 dBFS leaves room for inter-sample peaks in the DAC).
PEAK_LIMIT = 10 ** (-1.0 / 20)
FADE_S = 0.02
MIN_EXCERPT_S = 1.0
ANCHOR_CUTOFFS = {ANCHOR35: 3500.0, ANCHOR70: 7000.0}
#: Frame length (s) of the activity analysis that places excerpts away from silence.
_FRAME_S = 0.05
#: A frame is active when its RMS is within this many dB of the loudest frame (and above -60 dBFS).
_ACTIVE_RANGE_DB = 35.0
_RESERVED = {HIDDEN_REFERENCE, ANCHOR35, ANCHOR70}


class BuildError(BenchError):
    """The test cannot be built (no usable items, output exists, bad arguments)."""


# -- excerpts -----------------------------------------------------------------------------------------
def pick_excerpt(x: np.ndarray, sr: int, seconds: float) -> tuple[int, int]:
    """(start, length) in samples of the ``seconds``-long window of ``x`` [T] with the most active frames.

    Ties go to the window whose first and last frames are active, then to the earliest. A signal shorter than
    ``seconds`` is used whole.
    """
    n = min(int(round(seconds * sr)), x.size)
    if n >= x.size:
        return 0, x.size
    hop = max(1, int(round(_FRAME_S * sr)))
    n_frames = x.size // hop
    frames = x[: n_frames * hop].astype(np.float64).reshape(n_frames, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    active = db > max(float(db.max()) - _ACTIVE_RANGE_DB, -60.0)
    w = n // hop
    csum = np.concatenate([[0], np.cumsum(active)])
    n_starts = n_frames - w + 1
    if w < 1 or n_starts < 1:
        return 0, n
    counts = csum[w: w + n_starts] - csum[:n_starts]
    edges = active[:n_starts].astype(int) + active[w - 1: w - 1 + n_starts].astype(int)
    score = counts * 4 + edges
    start = int(np.argmax(score)) * hop
    return min(start, x.size - n), n


def fade(x: np.ndarray, sr: int, seconds: float = FADE_S) -> np.ndarray:
    """Copy of ``x`` [T] with raised-cosine fade-in and fade-out of ``seconds`` each."""
    y = np.asarray(x, dtype=np.float64).copy()
    n = min(int(round(seconds * sr)), y.size // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        y[:n] *= ramp
        y[-n:] *= ramp[::-1]
    return y.astype(np.float32)


# -- selection ----------------------------------------------------------------------------------------
def select_items(candidates: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` candidates chosen with ``seed``, alternating over domains (sorted names) so domains stay balanced."""
    rng = random.Random(seed)
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in candidates:
        by_domain[c["domain"]].append(c)
    pools = []
    for domain in sorted(by_domain):
        pool = sorted(by_domain[domain], key=lambda c: c["clip_id"])
        rng.shuffle(pool)
        pools.append(pool)
    out: list[dict[str, Any]] = []
    while len(out) < n and any(pools):
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return out


def _safe_id(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return s or "mushra"


# -- build --------------------------------------------------------------------------------------------
def build_test(
    run_dir: str | Path,
    vocoders: list[str],
    items: int,
    out_dir: str | Path,
    seed: int = 0,
    excerpt_seconds: float = 10.0,
    name: str | None = None,
) -> Path:
    """Build a listening test from ``run_dir``'s renders of ``vocoders``; returns the written config path.

    Raises:
        BuildError: bad arguments, output folder not empty, no item with renders of every vocoder.
        UnknownNameError: a vocoder with no renders in the run.
    """
    from bench.results.store import ResultsStore

    run_dir = Path(run_dir)
    out_dir = Path(out_dir)
    if items < 1:
        raise BuildError(f"--items must be at least 1, got {items}")
    if excerpt_seconds < MIN_EXCERPT_S:
        raise BuildError(f"--excerpt-seconds must be at least {MIN_EXCERPT_S:g} s, got {excerpt_seconds:g}")
    notes: list[str] = []
    systems = []
    for v in vocoders:
        v = v.strip()
        if not v:
            continue
        if v in _RESERVED:
            notes.append(f"'{v}' is always part of the test (hidden reference / generated anchors); not added twice")
        elif v not in systems:
            systems.append(v)
    if not systems:
        raise BuildError("no vocoder to test (give --vocoders a,b,...)")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BuildError(f"{out_dir} exists and is not empty (choose a new --out or remove it)")

    store = ResultsStore.open(run_dir)
    try:
        clips = store.clips()
        renders: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for r in store.renders():
            renders[r["vocoder"]][r["clip_id"]] = r
        run_config = store.config()
    finally:
        store.close()
    missing = [v for v in systems if v not in renders]
    if missing:
        have = ", ".join(sorted(renders)) or "none"
        raise UnknownNameError(f"no renders of {', '.join(missing)} in {run_dir} (the run has: {have})")

    candidates, skipped = [], []
    for clip in clips:
        cid = clip["clip_id"]
        if clip.get("status", "ok") != "ok":
            skipped.append({"clip_id": cid, "reason": f"clip failed in the run: {clip.get('error')}"})
            continue
        ref = run_dir / "audio" / "reference" / f"{cid}.wav"
        if not ref.is_file() and cid in renders.get(HIDDEN_REFERENCE, {}):
            ref = Path(renders[HIDDEN_REFERENCE][cid]["path"])
        lacking = [v for v in systems if cid not in renders[v] or not Path(renders[v][cid]["path"]).is_file()]
        if not ref.is_file():
            skipped.append({"clip_id": cid, "reason": "no reference audio"})
        elif lacking:
            skipped.append({"clip_id": cid, "reason": f"no render of {', '.join(lacking)}"})
        else:
            candidates.append({"clip_id": cid, "domain": clip.get("domain") or "all", "reference": ref,
                               "renders": {v: Path(renders[v][cid]["path"]) for v in systems}})
    if not candidates:
        raise BuildError(f"{run_dir}: no clip has renders of every vocoder ({', '.join(systems)})")
    chosen = select_items(candidates, len(candidates), seed)  # full seeded order; test items come first
    test_items = chosen[:items]
    if len(test_items) < items:
        notes.append(f"only {len(test_items)} usable items (asked for {items})")
    # The training page uses an item that is not in the test when one is left over.
    training_item = chosen[items] if len(chosen) > items else test_items[0]

    conditions = [HIDDEN_REFERENCE, *systems, ANCHOR70, ANCHOR35]
    if len(conditions) > 12:
        notes.append(f"{len(conditions)} conditions per page: webMUSHRA's own page refuses more than 12 in its "
                     "strict mode (ours has no limit)")
    out_dir.mkdir(parents=True, exist_ok=True)
    pages_meta: list[dict[str, Any]] = []
    jobs = [("training", training_item)] + [(f"item{k + 1:02d}", it) for k, it in enumerate(test_items)]
    for page_id, item in jobs:
        try:
            pages_meta.append(_render_item(page_id, item, systems, excerpt_seconds, out_dir, notes))
        except AudioError as err:
            notes.append(f"{item['clip_id']}: skipped ({err})")
            skipped.append({"clip_id": item["clip_id"], "reason": str(err)})
    training_meta = next((m for m in pages_meta if m["page_id"] == "training"), None)
    item_meta = [m for m in pages_meta if m["page_id"] != "training"]
    if not item_meta:
        raise BuildError(f"{run_dir}: none of the selected items could be prepared ({'; '.join(notes[-3:])})")
    if training_meta is None:
        training_meta = {**item_meta[0], "page_id": "training"}

    # One gain for the whole test keeps every file below the peak limit without changing relative loudness.
    peak = max(max(m["peaks"].values()) for m in pages_meta)
    common_gain = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    for m in pages_meta:
        for cond, rel in m["files"].items():
            path = out_dir / rel
            x, sr = load_audio(path)
            save_audio(path, x * common_gain, sr, subtype="PCM_24")
            m["gains_db"][cond] = round(m["gains_db"][cond] + 20 * np.log10(common_gain), 3)
        del m["peaks"]

    test_id = _safe_id(name or out_dir.name)
    cfg = _make_config(name or f"MUSHRA listening test ({out_dir.name})", test_id, training_meta, item_meta, systems)
    config_path = out_dir / "config.yaml"
    write_config(cfg, config_path)
    manifest = {
        "format": "vocoder-bench-mushra/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_dir": str(run_dir.resolve()),
        "run_config": run_config,
        "test_id": test_id,
        "vocoders": systems,
        "conditions": conditions,
        "anchors_hz": ANCHOR_CUTOFFS,
        "seed": seed,
        "items_requested": items,
        "excerpt_seconds": excerpt_seconds,
        "sample_rate": STIMULUS_SR,
        "resampler": RESAMPLER,
        "target_lufs": TARGET_LUFS,
        "common_gain_db": round(20 * float(np.log10(common_gain)), 3),
        "fade_seconds": FADE_S,
        "training": training_meta,
        "items": item_meta,
        "skipped": skipped,
        "notes": notes,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return config_path


def _render_item(page_id: str, item: dict[str, Any], systems: list[str], excerpt_seconds: float, out_dir: Path,
                 notes: list[str]) -> dict[str, Any]:
    """Cut, fade, resample and loudness-align one item's stimuli; writes float WAVs (common gain comes later)."""
    ref, sr = load_audio(item["reference"])
    signals = {HIDDEN_REFERENCE: ref}
    for v in systems:
        x, _ = load_audio(item["renders"][v], sr)
        if x.size != ref.size:
            if abs(x.size - ref.size) > 0.01 * ref.size:
                notes.append(f"{item['clip_id']}: {v} has {x.size} samples, reference {ref.size}; padded/trimmed")
            x = np.pad(x, (0, max(0, ref.size - x.size)))[: ref.size]
        signals[v] = x
    for label, fc in ANCHOR_CUTOFFS.items():
        signals[label] = lowpass(ref, fc, sr)
    start, n = pick_excerpt(ref, sr, excerpt_seconds)
    if n < int(MIN_EXCERPT_S * sr):
        raise AudioError(f"clip is {ref.size / sr:.2f} s, shorter than {MIN_EXCERPT_S:g} s")
    meta: dict[str, Any] = {
        "page_id": page_id, "clip_id": item["clip_id"], "domain": item["domain"],
        "offset_s": round(start / sr, 4), "duration_s": round(n / sr, 4), "source_sample_rate": sr,
        "files": {}, "loudness_lufs": {}, "gains_db": {}, "peaks": {},
    }
    cut = {k: fade(v[start: start + n], sr) for k, v in signals.items()}
    out48 = {k: resample(v, sr, STIMULUS_SR) for k, v in cut.items()}
    ref_level = integrated_loudness(out48[HIDDEN_REFERENCE], STIMULUS_SR)
    if not np.isfinite(ref_level):
        raise AudioError("reference excerpt is below the BS.1770 gate (silent)")
    for cond, x in out48.items():
        level = integrated_loudness(x, STIMULUS_SR)
        if not np.isfinite(level):
            # A (near-)silent output is a legitimate result: play it at the reference's gain.
            notes.append(f"{item['clip_id']}: {cond} is below the loudness gate; given the reference's gain")
            level = ref_level
        gain_db = TARGET_LUFS - level
        y = x.astype(np.float64) * 10 ** (gain_db / 20)
        rel = f"audio/{page_id}/{cond}.wav"
        save_audio(out_dir / rel, y.astype(np.float32), STIMULUS_SR, subtype="FLOAT")
        meta["files"][cond] = rel
        meta["loudness_lufs"][cond] = round(float(level), 3)
        meta["gains_db"][cond] = round(float(gain_db), 3)
        meta["peaks"][cond] = float(np.max(np.abs(y))) if y.size else 0.0
    return meta


_INSTRUCTIONS = (
    "Rate the <b>basic audio quality</b> of every condition compared with the reference, on the scale from 0 "
    "(bad) to 100 (excellent). One condition is the hidden reference: give it 100 when you cannot hear a "
    "difference. Listen to every condition, switching as often as you like."
)


def _mushra_page(page_id: str, name: str, content: str, meta: dict[str, Any], systems: list[str]) -> MushraPage:
    files = meta["files"]
    # The hidden reference is not listed: like webMUSHRA, the page adds the `reference` file as condition
    # "reference" itself (listing it too would show it twice in an unmodified webMUSHRA).
    stimuli = {**{v: files[v] for v in systems}, ANCHOR70: files[ANCHOR70], ANCHOR35: files[ANCHOR35]}
    return MushraPage(id=page_id, name=name, content=content, reference=files[HIDDEN_REFERENCE], stimuli=stimuli,
                      showWaveform=True, enableLooping=True, createAnchor35=False, createAnchor70=False,
                      randomize=True, showConditionNames=False, switchBack=False)


def _make_config(testname: str, test_id: str, training: dict[str, Any], items: list[dict[str, Any]],
                 systems: list[str]) -> TestConfig:
    welcome = Page("generic", {
        "type": "generic", "id": "welcome", "name": "Welcome",
        "content": "Welcome to this listening test. You will hear short excerpts processed by different "
                   "systems and rate their quality against a reference. Please use good headphones in a quiet "
                   f"room. The test has {len(items)} pages after a short training and takes about "
                   f"{max(5, round(len(items) * 1.5))} minutes.",
    })
    volume = Page("volume", {
        "type": "volume", "id": "volume", "name": "Volume",
        "content": "Play the sound and set a comfortable listening level. Do not change it during the test.",
        "stimulus": training["files"][HIDDEN_REFERENCE], "defaultVolume": 0.5,
    })
    train = _mushra_page("training", "Training", "Training: get to know the interface and the range of "
                         "qualities. " + _INSTRUCTIONS + " This page is not part of the results.", training, systems)
    trials = [_mushra_page(m["page_id"], "MUSHRA", _INSTRUCTIONS, m, systems) for m in items]
    finish = Page("finish", {
        "type": "finish", "name": "Thank you",
        "content": "Thank you for taking part. Please answer a few questions and press Send.",
        "showResults": False, "writeResults": True,
        "questionnaire": [
            # webMUSHRA fills the box with the question's `default` and shows "undefined" without one; an empty
            # default leaves the box empty, so its Send button stays off until the listener types an age.
            {"type": "number", "label": "Age", "name": "age", "min": 0, "max": 120, "default": ""},
            {"type": "likert", "name": "headphones", "label": "What did you listen with?",
             "response": [{"value": "closed", "label": "Closed headphones"},
                          {"value": "open", "label": "Open headphones"},
                          {"value": "earbuds", "label": "Earbuds / in-ear"},
                          {"value": "speakers", "label": "Loudspeakers"}]},
            {"type": "likert", "name": "experience", "label": "Listening-test experience",
             "response": [{"value": "none", "label": "None"},
                          {"value": "some", "label": "Some"},
                          {"value": "expert", "label": "Expert listener"}]},
            {"type": "long_text", "name": "comments", "label": "Comments (optional)", "optional": True},
        ],
    })
    return TestConfig(testname=testname, testId=test_id, bufferSize=2048, stopOnErrors=True,
                      showButtonPreviousPage=True, remoteService="service/write.php", language="en",
                      pages=[welcome, volume, train, PageGroup(list(trials), random=True), finish])
