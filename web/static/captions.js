// Live captions: the strip over the stage (who spoke, what, in which language), the captions
// button and its menu (on or off, and whose captions: what you listen to, the floor, or a
// channel), and the room's transcription state: a note while the speech engine does not
// answer, and in an end-to-end encrypted room the plain fact that there are none.

import { icon } from './icons.js';
import { h, keepOnScreen } from './ui.js';
import { $, st, displayName, canSubscribe } from './store.js';
import { langName } from './interpretation.js';
import { t } from './i18n.js';

/**
 * @typedef {{id: string, identity: string, name: string}} Who
 * @typedef {{from: Who, channel: string, language: string, text: string, end: string, at: number, el?: HTMLElement,
 *   translated?: {text: string, language: string}}} Caption
 *   `translated`: a machine translation, and what was said
 */

/** How long a caption stays on screen, in ms, before it fades. */
export const CAPTION_MS = 7000;

/** How many captions show at once: the newest at the bottom. */
const CAPTION_LINES = 2;

/** The longest caption text shown (the engine's text is not bounded by the protocol). */
const CAPTION_CHARS = 400;

const ON_KEY = 'parley.captions';
const CHANNEL_KEY = 'parley.captions.channel';

/** @type {Caption[]} the last captions received, shown or not (for the tests' hooks) */
export const received = [];

/** What this browser asked for, kept across meetings: shown or not, and whose. */
export const captions = {
  on: load(ON_KEY, 'on') !== 'off',
  /** `auto` (what you listen to), `floor`, or a room language */
  channel: load(CHANNEL_KEY, 'auto'),
  /** @type {Caption[]} on screen, oldest first */
  lines: [],
  /** @type {number | undefined} */
  fadeTimer: undefined,
};

/**
 * @param {string} key
 * @param {string} fallback
 * @returns {string}
 */
