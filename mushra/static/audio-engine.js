/*
 * Sample-synchronous multi-stimulus player on the Web Audio API (window.MushraAudio).
 *
 * Every condition of a page is decoded (decodeAudioData resamples to the context's own rate, whatever the
 * device uses), copied into a stereo buffer (mono goes to BOTH channels) padded to a common length, and all of
 * them are started at the same context time with the same offset. Only the active one is audible; switching
 * is a ~5 ms gain crossfade, so the playback position is kept to the sample.
 */
(function (root) {
  'use strict';

  const Core = root.MushraCore;
  const FADE_S = 0.005;      // crossfade between conditions (s)
  const START_DELAY_S = 0.03; // schedule starts a little ahead so every source begins on the same frame

  class AudioLoadError extends Error {}

  /** Fetch and decode one file; errors name the URL and the HTTP status. */
  async function fetchDecode(ctx, url, signal) {
    let res;
    try {
      res = await fetch(url, { signal });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new AudioLoadError(`could not download ${url} (${err.message})`);
    }
    if (!res.ok) throw new AudioLoadError(`could not download ${url} (HTTP ${res.status})`);
    const bytes = await res.arrayBuffer();
    if (bytes.byteLength === 0) throw new AudioLoadError(`${url} is empty`);
    try {
      return await ctx.decodeAudioData(bytes);
    } catch (err) {
      throw new AudioLoadError(`${url} is not a playable audio file (${err && err.message ? err.message : err})`);
    }
  }

  /** A 2-channel copy of `buffer` with `length` frames (zero-padded); mono is copied to both channels. */
  function toStereo(ctx, buffer, length) {
    const out = ctx.createBuffer(2, Math.max(1, length), buffer.sampleRate);
    const n = Math.min(buffer.length, length);
    const left = buffer.getChannelData(0).subarray(0, n);
    const right = buffer.numberOfChannels > 1 ? buffer.getChannelData(1).subarray(0, n) : left;
    out.copyToChannel(left, 0);
    out.copyToChannel(right, 1);
    return out;
  }

  /** A stereo copy of `buffer` low-passed at `cutoffHz` (anchor generation; pure JS, double precision). */
  function lowpassed(ctx, buffer, cutoffHz) {
    const out = ctx.createBuffer(2, buffer.length, buffer.sampleRate);
    for (let ch = 0; ch < 2; ch += 1) {
      const data = new Float32Array(buffer.getChannelData(Math.min(ch, buffer.numberOfChannels - 1)));
      Core.lowpassInPlace(data, buffer.sampleRate, cutoffHz);
      out.copyToChannel(data, ch);
    }
    return out;
  }

  /** Peak (max |x| over channels) per column: Float32Array [columns], for drawing a waveform. */
  function peaks(buffer, columns) {
    const out = new Float32Array(columns);
    const chans = [];
    for (let ch = 0; ch < buffer.numberOfChannels; ch += 1) chans.push(buffer.getChannelData(ch));
    const per = buffer.length / columns;
    for (let c = 0; c < columns; c += 1) {
      const a = Math.floor(c * per);
      const b = Math.max(a + 1, Math.floor((c + 1) * per));
      let m = 0;
      for (const d of chans) for (let i = a; i < b && i < d.length; i += 1) { const v = Math.abs(d[i]); if (v > m) m = v; }
      out[c] = m;
    }
    return out;
  }

  class Player {
    /** ctx: AudioContext; output: the node to play into (the master volume). */
    constructor(ctx, output) {
      this.ctx = ctx;
      this.output = output;
      this.buffers = new Map(); // key -> stereo AudioBuffer, all of the same length
      this.duration = 0;
      this.active = null;
      this.voices = null;       // {key: {src, gain}} while playing
      this.playing = false;
      this.startCtx = 0;
      this.startOffset = 0;
      this.pausedAt = 0;
      this.loopOn = false;
      this.region = null;       // {start, end} in s or null (= whole file)
      this.restartOnSwitch = false; // webMUSHRA's switchBack: switching jumps back to the loop start
      this.onstate = null;      // callback() on play/stop/switch/end
    }

    /** entries: [[key, AudioBuffer]]; pads all to the longest so loops stay aligned. */
    setBuffers(entries) {
      this.stop();
      const length = Math.max(1, ...entries.map(([, b]) => b.length));
      this.buffers = new Map(entries.map(([k, b]) => [k, toStereo(this.ctx, b, length)]));
      this.duration = length / this.ctx.sampleRate;
      this.pausedAt = 0;
      this.region = null;
    }

    /** The loop actually applied, or null when not looping. */
    loopRegion() {
      if (!this.loopOn) return null;
      return this.region || { start: 0, end: this.duration };
    }

    position() {
      if (!this.playing) return this.pausedAt;
      const p = Core.playbackPosition(this.startOffset, this.ctx.currentTime - this.startCtx, this.duration, this.loopRegion());
      return p == null ? this.duration : p;
    }

    _startVoices(offset) {
      const loop = this.loopRegion();
      if (loop && (offset < loop.start || offset >= loop.end)) offset = loop.start;
      if (!loop && offset >= this.duration) offset = 0;
      const t0 = this.ctx.currentTime + START_DELAY_S;
      const voices = {};
      for (const [key, buffer] of this.buffers) {
        const src = this.ctx.createBufferSource();
        src.buffer = buffer;
        if (loop) {
          src.loop = true;
          src.loopStart = loop.start;
          src.loopEnd = loop.end;
        }
        const gain = this.ctx.createGain();
        gain.gain.value = key === this.active ? 1 : 0;
        src.connect(gain).connect(this.output);
        src.start(t0, offset);
        voices[key] = { src, gain };
      }
      // All buffers have the same length, so any one source tells when playback has reached the end.
      const any = Object.values(voices)[0];
      if (any && !loop) {
        any.src.onended = () => {
          if (this.voices === voices) { this._teardown(0); this.pausedAt = 0; this._notify('ended'); }
        };
      }
      this.voices = voices;
      this.startCtx = t0;
      this.startOffset = offset;
      this.playing = true;
    }

    _teardown(fade) {
      if (!this.voices) return;
      const now = this.ctx.currentTime;
      for (const { src, gain } of Object.values(this.voices)) {
        src.onended = null;
        gain.gain.cancelScheduledValues(now);
        gain.gain.setValueAtTime(gain.gain.value, now);
        gain.gain.linearRampToValueAtTime(0, now + fade);
        try { src.stop(now + fade + 0.001); } catch (err) { /* already stopped */ }
      }
      this.voices = null;
      this.playing = false;
    }

    _notify(what) { if (this.onstate) this.onstate(what); }

    /** Play `key` (or switch to it while playing, keeping the position). */
    play(key) {
      if (!this.buffers.has(key)) throw new Error(`no audio for ${key}`);
      if (this.playing && this.voices) {
        if (key === this.active) return;
        if (this.restartOnSwitch) {
          const loop = this.loopRegion();
          this._teardown(FADE_S);
          this.active = key;
          this._startVoices(loop ? loop.start : 0);
        } else {
          const now = this.ctx.currentTime;
          for (const [k, { gain }] of Object.entries(this.voices)) {
            gain.gain.cancelScheduledValues(now);
            gain.gain.setValueAtTime(gain.gain.value, now);
            gain.gain.linearRampToValueAtTime(k === key ? 1 : 0, now + FADE_S);
          }
          this.active = key;
        }
      } else {
        this.active = key;
        this._startVoices(this.pausedAt);
      }
      this._notify('play');
    }

    /** Pause, keeping the position. */
    pause() {
      if (!this.playing) return;
      this.pausedAt = this.position();
      this._teardown(FADE_S);
      this._notify('pause');
    }

    /** Stop and rewind to the loop start (or the beginning). */
    stop() {
      const loop = this.loopRegion();
      if (this.playing) this._teardown(FADE_S);
      this.pausedAt = loop ? loop.start : 0;
      this._notify('stop');
    }

    /** Jump to `t` seconds (keeps playing if playing). */
    seek(t) {
      const pos = Math.max(0, Math.min(this.duration, t));
      if (this.playing) {
        this._teardown(FADE_S);
        this._startVoices(pos);
        this._notify('play');
      } else {
        this.pausedAt = pos >= this.duration ? 0 : pos;
        this._notify('seek');
      }
    }

    /** Change looping; a running playback restarts inside the new loop (never past the end of the file). */
    setLoop(on, region) {
      const pos = this.position();
      this.loopOn = !!on;
      if (region !== undefined) this.region = region ? Core.clampRegion(region.start, region.end, this.duration) : null;
      const loop = this.loopRegion();
      if (this.playing) {
        this._teardown(FADE_S);
        this._startVoices(loop && (pos < loop.start || pos >= loop.end) ? loop.start : pos);
      } else if (loop && (this.pausedAt < loop.start || this.pausedAt >= loop.end)) {
        this.pausedAt = loop.start;
      }
      this._notify('loop');
    }

    /** Silence everything and forget the buffers (leaving a page). */
    dispose() {
      this._teardown(0);
      this.buffers = new Map();
      this.onstate = null;
    }
  }

  root.MushraAudio = Object.freeze({ Player, AudioLoadError, fetchDecode, toStereo, lowpassed, peaks });
})(window);
