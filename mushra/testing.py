"""Synthetic tests, sessions and run directories for the test-suite and benchmarks/mushra_load.py.

Everything here is generated (tones and noise), small, and deterministic given a seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np

from bench.audio import save_audio
from mushra.config import ANCHOR35, ANCHOR70, HIDDEN_REFERENCE, MushraPage, Page, PageGroup, TestConfig, write_config


def _tone(seconds: float, sr: int, f0: float, seed: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 3.1 * f0 * t) + noise * rng.standard_normal(t.size)
    return x.astype(np.float32)


def make_test_dir(path: str | Path, *, n_items: int = 3, systems: tuple[str, ...] = ("voc_a", "voc_b"),
                  test_id: str = "synthetic", seconds: float = 0.5, sr: int = 8000) -> TestConfig:
    """A complete small test folder (config.yaml + audio) in our layout, with a training page and a
    questionnaire. Returns its config."""
    path = Path(path)
    conds = [HIDDEN_REFERENCE, *systems, ANCHOR70, ANCHOR35]
    pages = []
    for k in range(n_items + 1):
        pid = "training" if k == 0 else f"item{k:02d}"
        stimuli = {}
        for j, c in enumerate(conds):
            rel = f"audio/{pid}/{c}.wav"
            save_audio(path / rel, _tone(seconds, sr, 220.0 + 20 * k, seed=k * 31 + j), sr, subtype="PCM_16")
            stimuli[c] = rel
        ref = stimuli.pop(HIDDEN_REFERENCE)  # the page adds the hidden reference itself, as webMUSHRA does
        pages.append(MushraPage(id=pid, name="MUSHRA", content="Rate the quality.", reference=ref,
                                stimuli=stimuli, enableLooping=True))
    finish = Page("finish", {"type": "finish", "name": "Thank you", "content": "Thanks", "showResults": False,
                             "writeResults": True, "questionnaire": [
                                 {"type": "number", "label": "Age", "name": "age", "min": 0, "max": 120,
                                  "default": ""},
                                 {"type": "long_text", "label": "Comments", "name": "comments",
                                  "optional": True}]})
    cfg = TestConfig(testname="Synthetic test", testId=test_id,
                     pages=[pages[0], PageGroup(pages[1:], random=True), finish])
    write_config(cfg, path / "config.yaml")
    manifest = {"format": "vocoder-bench-mushra/1", "test_id": test_id, "vocoders": list(systems),
                "conditions": conds, "training": {"page_id": "training"},
                "items": [{"page_id": p.id, "domain": "speech" if i % 2 == 0 else "music"}
                          for i, p in enumerate(pages[1:])]}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return cfg


def make_session(cfg: TestConfig, uuid: str, *, seed: int = 0, scores: dict[str, dict[str, Any]] | None = None,
                 comment: str | None = None, name: str = "") -> dict[str, Any]:
    """A complete webMUSHRA session for ``cfg``: every mushra page, every condition rated, the questionnaire
    answered.

    ``scores`` maps page id -> {condition: score} to fix chosen scores; the rest are plausible random ones,
    sent as strings of digits like the real front-end.
    """
    rng = random.Random(seed)
    trials = []
    for page in cfg.mushra_pages():
        fixed = (scores or {}).get(page.id, {})
        responses = []
        for c in page.conditions():
            s = fixed.get(c)
            if s is None:
                s = {"reference": rng.randint(90, 100), "anchor35": rng.randint(0, 20),
                     "anchor70": rng.randint(20, 50)}.get(c, rng.randint(30, 95))
            responses.append({"stimulus": c, "score": s if isinstance(s, str) else str(s),
                              "comment": comment, "time": rng.randint(1000, 60000)})
        trials.append({"id": page.id, "type": "mushra", "responses": responses})
    # The config's questionnaire answered: first choice of a likert item, "30" for a number, ``name`` for text.
    qnames, qanswers = [], []
    for q in cfg.questionnaire():
        choices = [str(o.get("value") if isinstance(o, dict) else o) for o in q.get("response") or []]
        qnames.append(str(q.get("name")))
        qanswers.append(choices[0] if q.get("type") == "likert" and choices else
                        "30" if q.get("type") == "number" else name)
    return {"testId": cfg.testId, "participant": {"name": qnames, "response": qanswers},
            "trials": trials, "uuid": uuid, "config": "configs/config.yaml"}


def webmushra_body(session: dict[str, Any]) -> bytes:
    """The body webMUSHRA's front-end posts: ``sessionJSON=`` and the JSON text, not url-encoded."""
    return b"sessionJSON=" + json.dumps(session, ensure_ascii=False).encode("utf-8")


