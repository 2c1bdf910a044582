"""The listening page in a real browser (Debian's chromium driven by Playwright).

End to end: a small test folder (webMUSHRA config written with mushra.config, 2 s mono stimuli at 44.1 and
48 kHz) is served by mushra.app in a thread; the browser goes through welcome, volume, two randomised MUSHRA
pages and the questionnaire, and the ratings stored by the server must equal what the browser set.
The pure JS helpers (mushra-core.js, audio-engine.js) are unit-tested through page.evaluate.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from numerics import F64_EPS, assert_close_f32
from reportcheck import CHROMIUM, CHROMIUM_ARGS, require_browser

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "mushra" / "static"
ARTIFACTS = REPO / "test-artifacts"
TEST_ID = "browser_e2e"
TOKEN = "e2e-admin-token"


# -- fixtures ---------------------------------------------------------------------------------------------------
def _tone_mix(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Harmonic notes plus a little noise: [T] float32, peak 0.5 (broadband, so the anchors sound different)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = np.zeros_like(t)
    for k, f0 in enumerate((196.0, 262.0, 330.0, 440.0)):
        env = np.exp(-4.0 * ((t - k * seconds / 4) % (seconds / 2)))
        for h in range(1, 12):
            x += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
    x += 0.05 * rng.standard_normal(t.size)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def _write_test(test_dir: Path) -> None:
    """config.yaml + audio/<item>/<condition>.wav: item1 at 44.1 kHz with generated anchors, item2 at 48 kHz."""
    from mushra.config import MushraPage, Page, PageGroup, TestConfig, write_config

    pages = []
    for item, sr, anchors in (("item1", 44100, True), ("item2", 48000, False)):
        d = test_dir / "audio" / item
        d.mkdir(parents=True)
        ref = _tone_mix(2.0, sr, seed=len(item) + sr)
        rng = np.random.default_rng(sr)
        conditions = {
            "noisy": ref + 0.05 * rng.standard_normal(ref.size).astype(np.float32),
            "clipped": np.clip(ref * 3.0, -0.5, 0.5).astype(np.float32),
        }
        sf.write(d / "reference.wav", ref, sr, subtype="PCM_16")
        for name, x in conditions.items():
            sf.write(d / f"{name}.wav", x, sr, subtype="PCM_16")
        pages.append(MushraPage(
            id=item, name=f"Item {item[-1]}", content="Rate the basic audio quality of each condition.",
            reference=f"audio/{item}/reference.wav",
            stimuli={name: f"audio/{item}/{name}.wav" for name in conditions},
            showWaveform=True, enableLooping=True, createAnchor35=anchors, createAnchor70=anchors))
    cfg = TestConfig(
        testname="Browser end-to-end test", testId=TEST_ID, remoteService="service/write.php", pages=[
            Page("generic", {"type": "generic", "id": "welcome", "name": "Welcome",
                             "content": "<p>Welcome. This test has two items.</p>"}),
            Page("volume", {"type": "volume", "id": "volume", "name": "Volume",
                            "content": "Set a comfortable level.", "stimulus": "audio/item1/reference.wav",
                            "defaultVolume": 0.5}),
            PageGroup(pages, random=True),
            Page("paired_comparison", {"type": "paired_comparison", "id": "ab", "name": "AB test",
                                       "content": "Which one is better?", "reference": "audio/item1/reference.wav",
                                       "stimuli": {"noisy": "audio/item1/noisy.wav"}}),
            Page("finish", {"type": "finish", "name": "Thank you", "content": "Please answer a few questions.",
                            "showResults": True, "writeResults": True, "questionnaire": [
                                {"type": "text", "name": "email", "label": "e-mail"},
                                {"type": "number", "name": "age", "label": "Age", "min": 0, "max": 120},
                                {"type": "likert", "name": "headphones", "label": "Headphones",
                                 "response": [{"value": "closed", "label": "Closed"},
                                              {"value": "open", "label": "Open"}]},
                                {"type": "long_text", "name": "comments", "label": "Comments", "optional": True},
                            ]}),
        ])
    write_config(cfg, test_dir / "config.yaml")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """mushra.app serving a fresh test folder on 127.0.0.1:<free port> (werkzeug, in a thread)."""
    require_browser()
    from werkzeug.serving import make_server

    from mushra.app import create_app

    root = tmp_path_factory.mktemp("mushra_e2e")
    test_dir = root / "test"
    _write_test(test_dir)
    db = root / "results.sqlite"
    app = create_app(test_dir, admin_token=TOKEN, db_path=db)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{srv.server_port}/", "db": db, "test_dir": test_dir}
    finally:
        srv.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    sync_playwright = require_browser()
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


class _Console:
    """Collects JS errors (uncaught exceptions and console.error) of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: self.errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)


# -- JS unit tests ---------------------------------------------------------------------------------------------
@pytest.fixture
def js(browser: Any) -> Iterator[Any]:
    """A blank page with mushra-core.js and audio-engine.js loaded (no server)."""
    ctx = browser.new_context()
    page = ctx.new_page()
    console = _Console(page)
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=str(STATIC / "mushra-core.js"))
    page.add_script_tag(path=str(STATIC / "audio-engine.js"))
    yield page
    ctx.close()
    assert console.errors == []


