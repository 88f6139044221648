// Interpretation: the room's languages, what this client listens to (the floor ducked under a
// live channel), what an interpreter speaks into, and the language menu.

import { icon } from './icons.js';
import { h, keepOnScreen } from './ui.js';
import { roomName, $, st, audioEls, update } from './store.js';
import { renderPeople } from './people.js';
import { renderCaptions } from './captions.js';
import { t, languageName } from './i18n.js';

/**
 * @typedef {import('./store.js').RoomInfo} RoomInfo
 */

/**
 * @param {any} r the `room` object of `welcome` or `room-updated`
 * @returns {RoomInfo}
 */
export function normalizeRoom(r) {
  const room = r && typeof r === 'object' ? r : {};
  return {
    name: typeof room.name === 'string' ? room.name : roomName,
    languages: Array.isArray(room.languages) ? room.languages.filter((/** @type {unknown} */ l) => typeof l === 'string') : [],
    channels: room.channels && typeof room.channels === 'object' ? room.channels : {},
    recording: room.recording && typeof room.recording === 'object' ? { ...room.recording, active: room.recording.active === true } : null,
    // 'on', 'paused' (the speech engine does not answer) or 'e2ee'; absent without an engine.
    transcription: ['on', 'paused', 'e2ee'].includes(room.transcription) ? room.transcription : '',
    // Captions of a language without a live interpreter come machine translated.
    translation: room.translation === true,
  };
}

/**
 * A language's name in the interface language ("ru" -> "Russian", «Русский»); inside a
 * sentence (not standalone) as the language writes it there (English "Russian", «русский»).
 * @param {string} code
 * @param {boolean} [standalone]
 * @returns {string}
 */
export function langName(code, standalone = true) {
  return languageName(code, standalone);
}

/**
 * Chooses what to hear: `floor` or a room language. Instant, no renegotiation.
 * @param {string} channel
 * @returns {boolean} whether the request went out
 */
export function setListening(channel) {
  if (!st.sig || st.phase !== 'joined') return false;
  update({ listening: channel });
  st.sig.send({ type: 'listen', channel });
  applyVolumes();
  renderLanguage();
  renderCaptions();
  return true;
}

/**
 * An interpreter chooses the channel it speaks into ('' stops).
 * @param {string} channel
 * @returns {boolean}
 */
export function setInterpreting(channel) {
  if (!st.sig || st.phase !== 'joined') return false;
  update({ interpreting: channel });
  st.sig.send({ type: 'interpret', channel });
  renderLanguage();
  renderPeople();
  return true;
}

/** Whether the floor is ducked: the chosen channel has an interpreter speaking. */
export function isDucked() {
  const ch = st.room.channels[st.listening];
  return st.listening !== 'floor' && !!(ch && ch.live);
}

/** Plays the interpretation at full volume and the floor ducked while it is live. */
export function applyVolumes() {
  const session = st.session;
  const duck = isDucked();
  for (const [mid, { el }] of audioEls) {
    const owner = session ? session.subTracks[mid] : undefined;
    const interp = !!owner && owner.source === 'interpretation';
    el.volume = interp || !duck ? 1 : st.duck;
  }
}

/**
 * One radio choice in the language menu.
 * @param {string} label
 * @param {boolean} checked
 * @param {() => void} pick
 * @param {string} [hint]
 * @param {boolean} [live]
 * @returns {HTMLElement}
 */
export function menuChoice(label, checked, pick, hint, live) {
  const b = h('button', {
    class: 'menu-item',
    attrs: { type: 'button', role: 'radio', 'aria-checked': String(checked), 'data-choice': label },
  }, [
    h('span', { class: 'menu-check' }, checked ? [icon('check')] : []),
    h('span', { class: 'menu-label', text: label }),
  ]);
  if (hint) b.append(h('span', { class: 'menu-hint' + (live ? ' live' : ''), text: hint }));
  b.addEventListener('click', () => {
    pick();
    closeLangMenu();
  });
  return b;
}

/** Shows the language button and fills its menu. */
export function renderLanguage() {
  const langs = st.room.languages;
  const interp = st.self && st.self.interpreter;
  const btn = $('btn-lang');
  btn.hidden = !langs.length && !interp;
  if (btn.hidden) closeLangMenu();
  $('lang-code').textContent = st.listening === 'floor' ? '' : st.listening.toUpperCase();
  btn.setAttribute('aria-label', t('controls.languageIs', { language: st.listening === 'floor' ? t('lang.originalLower') : langName(st.listening, false) }));
  btn.classList.toggle('active', st.listening !== 'floor');

  // The menu is rebuilt whenever the room or its people change, often while it is open: the
  // choice that had the keyboard focus gets it back, or Enter would fall on the page.
  const menu = $('lang-menu');
  const had = menu.contains(document.activeElement) ? document.activeElement : null;
  const hadChoice = had && had.getAttribute('data-choice');
  const hadSection = had && had.parentElement ? had.parentElement.id : '';

  const listen = $('listen-options');
  listen.replaceChildren(menuChoice(t('lang.original'), st.listening === 'floor', () => setListening('floor'), t('lang.floor')));
  for (const l of langs) {
    const ch = st.room.channels[l];
    const live = !!(ch && ch.live);
    listen.append(menuChoice(langName(l), st.listening === l, () => setListening(l), t(live ? 'lang.live' : 'lang.noInterpreter'), live));
  }
  $('duck-row').hidden = !langs.length;
  const section = $('interpret-section');
  section.hidden = !interp;
  if (interp) {
    const opts = $('interpret-options');
    opts.replaceChildren(menuChoice(t('lang.notInterpreting'), !st.interpreting, () => setInterpreting('')));
    for (const l of interp.languages || []) {
      opts.append(menuChoice(t('lang.into', { language: langName(l, false) }), st.interpreting === l, () => setInterpreting(l)));
    }
  }
  if (hadChoice && hadSection && !menu.hidden && !menu.contains(document.activeElement)) {
    const again = [...$(hadSection).querySelectorAll('[data-choice]')].find((e) => e.getAttribute('data-choice') === hadChoice);
    if (again instanceof HTMLElement) again.focus();
  }
}

export function toggleLangMenu() {
  const menu = $('lang-menu');
  if (!menu.hidden) {
    closeLangMenu();
    return;
  }
  renderLanguage();
  menu.hidden = false;
  keepOnScreen(menu);
  $('btn-lang').setAttribute('aria-expanded', 'true');
  const first = /** @type {HTMLElement | null} */ (menu.querySelector('[aria-checked="true"]'));
  if (first) first.focus();
}

export function closeLangMenu() {
  const menu = $('lang-menu');
  if (menu.hidden) return;
  menu.hidden = true;
  $('btn-lang').setAttribute('aria-expanded', 'false');
}