def make_run_dir(path: str | Path, clips: list[tuple[str, str, float]], vocoders: list[str], *,
                 sr: int = 44100, missing: dict[str, list[str]] | None = None) -> Path:
    """A run directory with the real results store: ``clips`` are (clip_id, domain, seconds); each vocoder's
    render is the reference plus a vocoder-specific distortion. ``missing`` maps vocoder -> clip ids without a
    render."""
    from bench.results.store import ResultsStore

    path = Path(path)
    store = ResultsStore.create(path)
    try:
        store.set_meta("config", {"dataset": "synthetic", "vocoders": vocoders, "eval_sr": sr})
        for k, (cid, domain, seconds) in enumerate(clips):
            ref = _tone(seconds, sr, 180.0 + 40 * k, seed=k, noise=0.02)
            # A silent lead-in, so excerpt placement has something to avoid.
            ref[: int(min(0.3, seconds / 4) * sr)] = 0.0
            ref_path = path / "audio" / "reference" / f"{cid}.wav"
            save_audio(ref_path, ref, sr)
            store.put_clip(cid, dataset="synthetic", domain=domain, path=str(ref_path), offset=0.0,
                           duration=seconds, sha256=hashlib.sha256(ref.tobytes()).hexdigest())
            for j, v in enumerate(vocoders):
                if cid in (missing or {}).get(v, []):
                    continue
                rng = np.random.default_rng(100 * k + j)
                y = (ref + 0.01 * (j + 1) * rng.standard_normal(ref.size)).astype(np.float32)
                save_audio(store.audio_path(v, cid), y, sr)
                store.put_render(v, cid, sample_rate=sr, n_samples=y.size,
                                 sha256=hashlib.sha256(y.tobytes()).hexdigest(), native_sample_rate=sr,
                                 length_diff=0, rtf=0.01, seconds=0.01, device="cpu", precision="fp32",
                                 batch_size=1, config_hash="test")
    finally:
        store.close()
    return path


# -- a scored study: a listening test and a run whose metrics relate to the listeners' scores in known ways ------
#: Systems of :func:`make_scored_study` and their mean latent quality (MUSHRA scale).
SYSTEMS = ("v1", "v2", "v3", "v4", "v5")
BASE = {"v1": 30.0, "v2": 45.0, "v3": 60.0, "v4": 72.0, "v5": 85.0}


def latent_quality(n_items: int = 10) -> dict[tuple[int, str], float]:
    """Latent quality of every (item, condition): system base +- an item effect; reference 100, anchors low."""
    rng = np.random.default_rng(7)
    q = {}
    for i in range(n_items):
        for v in SYSTEMS:
            q[(i, v)] = BASE[v] + rng.uniform(-8, 8)
        q[(i, HIDDEN_REFERENCE)] = 100.0
        q[(i, ANCHOR70)] = 35.0 + rng.uniform(-5, 5)
        q[(i, ANCHOR35)] = 12.0 + rng.uniform(-5, 5)
    return q


def make_scored_study(root: str | Path, *, n_items: int = 10, systems: tuple[str, ...] = SYSTEMS,
                      bad_assessor: bool = False, clip_prefix: str = "clip", noise_sd: float = 4.0,
                      n_assessors: int = 12) -> tuple[Path, Path, dict[tuple[int, str], float]]:
    """``root/test`` (a test folder with ``n_assessors`` stored sessions; manifest items name clips
    ``<clip_prefix><k>``) and ``root/run`` (a results store with three metrics on those clips), and the latent
    quality q of every (item index, condition) (see :func:`latent_quality`). Metrics:

    - ``good`` (lower is better): exp(-q/30), a monotone decreasing function of the latent quality q;
    - ``good_up`` (higher is better): q/10 + 1;
    - ``noise`` (higher is better): unrelated to q for the vocoders; best for the reference, worst for the anchors
      (as any metric is, by construction).
    Listeners rate q + N(0, noise_sd) (rounded, clipped to 0..100)."""
    from bench.results.store import ResultsStore
    from mushra.analysis import default_db_path
    from mushra.storage import Storage
    from mushra.validate import validate_session

    root = Path(root)
    test = root / "test"
    cfg = make_test_dir(test, n_items=n_items, seconds=0.1, systems=systems)
    manifest = json.loads((test / "manifest.json").read_text())
    for k, it in enumerate(manifest["items"]):
        it["clip_id"] = f"{clip_prefix}{k}"
    (test / "manifest.json").write_text(json.dumps(manifest))
    q = latent_quality(n_items)
    conds = [HIDDEN_REFERENCE, *systems, ANCHOR70, ANCHOR35]
    rng = np.random.default_rng(11)
    storage = Storage(default_db_path(test, cfg))
    items = [it["page_id"] for it in manifest["items"]]
    for a in range(n_assessors):
        scores = {pid: {c: int(np.clip(round(q[(i, c)] + (0 if c == HIDDEN_REFERENCE else rng.normal(0, noise_sd))),
                                       0, 100)) for c in conds} for i, pid in enumerate(items)}
        storage.add(validate_session(make_session(cfg, f"a{a}", scores=scores), cfg))
    if bad_assessor:   # rates the reference 40 everywhere (excluded by screening) and inverts every vocoder
        scores = {pid: {c: 40 if c == HIDDEN_REFERENCE else int(np.clip(round(110 - q[(i, c)]), 0, 100))
                        for c in conds} for i, pid in enumerate(items)}
        storage.add(validate_session(make_session(cfg, "bad", scores=scores), cfg))

    run = root / "run"
    noise = np.random.default_rng(3)
    with ResultsStore.create(run) as store:
        for k, it in enumerate(manifest["items"]):
            store.put_clip(it["clip_id"], dataset="synthetic", domain=it["domain"], path="", offset=0.0,
                           duration=1.0, sha256=f"h{k}")
            for c in conds:
                qq = q[(k, c)]
                store.put_score(c, it["clip_id"], "good", math.exp(-qq / 30), {"direction": "lower"})
                store.put_score(c, it["clip_id"], "good_up", qq / 10 + 1, {"direction": "higher"})
                nv = {HIDDEN_REFERENCE: 5.0, ANCHOR70: 1.5, ANCHOR35: 1.0}.get(c, noise.uniform(2.0, 4.0))
                store.put_score(c, it["clip_id"], "noise", nv, {"direction": "higher"})
    return test, run, q