def test_js_shuffle_and_page_expansion(js: Any) -> None:
    r = js.evaluate("""() => {
        const C = window.MushraCore;
        const items = Array.from({length: 20}, (_, i) => i);
        const a = C.shuffle(items, C.makeRng('seed-a'));
        const a2 = C.shuffle(items, C.makeRng('seed-a'));
        const b = C.shuffle(items, C.makeRng('seed-b'));
        const pages = [{type: 'generic', id: 'w'},
                       ['random', {type: 'mushra', id: 'm1'}, {type: 'mushra', id: 'm2'},
                        [{type: 'generic', id: 'g'}, {type: 'mushra', id: 'm3'}]],
                       [{type: 'generic', id: 'x'}, {type: 'generic', id: 'y'}],
                       {type: 'finish'}];
        const orders = new Set();
        for (let s = 0; s < 40; s++) orders.add(C.expandPages(pages, C.makeRng('s' + s)).map(p => p.id || p.type).join(','));
        return {a, a2, b, orders: [...orders], input: items};
    }""")
    assert r["a"] == r["a2"], "same seed must give the same order"
    assert r["a"] != r["b"] and sorted(r["a"]) == r["input"] and sorted(r["b"]) == r["input"]
    assert len(r["orders"]) == 6, r["orders"]  # 3 units shuffled: 3! orders, all reached in 40 seeds
    for o in r["orders"]:
        ids = o.split(",")
        assert ids[0] == "w" and ids[-3:] == ["x", "y", "finish"]
        assert ids.index("m3") == ids.index("g") + 1, "a nested group stays together and in order"
        assert sorted(ids[1:5]) == ["g", "m1", "m2", "m3"]


def test_js_conditions_completion_and_payload(js: Any) -> None:
    r = js.evaluate("""() => {
        const C = window.MushraCore;
        const page = {id: 'p1', reference: 'audio/r.wav', stimuli: {A: 'audio/a.wav', B: 'audio/b.wav'},
                      createAnchor35: true, createAnchor70: true};
        const fixed = C.conditionOrder({...page, randomize: false}, 'u');
        const o1 = C.conditionOrder(page, 'uuid-1');
        const o1b = C.conditionOrder(page, 'uuid-1');
        const withRef = C.pageConditions({id: 'p', reference: 'r.wav', stimuli: {reference: 'r.wav', X: 'x.wav'}});
        const comp = C.pageCompletion(['A', 'B'], {A: 40}, {A: true, B: true});
        const comp2 = C.pageCompletion(['A', 'B'], {A: 40, B: 100}, {A: true, B: true});
        const payload = C.buildPayload({testId: 't', uuid: 'u', configName: 'config.yaml',
            answers: [{name: 'email', value: 'a+b@c.d&x=1'}, {name: 'age', value: 31}],
            trials: [{id: 'p1', labels: ['A', 'reference'], ratings: {A: 39.6, reference: 100}, timeMs: 1234.4}]});
        return {fixed, o1, o1b, withRef: withRef.map(c => c.label), comp, comp2, payload,
                body: C.encodeBody(payload), labels: [0, 19.5, 20, 59, 60, 80, 100].map(C.scaleLabel),
                uuid: C.uuidV4(window.crypto), uuidFallback: C.uuidV4({getRandomValues: (b) => crypto.getRandomValues(b)})};
    }""")
    assert r["fixed"] == ["A", "B", "reference", "anchor35", "anchor70"]
    assert r["o1"] == r["o1b"] and sorted(r["o1"]) == sorted(r["fixed"])
    assert r["withRef"] == ["reference", "X"], "a stimulus labelled 'reference' is the hidden reference"
    assert r["comp"] == {"unplayed": [], "unrated": ["B"], "hasMax": False, "complete": False}
    assert r["comp2"]["complete"] and r["comp2"]["hasMax"]
    p = r["payload"]
    assert p == {
        "testId": "t", "participant": {"name": ["email", "age"], "response": ["a+b@c.d&x=1", "31"]},
        "trials": [{"id": "p1", "type": "mushra", "responses": [
            {"stimulus": "A", "score": "40", "comment": None, "time": 1234},
            {"stimulus": "reference", "score": "100", "comment": None, "time": 1234}]}],
        "uuid": "u", "config": "config.yaml"}
    assert r["body"] == "sessionJSON=" + json.dumps(p, separators=(",", ":")), "body must not be url-encoded"
    assert r["labels"] == ["Bad", "Bad", "Poor", "Fair", "Good", "Excellent", "Excellent"]
    v4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert v4.match(r["uuid"]) and v4.match(r["uuidFallback"])


def test_js_anchor_lowpass_matches_scipy_butterworth(js: Any) -> None:
    """The browser's anchors equal an 8th-order Butterworth low-pass (scipy's design, same bilinear transform)."""
    from scipy.signal import butter, sosfilt, sosfreqz

    sr = 44100
    x = np.random.default_rng(3).standard_normal(4096)
    for cutoff in (3500.0, 7000.0):
        y = np.asarray(js.evaluate(
            "([x, sr, fc]) => Array.from(window.MushraCore.lowpassInPlace(Float64Array.from(x), sr, fc))",
            [x.tolist(), sr, cutoff]))
        ref = sosfilt(butter(8, cutoff, fs=sr, output="sos"), x)
        assert_close_f32(y, ref, eps=F64_EPS, ulps=256)  # both float64; cascade rounding, relative to scale
        _, h = sosfreqz(butter(8, cutoff, fs=sr, output="sos"), worN=[cutoff, 2 * cutoff], fs=sr)
        assert abs(20 * np.log10(abs(h[0])) + 3.01) < 0.05 and 20 * np.log10(abs(h[1])) < -47


