// One master clock for the whole record, and the media elements that follow it. Each file
// began at its own moment (its offset since the record began) and lasts its own time; the
// clock says where in the record we are, and every element is put where its file is then,
// played, paused or left silent accordingly.

/** Speeds offered, as people read them. */
export const SPEEDS = [0.5, 1, 1.5, 2];

/** How far (s) a playing element may drift from the clock before it is put back. */
const DRIFT = 0.3;

/** How long (ms) a stalled element may hold the clock before the others go on without it. */
const STALL_MAX = 8000;

export class Clock {
  /** @param {number} duration seconds */
  constructor(duration) {
    this.duration = duration;
    this.playing = false;
    this.rate = 1;
    /** record time at the anchor */
    this.base = 0;
    /** performance.now() at the anchor */
    this.anchor = performance.now();
    /** waiting for media: time stands still while playing */
    this.stalled = false;
    /** @type {Set<() => void>} */
    this.listeners = new Set();
  }

  /** @returns {number} seconds since the record began */
  now() {
    if (!this.playing || this.stalled) return this.base;
    const t = this.base + ((performance.now() - this.anchor) / 1000) * this.rate;
    return Math.min(t, this.duration);
  }

  /** Re-anchors at the current time (before a change of rate or state). */
  mark() {
    this.base = this.now();
    this.anchor = performance.now();
  }

  /** @param {number} t */
  seek(t) {
    this.base = Math.max(0, Math.min(t, this.duration));
    this.anchor = performance.now();
    this.changed();
  }

  play() {
    if (this.playing) return;
    if (this.now() >= this.duration - 0.05) this.base = 0; // from the start again
    this.anchor = performance.now();
    this.playing = true;
    this.changed();
  }

  pause() {
    if (!this.playing) return;
    this.mark();
    this.playing = false;
    this.changed();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  /** @param {number} rate */
  setRate(rate) {
    this.mark();
    this.rate = rate;
    this.changed();
  }

  /**
   * Holds or releases time while media load. Listeners are not told: Sync, which calls this,
   * pauses and resumes its elements on its next tick, within its drift tolerance (a forced
   * re-seek of every element here would make them wait for data again).
   * @param {boolean} on
   */
  setStalled(on) {
    if (on === this.stalled) return;
    this.mark();
    this.stalled = on;
  }

  /** @param {() => void} fn */
  onChange(fn) {
    this.listeners.add(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }
}

/**
 * @typedef {Object} Follower
 * @property {HTMLMediaElement} el
 * @property {number} offset when its file begins, in record time
 * @property {number} duration how long its file lasts
 * @property {(t: number) => number} volume its volume at record time t (0 silences it)
 * @property {(active: boolean) => void} [shown] told when it comes into or goes out of its span
 * @property {boolean} [ready] its source is set
 * @property {number} [end] where its data end, once it has played to there: a file's media
 *   can stop short of the span the log gives it (a sender that went silent sends nothing)
 * @property {boolean} [active]
 * @property {number} [stallSince] performance.now() when it began to hold the clock
 */

/** Keeps media elements on the clock. */
export class Sync {
  /** @param {Clock} clock */
  constructor(clock) {
    this.clock = clock;
    /** @type {Follower[]} */
    this.followers = [];
    this.muted = false;
    this.timer = 0;
    clock.onChange(() => this.tick(true));
  }

  /** @param {Follower} f */
  add(f) {
    f.active = false;
    this.followers.push(f);
    f.el.preload = 'auto';
    // An end well before the file's span in the log may be the connection's, not the file's:
    // load it again once there before believing it.
    let doubted = -1;
    f.el.addEventListener('ended', () => {
      const at = f.el.currentTime;
      if (at <= 0) return;
      if (f.duration - at > 1 && Math.abs(doubted - at) > 0.5) {
        doubted = at;
        const src = f.el.src;
        f.el.src = src;
        f.el.load();
        return;
      }
      f.end = at;
    });
  }

  start() {
    if (!this.timer) this.timer = window.setInterval(() => this.tick(false), 200);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    for (const f of this.followers) f.el.pause();
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    this.tick(false);
  }

  /**
   * Puts every element where the clock is.
   * @param {boolean} jumped the clock was moved (seek, play, pause, rate): set positions exactly
   */
  tick(jumped) {
    const c = this.clock;
    const t = c.now();
    let waiting = false;
    const now = performance.now();
    for (const f of this.followers) {
      const local = t - f.offset;
      const active = !!f.ready && local >= 0 && local < Math.min(f.duration, f.end ?? Infinity);
      if (active !== f.active) {
        f.active = active;
        if (f.shown) f.shown(active);
      }
      if (!active) {
        if (!f.el.paused) f.el.pause();
        f.stallSince = undefined;
        continue;
      }
      const vol = this.muted ? 0 : Math.max(0, Math.min(1, f.volume(t)));
      if (f.el.volume !== vol) f.el.volume = vol;
      if (f.el.playbackRate !== c.rate) f.el.playbackRate = c.rate;
      const off = Math.abs(f.el.currentTime - local);
      if (jumped ? off > 0.04 : off > DRIFT) f.el.currentTime = local;
      // While the clock waits for one element, the others wait with it.
      const run = c.playing && !c.stalled;
      if (run && f.el.paused) f.el.play().catch(() => {});
      if (!run && !f.el.paused) f.el.pause();
      // A playing element without data ahead holds the clock, so that it does not fall
      // behind and be put back again and again; one that never catches up stops holding it.
      if (c.playing && !f.el.ended && f.el.readyState < HTMLMediaElement.HAVE_FUTURE_DATA && local < f.duration - 0.5) {
        f.stallSince ??= now;
        if (now - f.stallSince < STALL_MAX) waiting = true;
      } else {
        f.stallSince = undefined;
      }
    }
    if (c.playing && c.now() >= c.duration) c.pause();
    if (!jumped) c.setStalled(waiting && c.playing);
  }
}
