"""Synthetic tests, sessions and run directories for the test-suite and benchmarks/mushra_load.py.

Everything here is generated (tones and noise), small, and deterministic given a seed.
"""

from __future__ import annotations

import hashlib
import json
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