def test_js_audio_helpers(js: Any) -> None:
    r = js.evaluate("""() => {
        const C = window.MushraCore, A = window.MushraAudio;
        const ctx = new OfflineAudioContext(2, 100, 48000);
        const mono = ctx.createBuffer(1, 64, 48000);
        mono.getChannelData(0).set(Array.from({length: 64}, (_, i) => Math.sin(i / 5)));
        const st = A.toStereo(ctx, mono, 80);
        const l = st.getChannelData(0), rr = st.getChannelData(1);
        const same = l.every((v, i) => v === rr[i]);
        const an = A.lowpassed(ctx, mono, 3500);
        const pos = [];
        const region = {start: 0.5, end: 1.5};
        for (let e = 0; e < 5; e += 0.25) pos.push(C.playbackPosition(0.75, e, 2.0, region));
        return {channels: st.numberOfChannels, length: st.length, same, tail: Array.from(l.slice(64)),
                firstEqual: l[10] === mono.getChannelData(0)[10], anChannels: an.numberOfChannels,
                pos, end: C.playbackPosition(0, 2.5, 2.0, null), mid: C.playbackPosition(0.2, 1.0, 2.0, null),
                region: C.clampRegion(1.9, 2.6, 2.0), tiny: C.clampRegion(1.0, 1.01, 2.0),
                peaks: Array.from(A.peaks(st, 5)).map(v => v > 0)};
    }""")
    assert r["channels"] == 2 and r["length"] == 80 and r["same"] and r["firstEqual"], "mono must feed both channels"
    assert r["tail"] == [0.0] * 16 and r["anChannels"] == 2
    assert all(0.5 <= p < 1.5 for p in r["pos"]), r["pos"]  # a loop never plays past its end
    assert r["end"] is None and abs(r["mid"] - 1.2) < 1e-9
    assert r["region"] == {"start": 1.9, "end": 2.0} and r["tiny"] is None
    assert r["peaks"] == [True, True, True, True, False]


def test_js_player_sample_sync_switch_at_any_device_rate(js: Any, tmp_path: Path) -> None:
    """Render the Player offline at a device rate unlike the file's (44.1 kHz mono WAV): the file is resampled,
    plays on both channels, and switching to another condition mid-way keeps the sample position."""
    import base64

    x = (0.3 * np.random.default_rng(7).standard_normal(int(0.8 * 44100))).astype(np.float32)
    sf.write(tmp_path / "noise.wav", x, 44100, subtype="FLOAT")
    b64 = base64.b64encode((tmp_path / "noise.wav").read_bytes()).decode()
    for device_rate in (16000, 37800, 48000, 96000):
        _check_player_at_rate(js, b64, device_rate)


def _check_player_at_rate(js: Any, b64: str, device_rate: int) -> None:
    r = js.evaluate("""async ([b64, rate]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
        const ctx = new OfflineAudioContext(2, rate, rate);  // 1 s at the "device" rate
        const a = await ctx.decodeAudioData(bytes);
        const b = ctx.createBuffer(1, a.length, rate);
        b.copyToChannel(a.getChannelData(0).map((v) => -v), 0);  // condition B = -A, same timing
        const player = new MushraAudio.Player(ctx, ctx.destination);
        player.setBuffers([['A', a], ['B', b]]);
        player.play('A');
        ctx.suspend(0.4).then(() => { player.play('B'); ctx.resume(); });
        const out = await ctx.startRendering();
        const L = out.getChannelData(0), R = out.getChannelData(1), src = a.getChannelData(0);
        const corr = (lag, t0, t1) => {
            let xy = 0, xx = 0, yy = 0;
            for (let n = Math.round(t0 * rate); n < Math.round(t1 * rate); n++) {
                const s = src[n - lag] || 0; xy += L[n] * s; xx += L[n] * L[n]; yy += s * s;
            }
            return xy / Math.sqrt(xx * yy);
        };
        let lag = 0, best = -2;
        for (let k = Math.floor(0.03 * rate) - 3; k <= Math.ceil(0.03 * rate) + 3; k++) {
            const c = corr(k, 0.1, 0.35); if (c > best) { best = c; lag = k; }
        }
        let lr = 0, tail = 0;
        for (let n = 0; n < L.length; n++) lr = Math.max(lr, Math.abs(L[n] - R[n]));
        for (let n = Math.round(0.86 * rate); n < L.length; n++) tail = Math.max(tail, Math.abs(L[n]));
        return {decodedRate: a.sampleRate, decodedLength: a.length, lag, before: best,
                after: corr(lag, 0.45, 0.8), lr, tail, duration: player.duration};
    }""", [b64, device_rate])
    assert r["decodedRate"] == device_rate and abs(r["decodedLength"] - 0.8 * device_rate) <= 1
    assert abs(r["duration"] - 0.8) < 2 / device_rate
    assert r["lr"] == 0.0, "mono must play identically on both channels"
    assert r["before"] > 0.99, r  # condition A, started ~30 ms in
    assert r["after"] < -0.99, r  # condition B (= -A) continues at the very same sample position
    assert r["tail"] < 1e-6, r    # and playback stops at the end of the file (no loop)


