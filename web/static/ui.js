// DOM building blocks of the meeting page: video tiles and their layout, chat messages,
// the participants list, toasts. User-supplied text only ever goes into textContent or
// attribute values, never into innerHTML.

import { icon } from './icons.js';
import { t, lang } from './i18n.js';

/**
 * Shorthand for creating an element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {{class?: string, text?: string, attrs?: Record<string, string>}} [opts]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, opts = {}, children = []) {
  const el = document.createElement(tag);
  if (opts.class) el.className = opts.class;
  if (opts.text != null) el.textContent = opts.text;
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/**
 * Up to two initials for an avatar, from letters and digits only: a qualifier in brackets
 * is not part of the name ("Irina (interpreter)" is "IR", not "I("); one word gives its
 * first two letters, several the first letters of the first and the last.
 * @param {string} name
 * @returns {string}
 */
export function initials(name) {
  const bare = (name || '').replace(/[([{][^)\]}]*[)\]}]/g, ' ');
  let words = bare.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (!words.length) words = (name || '').split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (!words.length) return '?';
  const first = Array.from(words[0]);
  const last = words.length > 1 ? Array.from(words[words.length - 1])[0] : first[1] || '';
  return (first[0] + last).toUpperCase();
}

/**
 * A stable hue for a participant, so their avatar keeps its colour.
 * @param {string} key
 * @returns {number}
 */
export function hueFor(key) {
  let x = 2166136261;
  for (let i = 0; i < key.length; i++) {
    x ^= key.charCodeAt(i);
    x = Math.imul(x, 16777619);
  }
  return Math.abs(x) % 360;
}

/**
 * An avatar circle with initials.
 * @param {string} name
 * @param {string} key
 * @param {string} [cls]
 * @returns {HTMLElement}
 */
export function avatar(name, key, cls = 'avatar') {
  const el = h('span', { class: cls, text: initials(name), attrs: { 'aria-hidden': 'true' } });
  el.style.setProperty('--hue', String(hueFor(key)));
  return el;
}

// ---- tiles --------------------------------------------------------------------------

export class Tile {
  /**
   * @param {string} key
   * @param {{self?: boolean, screen?: boolean}} kind
   */
  constructor(key, kind) {
    this.key = key;
    this.self = !!kind.self;
    this.screen = !!kind.screen;
    this.name = '';
    this.hueKey = key;
    /** whether the participant's connection dropped and their seat waits */
    this.reconnecting = false;
    /** @type {MediaStreamTrack | null} */
    this.track = null;
    this.video = h('video', { attrs: { autoplay: '', playsinline: '', 'aria-hidden': 'true' } });
    this.video.muted = true; // sound plays through separate <audio> elements
    this.avatarWrap = h('div', { class: 'tile-avatar' });
    this.nameEl = h('span', { class: 'tile-name' });
    this.micOff = h('span', { class: 'tile-mic-off', attrs: { title: t('tile.micOff') } }, [icon('micOff')]);
    this.label = h('div', { class: 'tile-label' }, [this.micOff, this.nameEl]);
    /** @type {string | null} */
    this.noticeText = null;
    this.noticeTextEl = h('span');
    this.notice = h('div', { class: 'tile-notice', attrs: { role: 'status' } }, [icon('lockOff'), this.noticeTextEl]);
    this.notice.hidden = true;
    this.el = h('div', {
      class: 'tile' + (this.self ? ' self' : '') + (this.screen ? ' screen' : ''),
      attrs: { role: 'group', 'data-key': key },
    }, [this.video, this.avatarWrap, this.notice, this.label]);
    if (this.screen) this.label.prepend(h('span', { class: 'tile-screen-icon' }, [icon('screen')]));
  }

  /**
   * @param {string} name
   * @param {string} hueKey
   */
  setName(name, hueKey) {
    if (name === this.name && hueKey === this.hueKey) return;
    this.name = name;
    this.hueKey = hueKey;
    let label = this.screen ? (this.self ? t('tile.yourScreen') : t('tile.presenting', { name })) : this.self ? t('tile.you', { name }) : name;
    if (this.reconnecting) label = t('tile.reconnecting', { label });
    this.nameEl.textContent = label;
    this.el.setAttribute('aria-label', label);
    this.avatarWrap.replaceChildren(this.screen ? h('span') : avatar(name, hueKey, 'avatar avatar-lg'));
  }

  /**
   * Shows a track, or the avatar when there is none.
   * @param {MediaStreamTrack | null} track
   */
  setTrack(track) {
    if (track !== this.track) {
      this.track = track;
      this.video.srcObject = track ? new MediaStream([track]) : null;
      if (track) this.video.play().catch(() => {});
    }
    this.el.classList.toggle('has-video', !!track);
  }

