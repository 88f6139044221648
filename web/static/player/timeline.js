// The timeline: a lane per participant (present, speaking, muted, interpreting, their chat,
// channel switches and countersignatures) and one for the record itself (start and stop,
// the server's checkpoints, the end marker). Everything on it is a way to seek there.

import { clock } from './model.js';

/**
 * @typedef {import('./model.js').Model} Model
 * @typedef {import('./model.js').TimelineEvent} TimelineEvent
 */

/** The colours of participants, by order of appearance (readable on the dark surfaces). */
export const COLOURS = ['#7c9cff', '#3dd68c', '#f5b94c', '#e879c6', '#4cc9f5', '#ff8f6b', '#b69cff', '#9bd35a'];

/** @param {number} i */
export const colour = (i) => COLOURS[i % COLOURS.length];

/** Event types drawn as markers, and the mark each gets. */
const MARKS = /** @type {Record<string, string>} */ ({
  join: 'join', leave: 'leave', reconnecting: 'leave', chat: 'chat', mute: 'mute', listen: 'channel', interpret: 'channel',
  'recording-start': 'rec', 'recording-stop': 'rec', 'record-start': 'rec', 'record-stop': 'rec', 'record-end': 'end',
  settings: 'other', grants: 'other', 'viewer-start': 'other', 'viewer-stop': 'other', checkpoint: 'tick', countersign: 'sign', key: 'sign',
});

/** The legend's entries: a mark and what it means. */
const LEGEND = [['speaking', 'Speaking'], ['floor', 'Holds the floor'], ['muted', 'Microphone muted'], ['chat', 'Chat'], ['join', 'Joins, leaves'], ['channel', 'Channel switch'],
  ['sign', 'Countersignature'], ['tick', 'Server checkpoint'], ['attested', 'Attested by them']];

/**
 * @param {number} duration
 * @returns {number} a step between ruler ticks that gives about six of them
 */
function tickStep(duration) {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (duration / s <= 7) return s;
  return 14400;
}

/**
 * @param {string} tag
 * @param {string} cls
 * @param {string} [text]
 */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

export class Timeline {
  /**
   * @param {HTMLElement} root
   * @param {HTMLElement} legend
   * @param {Model} model
   * @param {(t: number) => void} seek
   */
  constructor(root, legend, model, seek) {
    this.root = root;
    this.model = model;
    this.seek = seek;
    /** @type {Map<string, HTMLElement>} identity ('' for the record) -> lane track */
    this.tracks = new Map();
    /** @type {HTMLElement[]} */
    this.heads = [];
    this.lastAria = -1;
    for (const [kind, text] of LEGEND) {
      if (kind === 'floor' && model.speakingSource !== 'transcript') continue;
      const item = el('span', 'pl-legend-item');
      item.append(el('span', `pl-legend-mark tl-mark-${kind}`), el('span', '', text));
      legend.append(item);
    }
    this.render();
  }

  /** @param {number} t */
  pct(t) {
    return `${(Math.max(0, Math.min(t, this.model.duration)) / this.model.duration) * 100}%`;
  }

  render() {
    const m = this.model;
    this.root.replaceChildren();
    // The ruler is also the timeline's slider for the keyboard and screen readers.
    const ruler = this.row('', 'tl-ruler');
    const scrub = ruler.track;
    scrub.setAttribute('role', 'slider');
    scrub.tabIndex = 0;
    scrub.setAttribute('aria-label', 'Position in the record');
    scrub.setAttribute('aria-valuemin', '0');
    scrub.setAttribute('aria-valuemax', String(Math.round(m.duration)));
    this.scrub = scrub;
    const step = tickStep(m.duration);
    // The last label must fit inside the lane.
    for (let t = 0; t <= m.duration * 0.92 || t === 0; t += step) {
      const tick = el('span', 'tl-tick', clock(t));
      tick.style.left = this.pct(t);
      scrub.append(tick);
    }

    for (const p of m.people) {
      const lane = this.row(p.name, 'tl-person', colour(p.index), p.interpreter ? `${p.name}, interpreter` : p.name);
      const tr = lane.track;
      tr.style.setProperty('--who', colour(p.index));
      this.tracks.set(p.identity, tr);
      for (const s of p.present) this.band(tr, 'tl-present', s.from, s.to);
      for (const s of p.muted) this.band(tr, 'tl-muted', s.from, s.to, `${p.name}’s microphone muted, ${clock(s.from)}–${clock(s.to)}`);
      for (const s of m.interpreting.filter((x) => x.identity === p.identity)) {
        const b = this.band(tr, 'tl-air', s.from, s.to, `${p.name} interprets into ${s.channel.toUpperCase()}, ${clock(s.from)}–${clock(s.to)}`);
        b.textContent = s.channel.toUpperCase();
      }
      if (m.speakingSource === 'transcript') {
        for (const s of p.floor) this.band(tr, 'tl-floor', s.from, s.to, `${p.name} holds the floor, ${clock(s.from)}–${clock(s.to)}`, true);
      }
      for (const s of p.speaking) {
        const what = s.channel === 'floor' ? '' : ` into ${s.channel.toUpperCase()}`;
        this.band(tr, 'tl-speak', s.from, s.to, `${p.name} speaks${what}, ${clock(s.from)}–${clock(s.to)}`, true);
      }
    }
    const rec = this.row('Record', 'tl-record');
    this.tracks.set('', rec.track);

    // Markers; dense bookkeeping is thinned to what can be told apart on screen.
    /** @type {Map<string, number>} */
    const lastMinor = new Map();
    const gap = m.duration / 400;
    for (const e of m.events) {
      const mark = MARKS[e.type];
      if (!mark) continue;
      const tr = this.tracks.get(e.lane) || this.tracks.get('');
      if (!tr) continue;
      if (e.minor) {
        const key = e.lane + mark;
        const prev = lastMinor.get(key);
        if (prev !== undefined && e.t - prev < gap) continue;
        lastMinor.set(key, e.t);
      }
      const b = /** @type {HTMLButtonElement} */ (el('button', `tl-ev tl-mark-${mark}`));
      b.type = 'button';
      b.style.left = this.pct(e.t);
      const label = `${clock(e.t)} ${e.label}`;
      b.setAttribute('aria-label', label);
      b.title = label;
      b.dataset.t = String(e.t);
      b.dataset.seq = String(e.seq);
      b.dataset.type = e.type;
      if (e.minor) b.tabIndex = -1;
      tr.append(b);
    }

    const head = el('div', 'tl-headlayer');
    head.setAttribute('aria-hidden', 'true');
    const line = el('div', 'tl-playhead');
    head.append(line);
    this.root.append(head);
    this.heads = [line];

    this.root.addEventListener('click', (ev) => {
      const target = /** @type {HTMLElement} */ (ev.target);
      const mark = target.closest('[data-t]');
      if (mark instanceof HTMLElement) {
        this.seek(Number(mark.dataset.t));
        return;
      }
      const track = target.closest('.tl-track');
      if (track instanceof HTMLElement) {
        const r = track.getBoundingClientRect();
        this.seek(((ev.clientX - r.left) / r.width) * m.duration);
      }
    });
    scrub.addEventListener('keydown', (ev) => {
      const step = ev.key === 'PageUp' || ev.key === 'PageDown' ? 60 : 5;
      const now = Number(scrub.getAttribute('aria-valuenow') || 0);
      if (ev.key === 'ArrowLeft' || ev.key === 'ArrowDown' || ev.key === 'PageDown') this.seek(now - step);
      else if (ev.key === 'ArrowRight' || ev.key === 'ArrowUp' || ev.key === 'PageUp') this.seek(now + step);
      else return;
      ev.preventDefault();
      ev.stopPropagation();
    });
  }