# -- end to end ----------------------------------------------------------------------------------------------
def _rate_page(page: Any, values: dict[str, int], *, use_keys: bool, fresh: bool = True) -> dict[str, int]:
    """Play every condition (keys 1..9 or clicks), set its slider, return {label: score set}."""
    from playwright.sync_api import expect

    expect(page.locator("#play-reference")).to_be_enabled(timeout=20_000)
    order = page.evaluate("window.mushraApp.currentOrder()")
    assert sorted(order) == sorted(values), order
    if fresh:
        # Must play before rating: every slider starts disabled.
        for i in range(len(order)):
            expect(page.locator(f"#rating-{i + 1}")).to_be_disabled()
    # Must rate all: Next is refused with a message naming what is missing.
    page.click("#btn-next")
    expect(page.locator(".messages")).to_contain_text("not played yet")
    page.click("#play-reference")
    expect(page.locator("#play-reference")).to_have_attribute("aria-pressed", "true")
    rated: dict[str, int] = {}
    for i, label in enumerate(order):
        n = i + 1
        if use_keys:
            page.locator("body").press(str(n))
        else:
            page.click(f"#play-{n}")
        expect(page.locator(f"#play-{n}")).to_have_attribute("aria-pressed", "true")
        slider = page.locator(f"#rating-{n}")
        expect(slider).to_be_enabled()
        if values[label] == 100:
            slider.focus()
            slider.press("End")  # keyboard rating
        else:
            slider.fill(str(values[label]))
        expect(page.locator(f"#score-{n}")).to_have_text(str(values[label]))
        rated[label] = values[label]
    return rated


