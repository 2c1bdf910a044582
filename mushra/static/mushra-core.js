/*
 * Pure logic of the vocoder-bench MUSHRA page: no DOM, no audio context.
 * Seeded shuffling, page expansion, condition lists, validation, payload building and the anchor low-pass.
 * Exposed as `window.MushraCore` (and `module.exports` where that exists) so it can be tested on its own.
 */
(function (root) {
  'use strict';

  const HIDDEN_REFERENCE = 'reference';
  /** Generated anchors (ITU-R BS.1534-3): label -> low-pass cut-off in Hz. */
  const ANCHORS = Object.freeze({ anchor35: 3500, anchor70: 7000 });
  /** The five labelled intervals of the continuous quality scale, best first: [label, lower bound]. */
  const SCALE = Object.freeze([
    ['Excellent', 80], ['Good', 60], ['Fair', 40], ['Poor', 20], ['Bad', 0],
  ]);

  /** 32-bit FNV-1a hash of a string (a stable seed from a session id and a page id). */
  function hashString(text) {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i += 1) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
  }

  /** Small seeded PRNG (mulberry32): returns a function giving floats in [0, 1). */
  function makeRng(seed) {
    let a = (typeof seed === 'string' ? hashString(seed) : seed) >>> 0;
    return function next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Fisher-Yates shuffle into a new array. */
  function shuffle(items, rng) {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rng() * (i + 1));
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  /**
   * Flatten webMUSHRA's `pages` list. A nested list whose first element is "random" has the rest of its
   * elements shuffled (each element is one unit: a page or a nested list kept together); other nested lists
   * are kept in order. Returns page objects in presentation order.
   */
  function expandPages(pages, rng) {
    const out = [];
    (function walk(items) {
      let units = items;
      if (units.length > 0 && units[0] === 'random') units = shuffle(units.slice(1), rng);
      for (const unit of units) {
        if (Array.isArray(unit)) walk(unit);
        else if (unit && typeof unit === 'object') out.push(unit);
        // Anything else (a stray string, null) is not a page: ignored, as webMUSHRA does.
      }
    })(Array.isArray(pages) ? pages : []);
    return out;
  }

  /** A key unique to a page in the expanded list (ids may be missing on generic/finish pages). */
  function pageKey(page, index) {
    return `${index}:${page.type || 'page'}:${page.id == null ? '' : page.id}`;
  }

  /**
   * The conditions a listener rates on a mushra page, in config order:
   * [{label, url}] for each stimulus, the hidden reference, then the generated anchors ({label, cutoffHz}).
   * A stimulus already labelled "reference"/"anchor35"/"anchor70" is not duplicated.
   */
  function pageConditions(page) {
    const out = [];
    const seen = new Set();
    const stimuli = page.stimuli && typeof page.stimuli === 'object' ? page.stimuli : {};
    for (const [label, url] of Object.entries(stimuli)) {
      if (seen.has(String(label))) continue;
      seen.add(String(label));
      out.push({ label: String(label), url: String(url) });
    }
    if (!seen.has(HIDDEN_REFERENCE)) {
      seen.add(HIDDEN_REFERENCE);
      out.push({ label: HIDDEN_REFERENCE, url: String(page.reference) });
    }
    for (const [label, cutoff] of Object.entries(ANCHORS)) {
      const flag = label === 'anchor35' ? page.createAnchor35 : page.createAnchor70;
      if (flag === true && !seen.has(label)) {
        seen.add(label);
        out.push({ label, cutoffHz: cutoff });
      }
    }
    return out;
  }

  /** Condition labels in presentation order: shuffled per session and page unless `randomize: false`. */
  function conditionOrder(page, sessionSeed) {
    const labels = pageConditions(page).map((c) => c.label);
    if (page.randomize === false) return labels;
    return shuffle(labels, makeRng(`${sessionSeed}|${page.id}|conditions`));
  }

  /** Interval label of a 0-100 score (80-100 Excellent ... 0-20 Bad). */
  /**
   * The label shown for a questionnaire item: its label (or name), with " (optional)" added for an optional item
   * unless the label already says so (configs often write "Comments (optional)" themselves).
   */
  function questionLabel(q) {
    const label = String(q.label != null ? q.label : q.name);
    if (q.optional !== true || /\boptional\b/i.test(label)) return label;
    return `${label} (optional)`;
  }

  /**
   * Waveform column heights in 0..1: peaks divided by their maximum, so quiet material (speech at -26 dBFS)
   * fills the canvas instead of drawing a thin strip. All-zero input stays zero.
   */
  function normalisePeaks(peaks) {
    let max = 0;
    for (const v of peaks) if (v > max) max = v;
    const out = new Float32Array(peaks.length);
    if (max > 0) for (let i = 0; i < peaks.length; i += 1) out[i] = peaks[i] / max;
    return out;
  }

  /**
   * 1-based numbers of the columns not fully inside a scrolled box: spans are [{left, right}] in the box's
   * content coordinates, the visible part is [scrollLeft, scrollLeft + clientWidth]. Used for the scroll hint.
   */
  function hiddenColumns(spans, scrollLeft, clientWidth) {
    const out = [];
    spans.forEach((s, i) => {
      if (s.left < scrollLeft - 1 || s.right > scrollLeft + clientWidth + 1) out.push(i + 1);
    });
    return out;
  }

  function scaleLabel(score) {
    for (const [label, lower] of SCALE) if (score >= lower) return label;
    return 'Bad';
  }

  /**
   * What keeps a listener on a mushra page.
   * `ratings`: {label: number}, `played`: {label: true}; returns lists of labels, and whether some
   * condition got 100 (BS.1534-3 asks listeners to find the hidden reference; a soft check only).
   */
  function pageCompletion(labels, ratings, played) {
    const unplayed = labels.filter((l) => !played[l]);
    const unrated = labels.filter((l) => typeof ratings[l] !== 'number');
    const hasMax = labels.some((l) => ratings[l] === 100);
    return { unplayed, unrated, hasMax, complete: unplayed.length === 0 && unrated.length === 0 };
  }

  /** Score as webMUSHRA's front-end sends it: a string of digits. */
  function scoreString(score) {
    return String(Math.max(0, Math.min(100, Math.round(Number(score)))));
  }

  /**
   * The result document POSTed to the remote service (webMUSHRA's format).
   * trials: [{id, labels, ratings: {label: n}, comments: {label: s}, timeMs}] (only mushra pages);
   * answers: [{name, value}] from the questionnaire.
   */
  function buildPayload({ testId, uuid, configName, answers, trials }) {
    return {
      testId: String(testId),
      participant: {
        name: answers.map((a) => String(a.name)),
        response: answers.map((a) => (a.value == null ? '' : String(a.value))),
      },
      trials: trials.map((t) => ({
        id: String(t.id),
        type: 'mushra',
        responses: t.labels.map((label) => ({
          stimulus: label,
          score: scoreString(t.ratings[label]),
          comment: t.comments && t.comments[label] ? String(t.comments[label]) : null,
          time: Math.max(0, Math.round(t.timeMs || 0)),
        })),
      })),
      uuid: String(uuid),
      config: String(configName),
    };
  }

  /** The request body: "sessionJSON=" + JSON text, NOT url-encoded (the server parses the raw body). */
  function encodeBody(payload) {
    return `sessionJSON=${JSON.stringify(payload)}`;
  }

  /** A random RFC 4122 version-4 UUID from a crypto object (window.crypto). */
  function uuidV4(cryptoObj) {
    if (cryptoObj && typeof cryptoObj.randomUUID === 'function') return cryptoObj.randomUUID();
    const b = new Uint8Array(16);
    cryptoObj.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /**
   * Q of each second-order section of an even-order Butterworth low-pass (poles on the unit circle at
   * angles (2k-1)pi/(2n)): Q_k = 1 / (2 cos((2k-1) pi / (2n))).
   */
  function butterworthQs(order) {
    const qs = [];
    for (let k = 1; k <= order / 2; k += 1) qs.push(1 / (2 * Math.cos(((2 * k - 1) * Math.PI) / (2 * order))));
    return qs;
  }

  /**
   * Low-pass one channel in place with an 8th-order Butterworth (four biquads, -3 dB at `cutoffHz`,
   * 48 dB/octave): the anchors of BS.1534-3. Double-precision state; coefficients from the bilinear
   * transform with the cut-off pre-warped. Cut-offs at or above 0.45 * fs are clamped there.
   * samples: Float32Array [T]; sampleRate in Hz.
   */
  function lowpassInPlace(samples, sampleRate, cutoffHz, order = 8) {
    const fc = Math.min(cutoffHz, 0.45 * sampleRate);
    const w0 = (2 * Math.PI * fc) / sampleRate;
    const cosw = Math.cos(w0);
    const sinw = Math.sin(w0);
    for (const q of butterworthQs(order)) {
      const alpha = sinw / (2 * q);
      const a0 = 1 + alpha;
      const b0 = (1 - cosw) / 2 / a0;
      const b1 = (1 - cosw) / a0;
      const b2 = b0;
      const a1 = (-2 * cosw) / a0;
      const a2 = (1 - alpha) / a0;
      let x1 = 0; let x2 = 0; let y1 = 0; let y2 = 0;
      for (let i = 0; i < samples.length; i += 1) {
        const x = samples[i];
        const y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
        x2 = x1; x1 = x; y2 = y1; y1 = y;
        samples[i] = y;
      }
    }
    return samples;
  }

  /** Loop region clamped into [0, duration] with a minimum length; null when too short to loop. */
  function clampRegion(start, end, duration, minLength = 0.05) {
    let a = Math.max(0, Math.min(start, end));
    let b = Math.min(duration, Math.max(start, end));
    if (!(b - a >= minLength)) return null;
    a = Math.max(0, a);
    b = Math.min(duration, b);
    return { start: a, end: b };
  }

  /**
   * Position (s) of a looping or non-looping playback `elapsed` seconds after it started at `offset`.
   * With a loop, playback runs from `offset` (inside the region) to region.end and wraps to region.start;
   * without one it ends at `duration` (returns null once finished).
   */
  function playbackPosition(offset, elapsed, duration, region) {
    const p = offset + Math.max(0, elapsed);
    if (region) {
      if (p < region.end) return p;
      const len = region.end - region.start;
      return region.start + ((p - region.start) % len);
    }
    return p < duration ? p : null;
  }

  const api = {
    HIDDEN_REFERENCE, ANCHORS, SCALE,
    hashString, makeRng, shuffle, expandPages, pageKey, pageConditions, conditionOrder, scaleLabel,
    questionLabel, normalisePeaks, hiddenColumns,
    pageCompletion, scoreString, buildPayload, encodeBody, uuidV4, butterworthQs, lowpassInPlace,
    clampRegion, playbackPosition,
  };
  root.MushraCore = Object.freeze(api);
  if (typeof module === 'object' && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : globalThis);