  /**
   * @param {string} label
   * @param {string} cls
   * @param {string} [dot] the participant's colour
   * @param {string} [title] the label's full text
   * @returns {{row: HTMLElement, track: HTMLElement}}
   */
  row(label, cls, dot, title) {
    const row = el('div', `tl-row ${cls}`);
    const name = el('div', 'tl-label');
    if (dot) {
      const d = el('span', 'tl-dot');
      d.style.background = dot;
      name.append(d);
    }
    if (label) {
      const n = el('span', 'tl-name', label);
      n.title = title || label;
      name.append(n);
    }
    const track = el('div', 'tl-track');
    row.append(name, track);
    this.root.append(row);
    return { row, track };
  }

  /**
   * @param {HTMLElement} track
   * @param {string} cls
   * @param {number} from
   * @param {number} to
   * @param {string} [label] makes the band a button that seeks to its start
   * @param {boolean} [button]
   */
  band(track, cls, from, to, label, button = false) {
    const b = el(button ? 'button' : 'div', `tl-band ${cls}`);
    b.style.left = this.pct(from);
    b.style.width = `max(3px, ${((Math.min(to, this.model.duration) - from) / this.model.duration) * 100}%)`;
    if (label) {
      b.title = label;
      if (button) {
        /** @type {HTMLButtonElement} */ (b).type = 'button';
        b.setAttribute('aria-label', label);
        b.dataset.t = String(from);
        b.tabIndex = -1;
      }
    }
    track.append(b);
    return b;
  }

  /**
   * Draws what each participant's countersignatures attest: from the start to the last event
   * they cover, and the gap after it that rests on the server's word alone.
   * @param {Array<{identity: string, upTo: number, needed: number}>} attested
   */
  showAttested(attested) {
    const m = this.model;
    for (const a of attested) {
      const tr = this.tracks.get(a.identity);
      if (!tr) continue;
      for (const old of tr.querySelectorAll('.tl-attested, .tl-gap')) old.remove();
      const upTo = a.upTo ? m.seqTime(a.upTo) : 0;
      const who = m.people.find((p) => p.identity === a.identity);
      const name = who ? who.name : a.identity;
      if (a.upTo) this.band(tr, 'tl-attested', 0, upTo, `${name} attests the record up to ${clock(upTo)} (events 1–${a.upTo})`);
      if (a.needed > a.upTo) {
        const to = m.seqTime(a.needed);
        if (to > upTo) this.band(tr, 'tl-gap', upTo, to, `${clock(upTo)}–${clock(to)} rests on the server’s word alone: ${name} did not countersign it`);
      }
    }
  }

  /** @param {number} t */
  setTime(t) {
    const left = this.pct(t);
    for (const h of this.heads) h.style.left = left;
    const s = Math.floor(t);
    if (this.scrub && s !== this.lastAria) {
      this.lastAria = s;
      this.scrub.setAttribute('aria-valuenow', String(s));
      this.scrub.setAttribute('aria-valuetext', `${clock(t)} of ${clock(this.model.duration)}`);
    }
  }

  /**
   * The time of the marker before or after t, for the , and . keys.
   * @param {number} t
   * @param {1 | -1} dir
   * @returns {number | null}
   */
  neighbour(t, dir) {
    const ts = this.model.events.filter((e) => !e.minor && MARKS[e.type]).map((e) => e.t);
    const cands = dir > 0 ? ts.filter((x) => x > t + 0.25) : ts.filter((x) => x < t - 0.25);
    if (!cands.length) return null;
    return dir > 0 ? Math.min(...cands) : Math.max(...cands);
  }
}