  /** @param {boolean} off */
  setMicOff(off) {
    this.el.classList.toggle('mic-off', off);
  }

  /**
   * A note across the tile (e.g. its media cannot be decrypted), or null for none.
   * @param {string | null} text
   */
  setNotice(text) {
    if (text === this.noticeText) return;
    this.noticeText = text;
    this.noticeTextEl.textContent = text || '';
    this.notice.hidden = !text;
    this.el.classList.toggle('has-notice', !!text);
  }

  /** @param {boolean} on */
  setSpeaking(on) {
    this.el.classList.toggle('speaking', on);
  }

  /** Writes the tile's texts again, in a new interface language. */
  relabel() {
    this.micOff.title = t('tile.micOff');
    const name = this.name;
    this.name = '';
    this.setName(name, this.hueKey);
  }

  /**
   * Marks a participant whose connection dropped: their seat waits for them.
   * @param {boolean} on
   */
  setReconnecting(on) {
    if (on === !!this.reconnecting) return;
    this.reconnecting = on;
    this.el.classList.toggle('reconnecting', on);
    const name = this.name;
    this.name = '';
    this.setName(name, this.hueKey);
  }
}

/**
 * @typedef {{x: number, y: number, w: number, h: number}} Rect
 */

/**
 * Lays tiles out in the stage: an even grid, a presentation (one screen share large,
 * everyone else in a strip), or, for two people, the other person large and oneself small.
 */
export class Stage {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    /** @type {string[]} order in which tiles appear */
    this.order = [];
    this.overflow = h('div', { class: 'tile overflow-tile' });
    this.el.append(this.overflow);
    this.scheduled = false;
    /** @type {(() => void) | null} called after every layout (tile sizes may have changed) */
    this.onLayout = null;
    new ResizeObserver(() => this.layout()).observe(el);
  }

  /**
   * Returns the tile for a key, creating it.
   * @param {string} key
   * @param {{self?: boolean, screen?: boolean}} kind
   * @returns {Tile}
   */
  tile(key, kind) {
    let t = this.tiles.get(key);
    if (!t) {
      t = new Tile(key, kind);
      this.tiles.set(key, t);
      this.el.append(t.el);
      this.scheduleLayout();
    }
    return t;
  }

  /** @param {string} key */
  remove(key) {
    const t = this.tiles.get(key);
    if (!t) return;
    t.video.srcObject = null;
    t.el.remove();
    this.tiles.delete(key);
    this.scheduleLayout();
  }

  /** @param {(key: string) => boolean} keep */
  retain(keep) {
    for (const key of [...this.tiles.keys()]) if (!keep(key)) this.remove(key);
  }

  /** @param {string[]} order */
  setOrder(order) {
    if (order.join('\n') !== this.order.join('\n')) {
      this.order = order;
      this.scheduleLayout();
    }
  }

  /** Writes every tile's texts again, in a new interface language. */
  relabel() {
    for (const tile of this.tiles.values()) tile.relabel();
    this.layout();
  }

  scheduleLayout() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.layout();
    });
  }

  layout() {
    const W = this.el.clientWidth;
    const H = this.el.clientHeight;
    if (!W || !H) return;
    const rank = (/** @type {string} */ k) => {
      const i = this.order.indexOf(k);
      return i < 0 ? 1e6 : i;
    };
    const tiles = [...this.tiles.values()].sort((a, b) => rank(a.key) - rank(b.key));
    const gap = W < 600 ? 6 : 10;
    /** @type {Map<Tile, Rect | null>} */
    const rects = new Map();
    let hidden = 0;
    const screen = tiles.find((t) => t.screen && !t.self) || tiles.find((t) => t.screen);
    // A phone shows oneself small in a corner whenever someone else is on the stage.
    const phone = W < 560;
    const selfTile = tiles.find((t) => t.self && !t.screen);
    const pip = !!selfTile && (phone ? tiles.length >= 2 : tiles.length === 2);
    this.el.dataset.layout = screen ? 'present' : pip ? 'pip' : 'grid';

    if (screen) {
      const rest = tiles.filter((t) => t !== screen);
      const side = W >= 760 && W >= H;
      if (!rest.length) {
        rects.set(screen, { x: 0, y: 0, w: W, h: H });
      } else if (side) {
        const sw = Math.min(280, Math.max(170, W * 0.2));
        const th = (sw * 9) / 16;
        const fit = Math.max(1, Math.floor((H + gap) / (th + gap)));
        const shown = rest.length > fit ? fit - 1 : rest.length;
        const used = shown + (rest.length > fit ? 1 : 0);
        const y0 = (H - (used * th + (used - 1) * gap)) / 2;
        rects.set(screen, { x: 0, y: 0, w: W - sw - gap, h: H });
        rest.forEach((t, i) => rects.set(t, i < shown ? { x: W - sw, y: y0 + i * (th + gap), w: sw, h: th } : null));
        hidden = rest.length - shown;
        if (hidden) this.place(this.overflow, { x: W - sw, y: y0 + shown * (th + gap), w: sw, h: th });
      } else {
        const th = Math.min(120, Math.max(64, H * 0.18));
        const tw = (th * 16) / 9;
        const fit = Math.max(1, Math.floor((W + gap) / (tw + gap)));
        const shown = rest.length > fit ? fit - 1 : rest.length;
        const used = shown + (rest.length > fit ? 1 : 0);
        const x0 = (W - (used * tw + (used - 1) * gap)) / 2;
        rects.set(screen, { x: 0, y: 0, w: W, h: H - th - gap });
        rest.forEach((t, i) => rects.set(t, i < shown ? { x: x0 + i * (tw + gap), y: H - th, w: tw, h: th } : null));
        hidden = rest.length - shown;
        if (hidden) this.place(this.overflow, { x: x0 + shown * (tw + gap), y: H - th, w: tw, h: th });
      }
    } else if (this.el.dataset.layout === 'pip') {
      const self = /** @type {Tile} */ (selfTile);
      const rest = tiles.filter((t) => t !== self);
      gridRects(rest.length, W, H, gap).forEach((r, i) => rects.set(rest[i], r));
      const portrait = phone && H > W;
      const pw = phone ? Math.round(Math.max(96, W * 0.28)) : Math.min(300, Math.max(170, W * 0.22));
      const ph = portrait ? (pw * 4) / 3 : (pw * 9) / 16;
      const m = phone ? 8 : 14;
      rects.set(self, { x: W - pw - m, y: H - ph - m, w: pw, h: ph });
    } else {
      gridRects(tiles.length, W, H, gap).forEach((r, i) => rects.set(tiles[i], r));
    }

    for (const [t, r] of rects) {
      t.el.classList.toggle('pip', this.el.dataset.layout === 'pip' && t.self);
      t.el.classList.toggle('main', t === screen);
      t.el.classList.toggle('small', !!r && r.w < 240);
      if (r) this.place(t.el, r);
      t.el.hidden = !r;
    }
    this.overflow.hidden = !hidden;
    this.overflow.textContent = hidden ? t('stage.more', { count: hidden }) : '';
    if (this.onLayout) this.onLayout();
  }

  /**
   * @param {HTMLElement} el
   * @param {Rect} r
   */
  place(el, r) {
    el.style.left = `${Math.round(r.x)}px`;
    el.style.top = `${Math.round(r.y)}px`;
    el.style.width = `${Math.round(r.w)}px`;
    el.style.height = `${Math.round(r.h)}px`;
  }
}