def test_complete_listening_test_in_chromium(server: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    from mushra.storage import Storage

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    console = _Console(page)
    posts: list[str] = []
    page.on("request", lambda req: posts.append(req.post_data or "") if req.method == "POST" else None)
    page.goto(server["url"])

    # Welcome
    expect(page.locator("h2.page-title")).to_have_text("Welcome")
    expect(page.locator("#progress-text")).to_have_text("Page 1 of 6")
    page.click("#btn-next")

    # Volume: the chosen gain applies to all later playback
    expect(page.locator("h2.page-title")).to_have_text("Volume")
    expect(page.locator("#btn-volume-play")).to_be_enabled(timeout=20_000)
    page.click("#btn-volume-play")
    expect(page.locator("#btn-volume-play")).to_have_attribute("aria-pressed", "true")
    page.locator("#volume-slider").fill("70")
    expect(page.locator("#volume-value")).to_have_text("-3.1 dB")
    page.click("#btn-next")

    stored_expect: dict[tuple[str, str], int] = {}
    seen_items = []
    for k in range(2):
        expect(page.locator("#progress-text")).to_have_text(f"Page {3 + k} of 6")
        title = page.locator("h2.page-title").inner_text()
        item = "item1" if title == "Item 1" else "item2"
        seen_items.append(item)
        values = ({"reference": 100, "noisy": 62, "clipped": 41, "anchor35": 12, "anchor70": 27} if item == "item1"
                  else {"reference": 88, "noisy": 55, "clipped": 0})
        expect(page.locator("#play-reference")).to_be_enabled(timeout=20_000)
        state = page.evaluate("window.mushraApp.audioContext().state")
        assert state == "running", state
        if k == 1:
            # Reload half-way: the session resumes on this page with the same order and what was done so far.
            order_before = page.evaluate("window.mushraApp.currentOrder()")
            page.click("#play-1")
            page.locator("#rating-1").fill(str(values[order_before[0]]))
            page.reload()
            expect(page.locator("#resumed")).to_be_visible()
            expect(page.locator("#play-reference")).to_be_enabled(timeout=20_000)
            assert page.evaluate("window.mushraApp.currentOrder()") == order_before
            expect(page.locator("#score-1")).to_have_text(str(values[order_before[0]]))
            expect(page.locator("#rating-1")).to_be_enabled()
        rated = _rate_page(page, values, use_keys=k == 0, fresh=k == 0)
        # Every stimulus lasts 2 s at the device rate, whatever the file's rate (44.1 or 48 kHz).
        expect(page.locator(".transport .time")).to_contain_text("/ 2.00 s")
        if k == 0:
            # Stop, click the waveform at 1/4: the playhead moves to 0.5 s.
            page.locator("body").press("s")
            box = page.locator("#waveform").bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.click(box["x"] + 0.25 * box["width"], y)
            expect(page.locator(".transport .time")).to_contain_text(re.compile(r"^0\.(49|50|51) s"))
            # Switching condition while playing keeps the playback position (no restart).
            sw = page.evaluate("""async () => {
                const pos = () => parseFloat(document.querySelector('.transport .time').textContent);
                const key = (k) => document.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true}));
                const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                const ctx = window.mushraApp.audioContext();
                key('1');
                await new Promise(r => setTimeout(r, 150));
                await frames();
                const before = pos(), c0 = ctx.currentTime;
                key('2');
                await frames();
                return {before, after: pos(), dt: ctx.currentTime - c0,
                        active: document.querySelector('#play-2').getAttribute('aria-pressed')};
            }""")
            assert sw["active"] == "true" and sw["before"] >= 0.5, sw
            assert abs(sw["after"] - sw["before"] - sw["dt"]) < 0.06, sw
            # Space toggles play/pause exactly once, even with a play button focused (no extra "click").
            page.focus("#play-2")
            page.keyboard.press(" ")
            expect(page.locator("#btn-play")).to_have_text("Play")
            page.wait_for_timeout(100)
            expect(page.locator("#btn-play")).to_have_text("Play")
            page.keyboard.press(" ")
            expect(page.locator("#btn-play")).to_have_text("Pause")
            expect(page.locator("#play-2")).to_have_attribute("aria-pressed", "true")
            # Loop on ('l').
            page.locator("body").press("l")
            expect(page.locator("#btn-loop")).to_have_attribute("aria-pressed", "true")
            # Drag on the waveform from 1/4 to 3/4: loop 0.5-1.5 s; playback stays inside it.
            page.mouse.move(box["x"] + 0.25 * box["width"], y)
            page.mouse.down()
            page.mouse.move(box["x"] + 0.75 * box["width"], y, steps=5)
            page.mouse.up()
            expect(page.locator(".transport .time")).to_contain_text(re.compile(r"loop 0\.(49|50|51) s.1\.(49|50|51) s"))
            loop = re.search(r"loop ([0-9.]+) s.([0-9.]+) s", page.locator(".transport .time").inner_text())
            assert loop and abs(float(loop[1]) - 0.5) <= 0.02 and abs(float(loop[2]) - 1.5) <= 0.02, loop
            for _ in range(4):
                page.wait_for_timeout(200)
                t = float(page.locator(".transport .time").inner_text().split(" s")[0])
                assert float(loop[1]) - 0.01 <= t <= float(loop[2]) + 0.01, t
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mushra_page.png"))
            # Keyboard loop editing: pause, jump to 1.2 s, "]" puts the loop end there.
            page.locator("body").press(" ")
            page.mouse.click(box["x"] + 0.6 * box["width"], y)
            page.locator("body").press("]")
            expect(page.locator(".transport .time")).to_contain_text(re.compile(r"loop 0\.(49|50|51) s.1\.(19|20|21) s"))
        if page.locator("#btn-play").inner_text() == "Pause":
            page.locator("body").press(" ")  # pause
        expect(page.locator("#btn-play")).to_have_text("Play")
        page.click("#btn-next")
        if 100 not in values.values():
            # No condition at 100: a soft warning first, then "Continue anyway" goes on.
            expect(page.locator(".messages .warning")).to_contain_text("No condition is rated 100")
            expect(page.locator("#btn-next")).to_have_text("Continue anyway")
            page.click("#btn-next")
        for lab, v in rated.items():
            stored_expect[(item, lab)] = v
    assert sorted(seen_items) == ["item1", "item2"]
    # the volume page's gain applies throughout (an AudioParam holds float32)
    assert_close_f32(page.evaluate("window.mushraApp.volume()"), 0.7, ulps=4, what="volume")

    # A page type this player does not support is announced and can be skipped.
    expect(page.locator("h2.page-title")).to_have_text("AB test")
    expect(page.locator(".notice")).to_contain_text("paired_comparison")
    expect(page.locator("#btn-next")).to_have_text("Skip this page")
    page.click("#btn-next")

    # Finish: questionnaire; the first POST fails (server error) and the listener retries without losing anything.
    expect(page.locator("h2.page-title")).to_have_text("Thank you")
    page.fill("#q-0", "listener+1@example.org")
    page.fill("#q-1", "34")
    page.check("#q-2-1")
    page.fill("#q-3", "fine & dandy")
    fail_once = {"n": 0}

    def fail_first(route: Any) -> None:
        if fail_once["n"] == 0:
            fail_once["n"] += 1
            route.fulfill(status=503, body="temporarily unavailable")
        else:
            route.continue_()

    page.route("**/service/write.php", fail_first)
    page.click("#btn-submit")
    expect(page.locator(".messages")).to_contain_text("HTTP 503: temporarily unavailable")
    expect(page.locator("#btn-submit")).to_have_text("Try sending again")
    page.click("#btn-submit")
    expect(page.locator("#submit-ok")).to_be_visible()
    expect(page.locator(".results table")).to_have_count(2)

    # What the server stored equals what the browser set.
    storage = Storage(server["db"])
    got = {(r["trial_id"], r["stimulus"]): r["score"] for r in storage.ratings()}
    assert got == {k: float(v) for k, v in stored_expect.items()}
    (payload,) = storage.payloads()
    assert payload["testId"] == TEST_ID and payload["config"]
    assert payload["participant"] == {"name": ["email", "age", "headphones", "comments"],
                                      "response": ["listener+1@example.org", "34", "open", "fine & dandy"]}
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", payload["uuid"])
    for trial in payload["trials"]:
        assert trial["type"] == "mushra"
        for resp in trial["responses"]:
            assert isinstance(resp["score"], str) and resp["score"].isdigit()
            assert resp["comment"] is None and resp["time"] > 0
    # The body was sent raw: "sessionJSON=" + JSON, '+' and '&' not encoded.
    assert posts and all(p.startswith("sessionJSON={") and "listener+1@example.org" in p for p in posts)
    # The admin JSON download agrees.
    doc = page.request.get(f"{server['url']}admin/results.json?token={TOKEN}").json()
    assert [s["uuid"] for s in doc["sessions"]] == [payload["uuid"]]

    # After a reload the finished session says so and offers a new session.
    page.reload()
    expect(page.locator("#submit-ok")).to_be_visible()
    page.click("#btn-new-session")
    expect(page.locator("h2.page-title")).to_have_text("Welcome")
    ctx.close()
    # The only error allowed is the browser's own log line for the deliberately failed POST.
    expected = "Failed to load resource: the server responded with a status of 503"
    assert [e for e in console.errors if expected not in e] == [], console.errors
    assert len(console.errors) <= 1



def test_audio_context_resumes_on_first_gesture(server: dict[str, Any], playwright: Any) -> None:
    """With Chrome's default autoplay policy a context created without a gesture starts suspended; the first
    click resumes it (webMUSHRA stayed silent here)."""
    from playwright.sync_api import expect

    args = [a for a in CHROMIUM_ARGS if not a.startswith("--autoplay-policy")]
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        page = b.new_page(viewport={"width": 1280, "height": 800})
        console = _Console(page)
        page.goto(server["url"])
        page.click("#btn-next")
        expect(page.locator("#btn-volume-play")).to_be_enabled(timeout=20_000)
        page.reload()  # the volume page is restored and creates its audio context with no user gesture
        expect(page.locator("#btn-volume-play")).to_be_enabled(timeout=20_000)
        assert page.evaluate("window.mushraApp.audioContext().state") == "suspended"
        page.click("#btn-volume-play")
        page.wait_for_function("window.mushraApp.audioContext().state === 'running'")
        page.wait_for_function("window.mushraApp.audioContext().currentTime > 0.1")
        expect(page.locator("#btn-volume-play")).to_have_attribute("aria-pressed", "true")
        assert console.errors == [], console.errors
    finally:
        b.close()


# -- layout on phones, waveform scale, questionnaire labels ------------------------------------------------------
def test_js_question_label_peaks_and_hidden_columns(js: Any) -> None:
    r = js.evaluate("""() => {
        const C = window.MushraCore;
        return {
            labels: [C.questionLabel({name: 'c', label: 'Comments (optional)', optional: true}),
                     C.questionLabel({name: 'c', label: 'Comments', optional: true}),
                     C.questionLabel({name: 'c', label: 'Optional remarks', optional: true}),
                     C.questionLabel({name: 'age', label: 'Age'}),
                     C.questionLabel({name: 'email', optional: true})],
            norm: Array.from(C.normalisePeaks(Float32Array.from([0.01, 0.05, 0.025, 0]))),
            zero: Array.from(C.normalisePeaks(new Float32Array(3))),
            hidden: C.hiddenColumns([{left: 0, right: 40}, {left: 40, right: 80}, {left: 80, right: 120}], 0, 100),
            scrolled: C.hiddenColumns([{left: 0, right: 40}, {left: 40, right: 80}, {left: 80, right: 120}], 20, 100),
            none: C.hiddenColumns([{left: 0, right: 40}], 0, 100),
        };
    }""")
    assert r["labels"] == ["Comments (optional)", "Comments (optional)", "Optional remarks", "Age",
                           "email (optional)"]
    assert r["norm"] == pytest.approx([0.2, 1.0, 0.5, 0.0], rel=1e-6) and r["zero"] == [0, 0, 0]
    assert r["hidden"] == [3] and r["scrolled"] == [1] and r["none"] == []


def _speech_like(seconds: float, sr: int, peak: float) -> np.ndarray:
    """Voiced bursts with pauses, peak ``peak`` (quiet, like speech at about -26 dBFS)."""
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 1.5 * t) ** 2) * (t % 0.66 < 0.45)
    x = env * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 900 * t))
    return (peak * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Any]:
    """A factory: serve a make_test_dir test (with ``systems``) whose first page is a MUSHRA page with a quiet
    reference; returns the page URL. Servers are stopped at the end of the test."""
    require_browser()
    from werkzeug.serving import make_server

    from mushra.app import create_app
    from mushra.testing import make_test_dir

    started = []

    def serve(systems: tuple[str, ...]) -> str:
        root = tmp_path / f"t{len(started)}"
        make_test_dir(root, n_items=1, seconds=2.0, sr=16000, systems=systems)
        sf.write(root / "audio" / "training" / "reference.wav", _speech_like(2.0, 16000, 0.05), 16000,
                 subtype="PCM_16")
        srv = make_server("127.0.0.1", 0, create_app(root, admin_token=TOKEN), threaded=True)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        started.append((srv, thread))
        return f"http://127.0.0.1:{srv.server_port}/"

    try:
        yield serve
    finally:
        for srv, thread in started:
            srv.shutdown()
            thread.join(timeout=5)