function load(key, fallback) {
  try {
    return localStorage.getItem(key) || fallback;
  } catch {
    return fallback;
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function save(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* private mode: the choice lasts as long as the page */
  }
}

/**
 * The room's transcription state: 'on', 'paused', 'e2ee', or '' without a speech engine (or
 * for a participant who may not receive media, and so gets no captions either).
 */
export function transcription() {
  return canSubscribe() ? st.room.transcription || '' : '';
}

/** The channel whose captions this client asked for, as the server understands it. */
function wanted() {
  if (!captions.on) return 'off';
  if (captions.channel !== 'auto' && captions.channel !== 'floor' && !st.room.languages.includes(captions.channel)) return 'auto';
  return captions.channel;
}

/** Tells the server whose captions to send (after a join, and whenever the choice changes). */
export function sendCaptions() {
  if (!st.sig || st.phase !== 'joined' || !st.self || !transcription()) return;
  const channel = wanted();
  // 'auto' is what the server assumes of a new seat, but a seat taken back keeps its last choice.
  st.sig.send({ type: 'captions', channel });
}

/**
 * A `caption` message: shown at once if captions are on (the server sends only the channel asked for).
 * @param {any} msg
 */
export function onCaption(msg) {
  if (!msg || typeof msg.text !== 'string' || !msg.text.trim()) return;
  const from = msg.from && typeof msg.from === 'object' ? msg.from : { id: '', identity: '', name: '' };
  const text = msg.text.trim();
  /** @type {Caption} */
  const c = {
    from,
    channel: typeof msg.channel === 'string' ? msg.channel : 'floor',
    language: typeof msg.language === 'string' ? msg.language : '',
    text: text.length > CAPTION_CHARS ? `…${text.slice(-CAPTION_CHARS)}` : text,
    end: typeof msg.end === 'string' ? msg.end : '',
    at: Date.now(),
  };
  if (msg.translated === true) {
    const src = msg.source && typeof msg.source === 'object' ? msg.source : {};
    c.translated = {
      text: typeof src.text === 'string' ? src.text : '',
      language: typeof src.language === 'string' ? src.language : '',
    };
  }
  received.push(c);
  if (received.length > 100) received.shift();
  // Off, or paused: a caption that was on its way when that changed is not shown.
  if (!captions.on || transcription() !== 'on') return;
  captions.lines.push(c);
  captions.lines = captions.lines.slice(-CAPTION_LINES);
  renderStrip();
}

/** Drops captions older than CAPTION_MS (they fade out first) and schedules the next check. */
function expire() {
  clearTimeout(captions.fadeTimer);
  const now = Date.now();
  const before = captions.lines.length;
  captions.lines = captions.lines.filter((c) => now - c.at < CAPTION_MS);
  if (captions.lines.length !== before) renderStrip();
  else if (captions.lines.length) captions.fadeTimer = window.setTimeout(expire, CAPTION_MS - (now - captions.lines[0].at) + 20);
}

/** Draws the strip: the paused note, and the captions still fresh. */
export function renderStrip() {
  const state = transcription();
  const strip = $('captions');
  const paused = state === 'paused' && captions.on;
  const note = $('captions-note');
  note.hidden = !paused;
  $('captions-note-text').textContent = paused ? t('cc.paused') : '';
  if (!captions.on || state !== 'on') captions.lines = [];
  const list = $('captions-lines');
  const now = Date.now();
  // A caption keeps its element while it shows, so that a newer one does not replay its entrance.
  list.replaceChildren(...captions.lines.map((c) => {
    if (c.el) return c.el;
    const parts = [h('span', { class: 'caption-who', text: speakerName(c.from) })];
    if (c.language) parts.push(h('span', { class: 'caption-lang', text: c.language.toUpperCase(), attrs: { title: langName(c.language) } }));
    if (c.translated) {
      // Machine translation is never passed off as an interpreter's words: it says so, and
      // what was said is one hover (or long press) away.
      const said = c.translated.text;
      const language = c.translated.language ? langName(c.translated.language, false) : '';
      parts.push(h('span', {
        class: 'caption-mt',
        text: t('cc.machine'),
        attrs: { title: language ? t('cc.machineFrom', { language, text: said }) : t('cc.machineOf', { text: said }) },
      }));
    }
    parts.push(h('span', { class: 'caption-text', text: c.text }));
    c.el = h('div', { class: 'caption' }, parts);
    c.el.dataset.end = c.end; // when the speech reached the server, and when it was shown:
    c.el.dataset.shown = String(Date.now()); // the latency the benchmark reports
    // It fades out over the last second of its time.
    c.el.style.animationDelay = `0ms, ${Math.max(0, CAPTION_MS - 1000 - (now - c.at))}ms`;
    return c.el;
  }));
  strip.hidden = !paused && !captions.lines.length;
  strip.classList.toggle('has-note', paused);
  expire();
}

/** Drops the captions' drawn elements: they are drawn again in a new interface language. */
export function relabelCaptions() {
  for (const c of captions.lines) delete c.el;
}

/**
 * The speaker as the people panel names them; "You" for this client.
 * @param {Who} from
 * @returns {string}
 */
function speakerName(from) {
  if (st.self && from.id && from.id === st.self.id) return t('cc.you');
  const p = from.id ? st.others.get(from.id) : undefined;
  return displayName(p || from);
}

/**
 * One radio choice in the captions menu.
 * @param {string} label
 * @param {boolean} checked
 * @param {string} value
 * @param {string} [hint]
 * @returns {HTMLElement}
 */
function choice(label, checked, value, hint) {
  const b = h('button', {
    class: 'menu-item',
    attrs: { type: 'button', role: 'radio', 'aria-checked': String(checked) },
  }, [
    h('span', { class: 'menu-check' }, checked ? [icon('check')] : []),
    h('span', { class: 'menu-label', text: label }),
  ]);
  if (hint) b.append(h('span', { class: 'menu-hint', text: hint }));
  b.addEventListener('click', () => {
    setCaptionChannel(value);
    closeCaptionsMenu();
  });
  return b;
}

/**
 * @param {string} channel `auto`, `floor` or a room language
 */
export function setCaptionChannel(channel) {
  captions.channel = channel;
  save(CHANNEL_KEY, channel);
  captions.lines = [];
  sendCaptions();
  renderCaptions();
}

/** @param {boolean} on */
export function setCaptionsOn(on) {
  captions.on = on;
  save(ON_KEY, on ? 'on' : 'off');
  sendCaptions();
  renderCaptions();
}

/** Shows the captions button (when the server has a speech engine) and fills its menu. */
export function renderCaptions() {
  const state = transcription();
  const btn = $('btn-cc');
  btn.hidden = !state;
  const more = $('more-cc');
  more.hidden = !state;
  if (!state) closeCaptionsMenu();
  const usable = state === 'on' || state === 'paused';
  const on = captions.on && usable;
  btn.classList.toggle('active', on);
  btn.setAttribute('aria-label', t(on ? 'cc.on' : 'cc.off'));
  btn.title = t(state === 'e2ee' ? 'cc.titleE2ee' : on ? 'cc.titleOn' : 'cc.title');
  $('more-cc-hint').textContent = t(state === 'e2ee' ? 'cc.hintUnavailable' : on ? 'cc.hintOn' : 'cc.hintOff');

  const toggle = /** @type {HTMLButtonElement} */ ($('cc-toggle'));
  toggle.setAttribute('aria-checked', String(on));
  toggle.disabled = !usable;
  const note = $('cc-note');
  /** @type {string} */
  let text = '';
  if (state === 'e2ee') {
    text = t('cc.noteE2ee');
  } else if (state === 'paused') {
    text = t('cc.pausedMenu');
  } else if (st.e2ee && on) {
    text = t('cc.noteOwnE2ee');
  }
  note.textContent = text;
  note.hidden = !text;
  note.classList.toggle('warn', state === 'paused');

  $('cc-choice').hidden = !on || !st.room.languages.length;
  const heard = st.listening === 'floor' ? t('lang.originalLower') : langName(st.listening, false);
  const ch = wanted();
  const opts = $('cc-options');
  opts.replaceChildren(choice(t('cc.whatYouHear'), ch === 'auto', 'auto', heard));
  opts.append(choice(t('lang.original'), ch === 'floor', 'floor', t('lang.floor')));
  const hint = t(st.room.translation ? 'cc.hintTranslated' : 'cc.hintInterpreted');
  for (const l of st.room.languages) opts.append(choice(langName(l), ch === l, l, hint));
  renderStrip();
}

export function toggleCaptionsMenu() {
  const menu = $('cc-menu');
  if (!menu.hidden) {
    closeCaptionsMenu();
    return;
  }
  renderCaptions();
  menu.hidden = false;
  keepOnScreen(menu);
  $('btn-cc').setAttribute('aria-expanded', 'true');
  const first = /** @type {HTMLElement | null} */ (menu.querySelector('.menu-item:not([disabled])'));
  if (first) first.focus();
}

export function closeCaptionsMenu() {
  const menu = document.getElementById('cc-menu');
  if (!menu || menu.hidden) return;
  menu.hidden = true;
  $('btn-cc').setAttribute('aria-expanded', 'false');
}

/** Forgets what was on screen (the meeting ended, or the page joins again). */
export function clearCaptions() {
  captions.lines = [];
  clearTimeout(captions.fadeTimer);
  renderStrip();
}
