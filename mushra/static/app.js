/*
 * vocoder-bench listening page: runs a webMUSHRA-format test (api/config) in the browser and posts the
 * results to the test's remoteService. Page logic lives here; pure helpers are in mushra-core.js and the
 * sample-synchronous player in audio-engine.js.
 */
(function () {
  'use strict';

  const Core = window.MushraCore;
  const Audio = window.MushraAudio;
  const STATE_VERSION = 1;
  const SUPPORTED = new Set(['generic', 'volume', 'mushra', 'finish']);

  // ---------------------------------------------------------------------------------------------
  // Small DOM helpers

  /** el('div', {class: 'x', onclick: f}, child, 'text', ...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (k === 'html') node.innerHTML = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);

  function fmtTime(t) { return `${t.toFixed(2)} s`; }

  // ---------------------------------------------------------------------------------------------
  // Application state (persisted in localStorage so a reload resumes)

  const app = {
    config: null,
    configName: '',
    pages: [],
    state: null,
    storageKey: '',
    ctx: null,
    master: null,
    view: null,      // the current page controller: {dispose(), onKey(e)}
    clock: null,     // {key, since}
  };

  function newState() {
    return {
      v: STATE_VERSION, uuid: Core.uuidV4(window.crypto), pageIndex: 0, pages: {}, volume: null,
      answers: {}, submitted: false, skipped: {},
    };
  }

  function saveState() {
    try {
      localStorage.setItem(app.storageKey, JSON.stringify(app.state));
    } catch (err) {
      // Private mode or a full quota: the test still works, only resuming after a reload does not.
      console.warn('progress could not be saved in localStorage:', err);
    }
  }

  function loadState() {
    try {
      const raw = localStorage.getItem(app.storageKey);
      if (!raw) return null;
      const s = JSON.parse(raw);
      return s && s.v === STATE_VERSION && typeof s.uuid === 'string' ? s : null;
    } catch (err) {
      return null;
    }
  }

  function pageState(key) {
    if (!app.state.pages[key]) app.state.pages[key] = { ratings: {}, played: {}, timeMs: 0 };
    return app.state.pages[key];
  }

  // Time on page: counted while the page is shown and the tab visible.
  function startClock(key) { app.clock = { key, since: performance.now() }; }
  function flushClock() {
    if (!app.clock || app.clock.hidden) return;
    const now = performance.now();
    pageState(app.clock.key).timeMs += now - app.clock.since;
    app.clock.since = now;
    saveState();
  }
  function stopClock() { flushClock(); app.clock = null; }

  // ---------------------------------------------------------------------------------------------
  // Audio context: created once; resumed on user gestures (browsers' autoplay policy).

  function ensureAudio() {
    if (app.ctx) return app.ctx;
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) throw new Error('This browser has no Web Audio API; please use a current Chrome, Firefox, Edge or Safari.');
    app.ctx = new Ctor(); // the device's own rate: decodeAudioData resamples every file to it
    app.master = app.ctx.createGain();
    app.master.gain.value = app.state && app.state.volume != null ? app.state.volume : 1;
    app.master.channelCountMode = 'explicit';
    app.master.channelCount = 2;
    app.master.connect(app.ctx.destination);
    return app.ctx;
  }

  function resumeAudio() {
    if (app.ctx && app.ctx.state === 'suspended') app.ctx.resume().catch(() => {});
  }
  for (const ev of ['pointerdown', 'keydown', 'touchend']) document.addEventListener(ev, resumeAudio, true);

  // Downloads started ahead of time for the next page: url -> Promise<ArrayBuffer>.
  const prefetched = new Map();

  async function loadBuffer(url) {
    const ctx = ensureAudio();
    const early = prefetched.get(url);
    if (early) {
      prefetched.delete(url);
      try {
        const bytes = await early;
        return await ctx.decodeAudioData(bytes);
      } catch (err) { /* fall through to a fresh download that reports the error properly */ }
    }
    return Audio.fetchDecode(ctx, url);
  }

  function prefetchPage(index) {
    const page = app.pages[index];
    if (!page || page.type !== 'mushra') return;
    for (const c of Core.pageConditions(page)) {
      if (!c.url || prefetched.has(c.url)) continue;
      const p = fetch(c.url).then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))));
      p.catch(() => {});
      prefetched.set(c.url, p);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Page frame: header progress, title, content, navigation

  function setProgress() {
    const n = app.pages.length;
    const i = app.state.pageIndex;
    $('#progress-text').textContent = `Page ${i + 1} of ${n}`;
    const bar = $('#progress-bar');
    bar.max = n;
    bar.value = i + 1;
  }

  function frame(page, body, nav) {
    const main = $('#page');
    main.replaceChildren();
    main.append(
      el('h2', { class: 'page-title' }, page.name || ''),
      page.content ? el('div', { class: 'page-content', html: String(page.content) }) : null,
      body,
      el('div', { class: 'messages', role: 'alert', 'aria-live': 'assertive' }),
      nav,
    );
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function message(text, kind) {
    const box = $('#page .messages');
    box.replaceChildren();
    if (text) box.append(el('p', { class: `msg ${kind || 'error'}` }, text));
  }

  function navBar({ nextLabel = 'Next', onNext, allowPrev = true, extra = [] }) {
    const prevAllowed = allowPrev && app.config.showButtonPreviousPage === true && app.state.pageIndex > 0;
    return el('nav', { class: 'page-nav', 'aria-label': 'Page navigation' },
      prevAllowed ? el('button', { type: 'button', class: 'btn secondary', id: 'btn-prev', onclick: () => goTo(app.state.pageIndex - 1) }, 'Previous') : el('span'),
      el('span', { class: 'spacer' }),
      ...extra,
      onNext ? el('button', { type: 'button', class: 'btn primary', id: 'btn-next', onclick: onNext }, nextLabel) : null);
  }

  function goTo(index) {
    if (index < 0 || index >= app.pages.length) return;
    stopClock();
    if (app.view) app.view.dispose();
    app.view = null;
    app.state.pageIndex = index;
    saveState();
    render();
  }

  function render() {
    setProgress();
    const index = app.state.pageIndex;
    const page = app.pages[index];
    const key = Core.pageKey(page, index);
    if (!app.state.submitted) startClock(key);
    if (!SUPPORTED.has(page.type)) app.view = renderUnsupported(page, key);
    else if (page.type === 'generic') app.view = renderGeneric(page, key);
    else if (page.type === 'volume') app.view = renderVolume(page, key);
    else if (page.type === 'mushra') app.view = renderMushra(page, key, index);
    else app.view = renderFinish(page, key);
  }

  // ---------------------------------------------------------------------------------------------
  // generic / unsupported

  function renderGeneric(page) {
    frame(page, null, navBar({ onNext: () => goTo(app.state.pageIndex + 1) }));
    return { dispose() {}, onKey() {} };
  }

  function renderUnsupported(page, key) {
    const body = el('div', { class: 'notice' },
      el('p', {}, `This page is of type “${page.type}”, which this player does not support yet. `,
        'Nothing is recorded for it; please skip it.'));
    frame(page, body, navBar({
      nextLabel: 'Skip this page',
      onNext: () => { app.state.skipped[key] = true; goTo(app.state.pageIndex + 1); },
    }));
    return { dispose() {}, onKey() {} };
  }

  // ---------------------------------------------------------------------------------------------
  // volume

  /** A 1 kHz tone at -20 dBFS, 2 s, with 10 ms fades: the test sound when the page names no stimulus. */
  function testTone(ctx) {
    const n = Math.round(2 * ctx.sampleRate);
    const buf = ctx.createBuffer(1, n, ctx.sampleRate);
    const d = buf.getChannelData(0);
    const fade = Math.round(0.01 * ctx.sampleRate);
    for (let i = 0; i < n; i += 1) {
      const env = Math.min(1, i / fade, (n - 1 - i) / fade);
      d[i] = 0.1 * Math.SQRT2 * Math.sin((2 * Math.PI * 1000 * i) / ctx.sampleRate) * env;
    }
    return buf;
  }

  function renderVolume(page) {
    const ctx = ensureAudio();
    const player = new Audio.Player(ctx, app.master);
    player.loopOn = true;
    const initial = app.state.volume != null ? app.state.volume
      : (typeof page.defaultVolume === 'number' ? Math.max(0, Math.min(1, page.defaultVolume)) : 0.5);
    app.state.volume = initial;
    app.master.gain.value = initial;
    saveState();

    const out = el('output', { id: 'volume-value', for: 'volume-slider' });
    const slider = el('input', {
      type: 'range', id: 'volume-slider', min: 0, max: 100, step: 1, value: Math.round(initial * 100),
      'aria-describedby': 'volume-value',
    });
    const showGain = () => {
      const g = Number(slider.value) / 100;
      out.textContent = g > 0 ? `${(20 * Math.log10(g)).toFixed(1)} dB` : 'muted';
    };
    showGain();
    slider.addEventListener('input', () => {
      const g = Number(slider.value) / 100;
      app.state.volume = g;
      app.master.gain.setTargetAtTime(g, ctx.currentTime, 0.01);
      showGain();
      saveState();
    });
    const playBtn = el('button', { type: 'button', class: 'btn', id: 'btn-volume-play', 'aria-pressed': 'false', disabled: true }, 'Loading…');
    const toggle = () => {
      resumeAudio();
      if (player.playing) player.pause(); else player.play('test');
    };
    playBtn.addEventListener('click', toggle);
    player.onstate = () => {
      playBtn.textContent = player.playing ? 'Stop test sound' : 'Play test sound';
      playBtn.setAttribute('aria-pressed', String(player.playing));
    };
    const body = el('div', { class: 'volume-page' },
      el('div', { class: 'volume-row' }, playBtn,
        el('label', { for: 'volume-slider' }, 'Volume'), slider, out),
      el('p', { class: 'hint' }, 'Set a comfortable level now; it is used for the whole test. ',
        'Press ', el('kbd', {}, 'Space'), ' to start or stop the test sound.'));
    frame(page, body, navBar({ onNext: () => goTo(app.state.pageIndex + 1) }));

    let alive = true;
    (page.stimulus ? loadBuffer(String(page.stimulus)) : Promise.resolve(testTone(ctx)))
      .then((buf) => {
        if (!alive) return;
        player.setBuffers([['test', buf]]);
        player.loopOn = true;
        playBtn.disabled = false;
        playBtn.textContent = 'Play test sound';
      })
      .catch((err) => { if (alive) message(`The test sound could not be loaded: ${err.message}`); });

    return {
      usesSpace: true,
      dispose() { alive = false; player.dispose(); },
      onKey(e) {
        if (e.key === ' ' && !playBtn.disabled && !isTextTarget(e.target)) { e.preventDefault(); toggle(); }
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // mushra

  function isTextTarget(t) {
    if (!t || !t.tagName) return false;
    if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
    return t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button'].includes(t.type);
  }

  const OPEN_REF = '__open_reference__';

  function renderMushra(page, key, index) {
    const ctx = ensureAudio();
    const ps = pageState(key);
    // Order fixed once per session and page (seeded by the session), stored so that a reload shows the same.
    const conds = Core.pageConditions(page);
    const labels = conds.map((c) => c.label);
    if (!Array.isArray(ps.order) || ps.order.length !== labels.length || !ps.order.every((l) => labels.includes(l))) {
      ps.order = Core.conditionOrder(page, app.state.uuid);
    }
    const order = ps.order;
    saveState();

    const looping = page.enableLooping === true;
    const player = new Audio.Player(ctx, app.master);
    player.restartOnSwitch = page.switchBack === true;
    player.loopOn = looping && ps.loopOn === true;
    let warnedNoMax = false;
    let ready = false;
    let alive = true;

    // --- transport + waveform
    const playBtn = el('button', { type: 'button', class: 'btn', id: 'btn-play', disabled: true }, 'Play');
    const stopBtn = el('button', { type: 'button', class: 'btn', id: 'btn-stop', disabled: true }, 'Stop');
    const loopBtn = looping ? el('button', { type: 'button', class: 'btn toggle', id: 'btn-loop', 'aria-pressed': String(player.loopOn), disabled: true }, 'Loop') : null;
    const clearBtn = looping ? el('button', { type: 'button', class: 'btn secondary', id: 'btn-clear-loop', disabled: true, title: 'Forget the selected loop region' }, 'Loop whole file') : null;
    const timeOut = el('span', { class: 'time', 'aria-live': 'off' }, '');
    const canvas = el('canvas', {
      class: 'wave', id: 'waveform', height: 90,
      'aria-label': looping ? 'Waveform of the reference: click to jump, drag to choose a loop' : 'Waveform of the reference: click to jump',
      role: 'img',
    });
    const status = el('p', { class: 'status', role: 'status' }, 'Loading audio…');

    // --- rating columns
    const scale = el('div', { class: 'scale', 'aria-hidden': 'true' },
      el('div', { class: 'col-head' }),
      el('div', { class: 'scale-body' }, ...Core.SCALE.map(([name]) => el('div', { class: 'band' }, el('span', {}, name)))),
      el('div', { class: 'col-foot' }));
    const refBtn = el('button', { type: 'button', class: 'play-btn ref', id: 'play-reference', disabled: true, 'aria-pressed': 'false', title: 'Reference (key R)' }, 'Reference');
    const refCol = el('div', { class: 'col ref-col' },
      el('div', { class: 'col-head' }, refBtn),
      el('div', { class: 'ref-body' }, el('span', {}, 'Open reference: rate the conditions against it.')),
      el('div', { class: 'col-foot' }, el('kbd', {}, 'R')));

    const names = order.map((label, i) => (page.showConditionNames === true ? label : String(i + 1)));
    const columns = order.map((label, i) => {
      const btn = el('button', {
        type: 'button', class: 'play-btn', id: `play-${i + 1}`, disabled: true, 'aria-pressed': 'false',
        title: i < 10 ? `Condition ${names[i]} (key ${(i + 1) % 10})` : `Condition ${names[i]}`,
      }, names[i]);
      const slider = el('input', {
        type: 'range', class: 'rating', id: `rating-${i + 1}`, min: 0, max: 100, step: 1, value: 0,
        disabled: true, 'aria-label': `Rating of condition ${names[i]}`, title: 'Play this condition first',
      });
      const value = el('output', { class: 'score', id: `score-${i + 1}`, for: `rating-${i + 1}` }, '–');
      const col = el('div', { class: 'col cond-col unrated' },
        el('div', { class: 'col-head' }, btn),
        el('div', { class: 'slider-wrap' }, slider),
        el('div', { class: 'col-foot' }, value));
      return { label, btn, slider, value, col };
    });
    const grid = el('div', { class: 'grid-lines', 'aria-hidden': 'true' }, el('i'), el('i'), el('i'), el('i'));
    const ratings = el('div', { class: 'ratings', role: 'group', 'aria-label': 'Ratings, 0 (bad) to 100 (excellent)' },
      grid, refCol, scale, ...columns.map((c) => c.col));
    // On a narrow screen the columns may not all fit: say which are out of view (the box scrolls sideways).
    const scrollHint = el('p', { class: 'scroll-hint', id: 'scroll-hint', 'aria-live': 'polite', hidden: true }, '');
    function updateScrollHint() {
      const spans = columns.map((c) => ({ left: c.col.offsetLeft, right: c.col.offsetLeft + c.col.offsetWidth }));
      const hidden = Core.hiddenColumns(spans, ratings.scrollLeft, ratings.clientWidth);
      scrollHint.hidden = hidden.length === 0;
      if (hidden.length) {
        const which = hidden.map((i) => names[i - 1]).join(', ');
        scrollHint.textContent = `${hidden.length === 1 ? 'Condition' : 'Conditions'} ${which} ${hidden.length === 1 ? 'is' : 'are'} `
          + 'out of view: scroll the rating area sideways ⇆';
      }
    }
    ratings.addEventListener('scroll', updateScrollHint, { passive: true });
    const resizeObserver = typeof ResizeObserver === 'function' ? new ResizeObserver(updateScrollHint) : null;
    if (resizeObserver) resizeObserver.observe(ratings);

    const keysHelp = el('p', { class: 'keys' },
      'Keys: ', el('kbd', {}, 'R'), ' reference · ', el('kbd', {}, '1'), '–', el('kbd', {}, '9'), ', ', el('kbd', {}, '0'),
      ' conditions 1–10 · ', el('kbd', {}, 'Space'), ' play/pause · ', el('kbd', {}, 'S'), ' stop',
      looping ? [' · ', el('kbd', {}, 'L'), ' loop on/off · ', el('kbd', {}, '['), ' ', el('kbd', {}, ']'),
        ' loop start/end at the playhead (or drag on the waveform)'] : '',
      ' · click the waveform to jump · ', el('kbd', {}, '↑'), el('kbd', {}, '↓'), ' move a focused slider. ',
      'Each condition must be played before it can be rated.');

    const transport = el('div', { class: 'transport' }, playBtn, stopBtn, loopBtn, clearBtn, timeOut);
    const playerBox = el('div', { class: 'player' }, transport, canvas);
    frame(page, el('div', { class: 'mushra-page' }, status, playerBox, scrollHint, ratings, keysHelp),
      navBar({ onNext: next }));
    updateScrollHint();

    // --- UI updates
    function updateColumns() {
      const active = player.playing ? player.active : null;
      refBtn.setAttribute('aria-pressed', String(active === OPEN_REF));
      refBtn.classList.toggle('playing', active === OPEN_REF);
      for (const c of columns) {
        const played = ps.played[c.label] === true;
        c.btn.setAttribute('aria-pressed', String(active === c.label));
        c.btn.classList.toggle('playing', active === c.label);
        c.btn.classList.toggle('played', played);
        c.slider.disabled = !ready || !played;
        c.slider.title = played ? '' : 'Play this condition first';
        const r = ps.ratings[c.label];
        const rated = typeof r === 'number';
        c.col.classList.toggle('unrated', !rated);
        c.value.textContent = rated ? String(r) : '–';
        if (rated && Number(c.slider.value) !== r) c.slider.value = String(r);
        c.slider.setAttribute('aria-valuetext', rated ? `${r}, ${Core.scaleLabel(r)}` : 'not rated yet');
      }
      playBtn.textContent = player.playing ? 'Pause' : 'Play';
      if (loopBtn) loopBtn.setAttribute('aria-pressed', String(player.loopOn));
    }

    function rate(c) {
      if (c.slider.disabled) return;
      ps.ratings[c.label] = Math.round(Number(c.slider.value));
      if (warnedNoMax || $('#page .messages').childElementCount) {
        // Whatever was reported on Next is out of date now.
        warnedNoMax = false;
        message('');
        $('#btn-next').textContent = 'Next';
      }
      saveState();
      updateColumns();
    }
    for (const c of columns) {
      c.slider.addEventListener('input', () => rate(c));
      c.slider.addEventListener('change', () => rate(c));
      // Clicking the thumb where it already is (e.g. a deliberate 0) or Home/End counts as rating too.
      c.slider.addEventListener('pointerup', () => rate(c));
      c.slider.addEventListener('keyup', (e) => {
        if (['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown'].includes(e.key)) rate(c);
      });
      c.btn.addEventListener('click', () => playKey(c.label));
    }
    refBtn.addEventListener('click', () => playKey(OPEN_REF));

    function playKey(k) {
      if (!ready) return;
      resumeAudio();
      if (player.playing && player.active === k) { player.pause(); return; }
      player.play(k);
    }
    player.onstate = (what) => {
      const playing = columns.find((c) => c.label === player.active);
      if (what === 'play' && playing) playing.col.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      if (what === 'play' && player.active && player.active !== OPEN_REF && !ps.played[player.active]) {
        ps.played[player.active] = true;
        if (!warnedNoMax) message(''); // a "not played yet" report is out of date now
        saveState();
      }
      updateColumns();
    };

    function togglePlay() {
      if (!ready) return;
      resumeAudio();
      if (player.playing) player.pause();
      else player.play(player.active || OPEN_REF);
    }
    playBtn.addEventListener('click', togglePlay);
    stopBtn.addEventListener('click', () => player.stop());
    function toggleLoop() {
      if (!looping || !ready) return;
      player.setLoop(!player.loopOn);
      ps.loopOn = player.loopOn;
      saveState();
    }
    if (loopBtn) loopBtn.addEventListener('click', toggleLoop);
    if (clearBtn) clearBtn.addEventListener('click', () => { player.setLoop(player.loopOn, null); ps.region = null; saveState(); });

    // --- waveform
    let peakCache = null;
    let refBuffer = null;
    let drag = null; // {x0, t0, t1}
    function canvasTime(ev) {
      const r = canvas.getBoundingClientRect();
      const x = Math.max(0, Math.min(r.width, ev.clientX - r.left));
      return (x / Math.max(1, r.width)) * player.duration;
    }
    canvas.addEventListener('pointerdown', (ev) => {
      if (!ready) return;
      canvas.setPointerCapture(ev.pointerId);
      drag = { x0: ev.clientX, t0: canvasTime(ev), t1: null };
    });
    canvas.addEventListener('pointermove', (ev) => {
      if (!drag || !looping) return;
      if (Math.abs(ev.clientX - drag.x0) > 4) drag.t1 = canvasTime(ev);
    });
    canvas.addEventListener('pointerup', (ev) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      const region = d.t1 == null ? null : Core.clampRegion(d.t0, canvasTime(ev), player.duration);
      if (region) {
        ps.region = region;
        ps.loopOn = true;
        player.setLoop(true, region);
      } else {
        player.seek(d.t0);
      }
      saveState();
    });

    function draw() {
      const dpr = window.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
      const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; peakCache = null; }
      const g = canvas.getContext('2d');
      g.fillStyle = '#f4f6f8';
      g.fillRect(0, 0, w, h);
      if (!ready) return;
      const dur = player.duration || 1;
      const xOf = (t) => (t / dur) * w;
      const loop = drag && drag.t1 != null ? { start: Math.min(drag.t0, drag.t1), end: Math.max(drag.t0, drag.t1) } : (player.region || null);
      if (loop) {
        g.fillStyle = player.loopOn || drag ? 'rgba(37, 99, 235, 0.18)' : 'rgba(100, 116, 139, 0.12)';
        g.fillRect(xOf(loop.start), 0, xOf(loop.end) - xOf(loop.start), h);
      }
      if (page.showWaveform !== false && refBuffer) {
        if (!peakCache || peakCache.length !== w) peakCache = Core.normalisePeaks(Audio.peaks(refBuffer, w));
        const mid = h / 2;
        g.fillStyle = '#475569';
        for (let x = 0; x < w; x += 1) {
          const a = Math.max(dpr * 0.5, peakCache[x] * (h / 2 - 2 * dpr));
          g.fillRect(x, mid - a, 1, 2 * a);
        }
      } else {
        g.fillStyle = '#cbd5e1';
        g.fillRect(0, h / 2 - dpr, w, 2 * dpr);
      }
      const pos = player.position();
      g.fillStyle = '#dc2626';
      g.fillRect(Math.min(w - 2 * dpr, xOf(pos)), 0, 2 * dpr, h);
      const loopText = player.loopRegion() ? ` · loop ${fmtTime(player.loopRegion().start)}–${fmtTime(player.loopRegion().end)}` : '';
      timeOut.textContent = `${fmtTime(pos)} / ${fmtTime(player.duration)}${loopText}`;
    }
    let raf = 0;
    function frameLoop() { draw(); raf = requestAnimationFrame(frameLoop); }
    raf = requestAnimationFrame(frameLoop);

    // --- loading
    async function load() {
      status.hidden = false;
      status.className = 'status';
      status.textContent = 'Loading audio…';
      const urls = [...new Set(conds.filter((c) => c.url).map((c) => c.url))];
      const decoded = new Map();
      let done = 0;
      try {
        await Promise.all(urls.map(async (u) => {
          decoded.set(u, await loadBuffer(u));
          done += 1;
          if (alive) status.textContent = `Loading audio… ${done} / ${urls.length}`;
        }));
        if (!alive) return;
        refBuffer = decoded.get(String(page.reference));
        const entries = [[OPEN_REF, refBuffer]];
        for (const c of conds) {
          entries.push([c.label, c.url ? decoded.get(c.url) : Audio.lowpassed(ctx, refBuffer, c.cutoffHz)]);
        }
        const lengths = new Set(entries.map(([, b]) => b.length));
        if (lengths.size > 1) console.warn(`page ${page.id}: stimuli differ in length (${[...lengths].join(', ')} frames); shorter ones are padded with silence`);
        player.setBuffers(entries);
        if (looping && ps.region) player.region = Core.clampRegion(ps.region.start, ps.region.end, player.duration);
        player.loopOn = looping && ps.loopOn === true;
        ready = true;
        status.hidden = true;
        for (const b of [playBtn, stopBtn, loopBtn, clearBtn, refBtn, ...columns.map((c) => c.btn)]) if (b) b.disabled = false;
        updateColumns();
        prefetchPage(index + 1);
      } catch (err) {
        if (!alive) return;
        status.className = 'status error';
        status.replaceChildren(
          `The audio of this page could not be loaded: ${err.message}. `,
          el('button', { type: 'button', class: 'btn secondary', onclick: load }, 'Try again'),
          app.config.stopOnErrors === false ? el('button', {
            type: 'button', class: 'btn secondary', onclick: () => { app.state.skipped[key] = true; goTo(index + 1); },
          }, 'Skip this page') : null);
        console.warn(err);
      }
    }
    load();

    // --- leaving the page
    function next() {
      if (!ready) { message('The audio of this page is still loading.', 'warning'); return; }
      const c = Core.pageCompletion(order, ps.ratings, ps.played);
      const nameOf = (l) => names[order.indexOf(l)];
      if (!c.complete) {
        const parts = [];
        if (c.unplayed.length) parts.push(`not played yet: ${c.unplayed.map(nameOf).join(', ')}`);
        const playedUnrated = c.unrated.filter((l) => !c.unplayed.includes(l));
        if (playedUnrated.length) parts.push(`not rated yet: ${playedUnrated.map(nameOf).join(', ')}`);
        message(`Please play and rate every condition before going on (${parts.join('; ')}).`);
        const first = columns.find((col) => col.label === (c.unplayed[0] || c.unrated[0]));
        if (first) (first.slider.disabled ? first.btn : first.slider).focus();
        return;
      }
      if (!c.hasMax && !warnedNoMax) {
        warnedNoMax = true;
        message('No condition is rated 100. One of the conditions is a hidden copy of the reference, which should '
          + 'be rated 100. Press “Continue anyway” if you are sure.', 'warning');
        $('#btn-next').textContent = 'Continue anyway';
        return;
      }
      goTo(index + 1);
    }

    return {
      usesSpace: true,
      dispose() {
        alive = false;
        cancelAnimationFrame(raf);
        if (resizeObserver) resizeObserver.disconnect();
        player.dispose();
      },
      onKey(e) {
        if (isTextTarget(e.target)) return;
        const k = e.key;
        if (k === ' ' || k === 'Spacebar') { e.preventDefault(); togglePlay(); return; }
        if (k === 'r' || k === 'R') { playKey(OPEN_REF); return; }
        if (k === 's' || k === 'S') { if (ready) player.stop(); return; }
        if (k === 'l' || k === 'L') { toggleLoop(); return; }
        if ((k === '[' || k === ']') && looping && ready) {
          // Loop start / end at the playhead: the keyboard way to choose a loop region.
          const pos = player.position();
          const cur = player.region || { start: 0, end: player.duration };
          const region = k === '[' ? Core.clampRegion(pos, cur.end, player.duration) : Core.clampRegion(cur.start, pos, player.duration);
          if (region) { ps.region = region; ps.loopOn = true; player.setLoop(true, region); saveState(); }
          return;
        }
        if (/^[0-9]$/.test(k)) {
          const i = k === '0' ? 9 : Number(k) - 1;
          if (i < columns.length) playKey(columns[i].label);
        }
      },
      debugOrder: () => order.slice(),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // finish: questionnaire, submission, results

  function collectTrials() {
    const trials = [];
    app.pages.forEach((page, i) => {
      if (page.type !== 'mushra') return;
      const key = Core.pageKey(page, i);
      const ps = app.state.pages[key];
      if (!ps || app.state.skipped[key] || !Array.isArray(ps.order)) return;
      if (!Core.pageCompletion(ps.order, ps.ratings, ps.played).complete) return;
      trials.push({ id: page.id, name: page.name, labels: ps.order, ratings: ps.ratings, comments: {}, timeMs: ps.timeMs });
    });
    return trials;
  }

  function questionnaireItems(page) {
    return (Array.isArray(page.questionnaire) ? page.questionnaire : []).filter((q) => q && q.name != null);
  }

  function questionField(q, i) {
    const id = `q-${i}`;
    const name = String(q.name);
    const required = q.optional !== true;
    const saved = app.state.answers[name];
    const initial = saved != null ? saved : (q.default != null ? String(q.default) : '');
    const store = (v) => { app.state.answers[name] = v; saveState(); };
    const label = Core.questionLabel(q);
    if (q.type === 'likert') {
      const options = (Array.isArray(q.response) ? q.response : []).map((r, j) => {
        const value = String(r && r.value != null ? r.value : r);
        const input = el('input', { type: 'radio', name: id, id: `${id}-${j}`, value, required, checked: initial === value });
        input.addEventListener('change', () => store(value));
        return el('label', { class: 'radio', for: `${id}-${j}` }, input, ` ${r && r.label != null ? r.label : value}`);
      });
      return el('fieldset', { class: 'q likert', 'data-name': name }, el('legend', {}, label), ...options);
    }
    let input;
    if (q.type === 'long_text') {
      input = el('textarea', { id, name: id, rows: 4, required });
      input.value = initial;
    } else if (q.type === 'number') {
      input = el('input', { type: 'number', id, name: id, required, min: q.min, max: q.max, step: q.step || 'any', value: initial });
    } else {
      input = el('input', { type: 'text', id, name: id, required, value: initial, autocomplete: 'off' });
    }
    input.addEventListener('input', () => store(input.value));
    store(initial);
    return el('div', { class: 'q', 'data-name': name }, el('label', { for: id }, label), input);
  }

  function resultsTable(trials) {
    if (!trials.length) return null;
    return el('div', { class: 'results' }, el('h3', {}, 'Your ratings'), ...trials.map((t) => el('table', {},
      el('caption', {}, t.name || t.id),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Condition'), el('th', { scope: 'col' }, 'Score'))),
      el('tbody', {}, ...t.labels.slice().sort((a, b) => t.ratings[b] - t.ratings[a])
        .map((l) => el('tr', {}, el('td', {}, l), el('td', {}, String(t.ratings[l]))))))));
  }

  function renderFinish(page) {
    const items = questionnaireItems(page);
    const trials = collectTrials();
    if (app.state.submitted) {
      const body = el('div', { class: 'finish' },
        el('p', { class: 'msg success', id: 'submit-ok' }, page.popupContent || page.popupcontent || 'Your results were sent. Thank you for taking part!'),
        page.showResults === true ? resultsTable(trials) : null);
      frame(page, body, navBar({
        allowPrev: false,
        extra: [el('button', { type: 'button', class: 'btn secondary', id: 'btn-new-session', onclick: restart }, 'Start a new session (next listener)')],
      }));
      return { dispose() {}, onKey() {} };
    }
    const form = el('form', { class: 'questionnaire', novalidate: true }, ...items.map(questionField));
    const sendBtn = el('button', { type: 'submit', class: 'btn primary', id: 'btn-submit' }, 'Send results');
    form.append(el('div', { class: 'form-actions' }, sendBtn));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!form.checkValidity()) {
        message('Please answer every question that is not marked optional.');
        form.reportValidity();
        return;
      }
      if (page.writeResults === false) {
        message('This test is configured not to send results (writeResults: false).', 'warning');
        return;
      }
      const payload = Core.buildPayload({
        testId: app.config.testId,
        uuid: app.state.uuid,
        configName: app.configName,
        answers: items.map((q) => ({ name: q.name, value: app.state.answers[String(q.name)] })),
        trials,
      });
      sendBtn.disabled = true;
      sendBtn.textContent = 'Sending…';
      message('');
      try {
        const url = new URL(String(app.config.remoteService), document.baseURI).href;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: Core.encodeBody(payload),
        });
        const text = await res.text();
        if (res.status !== 200 || text.trim() !== '') {
          throw new Error(`the server answered HTTP ${res.status}${text.trim() ? `: ${text.trim().slice(0, 300)}` : ''}`);
        }
        stopClock();
        app.state.submitted = true;
        saveState();
        render();
      } catch (err) {
        sendBtn.disabled = false;
        sendBtn.textContent = 'Try sending again';
        message(`Your results could not be sent (${err.message}). Nothing is lost: they are kept in this browser. `
          + 'Check the connection and press “Try sending again”.');
      }
    });
    frame(page, el('div', { class: 'finish' },
      trials.length ? null : el('p', { class: 'msg warning' }, 'No rated MUSHRA page to send.'), form),
    navBar({}));
    return { dispose() {}, onKey() {} };
  }

  function restart() {
    stopClock();
    if (app.view) app.view.dispose();
    app.view = null;
    try { localStorage.removeItem(app.storageKey); } catch (err) { /* nothing to remove */ }
    startSession(newState());
  }

  // ---------------------------------------------------------------------------------------------
  // start-up

  function startSession(state) {
    app.state = state;
    // Page order is fixed by the session id, so a reload (same state) shows the same order.
    app.pages = Core.expandPages(app.config.pages, Core.makeRng(`${state.uuid}|pages`));
    if (!app.pages.length) throw new Error('the test configuration has no pages');
    // Without a finish page nothing would ever be sent: add a plain one.
    if (!app.pages.some((p) => p.type === 'finish')) {
      app.pages.push({ type: 'finish', name: 'Thank you', content: 'Please send your results.', writeResults: true });
    }
    app.state.pageIndex = Math.max(0, Math.min(app.pages.length - 1, app.state.pageIndex | 0));
    if (app.master && state.volume != null) app.master.gain.value = state.volume;
    saveState();
    render();
  }

  function showFatal(text) {
    const main = $('#page');
    main.replaceChildren(el('div', { class: 'msg error', role: 'alert' }, text,
      ' ', el('button', { type: 'button', class: 'btn secondary', onclick: () => location.reload() }, 'Reload')));
  }

  async function main() {
    const params = new URLSearchParams(location.search);
    const cfgUrl = `api/config${params.get('config') ? `?config=${encodeURIComponent(params.get('config'))}` : ''}`;
    let cfg;
    try {
      const res = await fetch(cfgUrl, { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
      cfg = await res.json();
      if (!cfg || !Array.isArray(cfg.pages)) throw new Error('it has no list of pages');
    } catch (err) {
      showFatal(`The test configuration could not be loaded (${err.message}).`);
      return;
    }
    app.config = cfg;
    app.configName = String(cfg.configFile || params.get('config') || new URL(cfgUrl, document.baseURI).pathname);
    document.title = cfg.testname ? `${cfg.testname} – listening test` : 'Listening test';
    if (cfg.language) document.documentElement.lang = String(cfg.language);
    $('#test-name').textContent = cfg.testname || 'Listening test';
    // One saved session per test and config version: an edited config starts afresh.
    app.storageKey = `vocoder-bench-mushra:${cfg.testId}:${Core.hashString(JSON.stringify(cfg)).toString(16)}`;
    const saved = loadState();
    try {
      startSession(saved || newState());
    } catch (err) {
      showFatal(`The test cannot start: ${err.message}.`);
      return;
    }
    if (saved && !saved.submitted && saved.pageIndex > 0) {
      const banner = el('p', { class: 'msg info', id: 'resumed' }, 'Welcome back: your earlier progress was restored. ',
        el('button', { type: 'button', class: 'btn link', onclick: () => { if (window.confirm('Discard your progress and start again?')) restart(); banner.remove(); } }, 'Start over'));
      $('#page').prepend(banner);
    }
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.repeat) { if (e.key === ' ' && !isTextTarget(e.target)) e.preventDefault(); return; }
      if (app.view && app.view.onKey) app.view.onKey(e);
    });
    // Space is play/pause on audio pages: keep it from also "clicking" the focused button (done on keyup).
    document.addEventListener('keyup', (e) => {
      if (e.key === ' ' && app.view && app.view.usesSpace && !isTextTarget(e.target)) e.preventDefault();
    });
    document.addEventListener('visibilitychange', () => {
      if (!app.clock) return;
      if (document.visibilityState === 'hidden') { flushClock(); app.clock.hidden = true; }
      else { app.clock.hidden = false; app.clock.since = performance.now(); }
    });
    window.addEventListener('pagehide', flushClock);
    setInterval(() => { if (app.clock && document.visibilityState === 'visible') flushClock(); }, 5000);
  }

  window.mushraApp = Object.freeze({
    /** Current page's condition order (labels) — used by the end-to-end test; also visible in localStorage. */
    currentOrder: () => (app.view && app.view.debugOrder ? app.view.debugOrder() : null),
    state: () => JSON.parse(JSON.stringify(app.state)),
    audioContext: () => app.ctx,
    /** Linear gain applied to all playback (set on the volume page). */
    volume: () => (app.master ? app.master.gain.value : null),
  });

  main();
})();