def _open_mushra(browser: Any, url: str, width: int, height: int) -> tuple[Any, Any, _Console]:
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = ctx.new_page()
    console = _Console(page)
    page.goto(url)
    page.wait_for_selector("#play-reference:enabled", timeout=20_000)
    return ctx, page, console


@pytest.mark.parametrize("width", [390, 1280])
def test_conditions_fit_or_hint_on_narrow_and_desktop_screens(small_server: Any, browser: Any, width: int) -> None:
    """A usual page (reference + 2 systems + 2 anchors) fits a 390 px phone; 9 conditions do not, and the page
    names those out of view until they are scrolled in."""
    from playwright.sync_api import expect

    ctx, page, console = _open_mushra(browser, small_server(("voc_a", "voc_b")), width, 844)
    boxes = [page.locator(f"#play-{i}").bounding_box() for i in range(1, 6)]
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= width for b in boxes), boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator("#scroll-hint")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"mushra_page_{width}px.png"), full_page=True)
    ctx.close()
    assert console.errors == [], console.errors

    ctx, page, console = _open_mushra(browser, small_server(tuple(f"v{i}" for i in range(6))), width, 844)
    if width < 600:
        hint = page.locator("#scroll-hint")
        expect(hint).to_be_visible()
        off = [i for i in range(1, 10) if page.locator(f"#play-{i}").bounding_box()["x"] + 20 > width]
        assert off and hint.inner_text().startswith(f"Conditions {', '.join(map(str, off))} are out of view")
        page.screenshot(path=str(ARTIFACTS / f"mushra_page_{width}px_9_conditions.png"), full_page=True)
        page.locator(".ratings").evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        expect(hint).to_be_hidden()   # scrolled to the end: every condition column is in view
        # Playing a condition by its key scrolls its column into view.
        page.locator(".ratings").evaluate("el => { el.scrollLeft = 0; }")
        page.locator("body").press("9")
        expect(page.locator("#play-9")).to_have_attribute("aria-pressed", "true")
        page.wait_for_function("document.querySelector('#play-9').getBoundingClientRect().right <= innerWidth")
    else:
        expect(page.locator("#scroll-hint")).to_be_hidden()
    ctx.close()
    assert console.errors == [], console.errors