/**
 * Places n tiles in W x H as large as they can be, aspect ratio between 3:4 and 16:9
 * (preferring 16:9), rows centered.
 * @param {number} n
 * @param {number} W
 * @param {number} H
 * @param {number} gap
 * @returns {Rect[]}
 */
export function gridRects(n, W, H, gap) {
  if (!n) return [];
  let best = { cols: 1, rows: 1, w: 0, h: 0 };
  let bestScore = -1;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    let w = (W - gap * (cols - 1)) / cols;
    let hh = (H - gap * (rows - 1)) / rows;
    if (w <= 0 || hh <= 0) continue;
    if (w / hh > 16 / 9) w = (hh * 16) / 9;
    if (w / hh < 3 / 4) hh = (w * 4) / 3;
    // Cameras send 16:9; narrower tiles crop them, so they count for less.
    const score = w * hh * Math.sqrt(Math.min(1, w / hh / (16 / 9)));
    if (score > bestScore) {
      bestScore = score;
      best = { cols, rows, w, h: hh };
    }
  }
  const { cols, rows, w, h: th } = best;
  const y0 = (H - (rows * th + (rows - 1) * gap)) / 2;
  /** @type {Rect[]} */
  const out = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - row * cols : cols;
    const col = i - row * cols;
    const x0 = (W - (inRow * w + (inRow - 1) * gap)) / 2;
    out.push({ x: x0 + col * (w + gap), y: y0 + row * (th + gap), w, h: th });
  }
  return out;
}

// ---- chat ---------------------------------------------------------------------------

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/**
 * Text with its http(s) links made clickable; everything else stays plain text.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = /[),.;:!?\]]+$/.exec(url);
    if (trail) url = url.slice(0, -trail[0].length);
    const start = m.index || 0;
    if (start > last) frag.append(text.slice(last, start));
    /** @type {URL | null} */
    let parsed = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:')) {
      const a = h('a', { text: url, attrs: { href: parsed.href, target: '_blank', rel: 'noopener noreferrer nofollow' } });
      frag.append(a);
    } else {
      frag.append(url);
    }
    last = start + url.length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

/**
 * @param {string} iso RFC 3339
 * @returns {{label: string, full: string}}
 */
export function formatTime(iso) {
  const d = iso ? new Date(iso) : new Date();
  const t = isNaN(d.getTime()) ? new Date() : d;
  return {
    label: t.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' }),
    full: t.toLocaleString(lang),
  };
}

/**
 * @typedef {{id?: string, from?: {id: string, identity: string, name: string}, text: string, time: string}} ChatMessage
 */

export class ChatLog {
  /** @param {HTMLElement} list */
  constructor(list) {
    this.list = list;
    /** @type {{from: string, at: number} | null} */
    this.last = null;
    this.empty = h('li', { class: 'chat-empty', text: t('chat.empty') });
    this.list.append(this.empty);
  }

  /** Writes the log's own texts again, in a new interface language (the lines stay as said). */
  relabel() {
    this.empty.textContent = t('chat.empty');
  }

  /**
   * @param {ChatMessage} msg
   * @param {string} selfId
   */
  add(msg, selfId) {
    this.empty.remove();
    const from = msg.from || { id: '', identity: '', name: t('chat.unknown') };
    const mine = from.id === selfId;
    const time = formatTime(msg.time);
    const at = new Date(msg.time || Date.now()).getTime() || Date.now();
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const grouped = !!this.last && this.last.from === from.id && at - this.last.at < 120000;
    this.last = { from: from.id, at };
    const li = h('li', { class: 'chat-msg' + (mine ? ' mine' : '') + (grouped ? ' grouped' : '') });
    if (!grouped) {
      const who = h('span', { class: 'chat-from', text: mine ? t('chat.you') : from.name || from.identity });
      const when = h('time', { class: 'chat-time', text: time.label, attrs: { datetime: msg.time || '', title: time.full } });
      li.append(h('div', { class: 'chat-meta' }, [who, when]));
    }
    const body = h('div', { class: 'chat-text' });
    body.append(linkify(String(msg.text || '')));
    li.append(body);
    this.list.append(li);
    if (nearBottom || mine) this.list.scrollTop = this.list.scrollHeight;
  }

  /**
   * A line from the room itself (someone joined, you were muted).
   * @param {string} text
   */
  system(text) {
    this.empty.remove();
    this.last = null;
    this.list.append(h('li', { class: 'chat-system', text }));
  }
}

// ---- toasts -------------------------------------------------------------------------

/**
 * Shows a short message at the bottom of the screen.
 * @param {string} text
 * @param {{kind?: 'info' | 'error' | 'success' | 'recording', timeout?: number, iconName?: string, group?: string}} [opts]
 *   a toast with a group replaces the previous toast of that group
 * @returns {HTMLElement}
 */
export function toast(text, opts = {}) {
  const host = document.getElementById('toasts');
  const el = h('div', { class: `toast toast-${opts.kind || 'info'}`, attrs: { role: opts.kind === 'error' ? 'alert' : 'status' } });
  if (opts.group) {
    el.dataset.group = opts.group;
    for (const old of host ? host.querySelectorAll(`[data-group="${opts.group}"]`) : []) old.remove();
  }
  if (opts.iconName) el.append(icon(opts.iconName));
  el.append(h('span', { text }));
  const close = h('button', { class: 'toast-close', attrs: { type: 'button', 'aria-label': t('toast.dismiss') } }, [icon('close')]);
  close.addEventListener('click', () => el.remove());
  el.append(close);
  if (host) {
    host.append(el);
    while (host.children.length > 4) host.firstElementChild?.remove();
  }
  const timeout = opts.timeout ?? (opts.kind === 'error' ? 9000 : 4500);
  if (timeout > 0) {
    setTimeout(() => {
      el.classList.add('leaving');
      setTimeout(() => el.remove(), 250);
    }, timeout);
  }
  return el;
}

// ---- menus --------------------------------------------------------------------------

/**
 * Shifts a shown menu or popover that hangs off the viewport sideways, to 8 px from its
 * edges (a menu anchored near an edge of a narrow screen would hang off it).
 * @param {HTMLElement} el
 */
export function keepOnScreen(el) {
  el.style.translate = '';
  if (el.hidden) return;
  const r = el.getBoundingClientRect();
  const W = document.documentElement.clientWidth;
  const m = 8;
  let dx = 0;
  // Only what hangs off the screen moves (a bottom sheet spans it edge to edge).
  if (r.right > W) dx = Math.max(W - m - r.right, m - r.left);
  if (r.left + dx < 0) dx = m - r.left;
  if (dx) el.style.translate = `${Math.round(dx)}px 0`;
}