def test_waveform_is_drawn_normalised_to_its_peak(small_server: Any, browser: Any) -> None:
    """A quiet reference (peak 0.05) fills most of the waveform's height instead of a thin strip."""
    ctx, page, console = _open_mushra(browser, small_server(("voc_a", "voc_b")), 1280, 800)
    page.wait_for_timeout(200)  # a few animation frames
    extent = page.evaluate("""() => {
        const c = document.querySelector('#waveform'), g = c.getContext('2d');
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let top = c.height, bottom = -1;
        for (let y = 0; y < c.height; y += 1) for (let x = 10; x < c.width; x += 1) {
            const i = 4 * (y * c.width + x);
            if (d[i] === 0x47 && d[i + 1] === 0x55 && d[i + 2] === 0x69) { top = Math.min(top, y); bottom = Math.max(bottom, y); }
        }
        return {span: bottom - top + 1, height: c.height};
    }""")
    assert extent["span"] >= 0.8 * extent["height"], extent
    ctx.close()
    assert console.errors == [], console.errors


def test_optional_label_is_not_repeated(browser: Any, tmp_path: Path) -> None:
    """A config label that already says "(optional)" is shown once (was "Comments (optional) (optional)")."""
    require_browser()
    from werkzeug.serving import make_server

    from mushra.app import create_app
    from mushra.config import Page, TestConfig, write_config

    write_config(TestConfig(testname="Q", testId="q", pages=[Page("finish", {
        "type": "finish", "name": "Thank you", "content": "", "questionnaire": [
            {"type": "long_text", "name": "comments", "label": "Comments (optional)", "optional": True},
            {"type": "text", "name": "where", "label": "Where", "optional": True}]})]), tmp_path / "config.yaml")
    srv = make_server("127.0.0.1", 0, create_app(tmp_path, admin_token=TOKEN), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{srv.server_port}/")
        page.wait_for_selector(".questionnaire")
        assert page.locator(".q label").all_inner_texts() == ["Comments (optional)", "Where (optional)"]
        page.close()
    finally:
        srv.shutdown()
        thread.join(timeout=5)


# -- the real, unmodified webMUSHRA page ------------------------------------------------------------------------
# webMUSHRA is not part of this repository (Fraunhofer licence): these tests run against a checkout whose path the
# user gives in WEBMUSHRA_DIR (git clone https://github.com/audiolabs/webMUSHRA) and are skipped without one.
WEBMUSHRA_ENV = "WEBMUSHRA_DIR"
# A questionnaire answer that breaks naive form parsing ('+', '&', '=', '%') and carries non-ASCII text.
TRICKY_ANSWER = "A+B & C=D 100% — ünïcødé ✓ 日本語 🎧"


@pytest.fixture
def webmushra_dir() -> Path:
    """The webMUSHRA checkout named by WEBMUSHRA_DIR (skipped before the browser starts when unset)."""
    value = os.environ.get(WEBMUSHRA_ENV)
    if not value:
        pytest.skip(f"{WEBMUSHRA_ENV} not set: give the path of a webMUSHRA checkout "
                    "(git clone https://github.com/audiolabs/webMUSHRA) to test against the real page")
    wm = Path(value)
    if not (wm / "index.html").is_file() or not (wm / "startup.js").is_file():
        pytest.fail(f"{WEBMUSHRA_ENV}={value} is not a webMUSHRA folder (no index.html/startup.js)")
    return wm


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    """``app`` on 127.0.0.1:<free port> in a thread; yields its base URL; stopped on exit."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/"
    finally:
        srv.shutdown()
        thread.join(timeout=5)


def _webmushra_started(page: Any) -> list[str]:
    """Wait until webMUSHRA has loaded its config and audio and shows its first page; returns its error list."""
    page.wait_for_function(
        "() => typeof pageManager !== 'undefined' && pageManager !== null && pageManager.pagesIndex >= 0"
        " || (typeof errorHandler !== 'undefined' && errorHandler.getErrors().length > 0)", timeout=30_000)
    return page.evaluate("() => errorHandler.getErrors().map(String)")


def test_real_webmushra_completes_a_built_test(webmushra_dir: Path, tmp_path: Path, browser: Any) -> None:
    """`bench mushra build` output served with --webmushra: the unmodified webMUSHRA page loads it with no error,
    a listener goes through every page, and the server stores exactly what was rated and answered."""
    from playwright.sync_api import expect

    from mushra.app import create_app
    from mushra.build import build_test
    from mushra.config import load_config
    from mushra.storage import Storage
    from mushra.testing import make_run_dir

    wm = webmushra_dir
    run = make_run_dir(tmp_path / "run", [("sp1", "speech", 2.0), ("mu1", "music", 2.0), ("sp2", "speech", 2.0)],
                       ["voc_a", "voc_b"], sr=16000)
    cfg_path = build_test(run, ["voc_a", "voc_b"], 2, tmp_path / "test", excerpt_seconds=1.5, name="webmushra e2e")
    cfg = load_config(cfg_path)
    db = tmp_path / "results.sqlite"
    app = create_app(tmp_path / "test", admin_token=TOKEN, webmushra_dir=wm, db_path=db)

    with _serving(app) as url:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(f"{url}?config={cfg_path.name}")
        assert _webmushra_started(page) == []   # "Type not specified." here before the fix
        rated: dict[tuple[str, str], int] = {}
        seen: list[str] = []
        for _ in range(10):   # welcome, volume, training, 2 items, finish
            kind = page.evaluate("() => pageManager.getCurrentPage().constructor.name")
            seen.append(kind)
            if kind == "FinishPage":
                break
            if kind == "MushraPage":
                trial = page.evaluate("() => pageManager.getCurrentPage().pageConfig.id")
                names = page.evaluate("() => $('.scales').map((i, e) => e.name).get()")
                assert sorted(names) == sorted(cfg.page(trial).conditions())
                page.click("#buttonReference")
                for i, name in enumerate(names):
                    # As a listener: play the condition (which enables its slider), then move the slider.
                    page.click(f"#buttonConditions{i}")
                    score = (17 * (len(rated) + 1)) % 101
                    page.evaluate("([i, v]) => $('.scales').eq(i).val(v).slider('refresh').trigger('change')",
                                  [i, score])
                    rated[(trial, name)] = score
                page.click("#buttonStop")
            page.click("#__button_next")
        assert seen == ["GenericPage", "VolumePage", "MushraPage", "MushraPage", "MushraPage", "FinishPage"], seen

        # The age box starts empty (webMUSHRA writes the question's default into it; "undefined" without one).
        assert page.input_value("#age") == ""
        expect(page.locator("#send_results")).to_be_disabled()
        page.fill("#age", "41")
        page.click("label[for='headphones__response_1']")
        page.click("label[for='experience__response_2']")
        page.fill("#comments", TRICKY_ANSWER)
        expect(page.locator("#send_results")).to_be_enabled(timeout=5_000)
        page.click("#send_results")
        expect(page.locator("#popupDialog")).to_be_visible(timeout=10_000)
        # webMUSHRA shows its own error line in the dialog when the POST is not a 200 with an empty body.
        assert page.evaluate("() => errorHandler.getErrors().map(String)") == []
        ctx.close()

    store = Storage(db)
    sessions = store.sessions()
    assert len(sessions) == 1
    assert dict(sessions[0]["participant"]) == {"age": "41", "headphones": "open", "experience": "expert",
                                                "comments": TRICKY_ANSWER}
    stored = {(r["session_uuid"], r["trial_id"], r["stimulus"]): r["score"] for r in store.ratings()}
    assert {(t, s): v for (_, t, s), v in stored.items()} == rated
    assert {t for t, _ in rated} == {"training", "item01", "item02"}
    assert store.payloads()[0]["participant"]["response"][-1] == TRICKY_ANSWER


def test_real_webmushra_serves_every_example_config(webmushra_dir: Path, tmp_path: Path, browser: Any) -> None:
    """Every configs/*.yaml of the webMUSHRA checkout is served (`bench mushra serve DIR --webmushra DIR --config
    NAME`) and webMUSHRA's page starts on it without an error."""
    from mushra.app import create_app

    wm = webmushra_dir
    configs = sorted(p.name for p in (wm / "configs").glob("*.yaml"))
    assert configs, f"{wm}/configs has no *.yaml"
    refused, failed = {}, {}
    for name in configs:
        try:
            app = create_app(wm, admin_token=TOKEN, webmushra_dir=wm, config_name=name,
                             db_path=tmp_path / f"{name}.sqlite")
        except Exception as err:  # noqa: BLE001 - collect every refusal, report them together
            refused[name] = str(err)
            continue
        with _serving(app) as url:
            page = browser.new_page()
            page.goto(f"{url}?config={name}")
            errors = _webmushra_started(page)
            if errors:
                failed[name] = errors
            page.close()
    assert refused == {} and failed == {}, (refused, failed)
