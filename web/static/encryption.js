// End-to-end encryption as the page uses it: the lobby's switch and passphrase, the worker's key
// exchange through the server (syncE2EERoster, startE2EEExchange, sendE2EE), its status, and the
// meeting bar's badge. The cryptography is in e2ee.js, e2ee-worker.js and sframe.js.

import { icon } from './icons.js';
import { toast, keepOnScreen } from './ui.js';
import { E2EE, transformAPI } from './e2ee.js';
import { roomName, fragmentPassphrase, $, st, keyReady, errText, keyProblem, update } from './store.js';
import { join, fail } from './call.js';
import { renderMedia } from './layout.js';
import { renderPeople } from './people.js';
import { t, tNodes, lang } from './i18n.js';


/**
 * Starts end-to-end encryption with a passphrase: the key derivation begins in the worker now.
 * @param {string} passphrase
 * @returns {string | null} why it cannot start, or null
 */
export function startE2EE(passphrase) {
  if (st.e2ee && st.e2eePass === passphrase) return null;
  stopE2EE();
  /** @type {E2EE} */
  let e2ee;
  try {
    e2ee = new E2EE(roomName, onE2EEStatus, sendE2EE);
  } catch (err) {
    return t('e2ee.cannotStart', { error: errText(err) });
  }
  update({ e2ee, e2eePass: passphrase });
  e2ee.start(passphrase).catch(() => {});
  return null;
}

/**
 * Sends one key exchange message of the worker's through the server.
 * @param {string} to a participant id, or '' for everyone else
 * @param {string} data
 */
export function sendE2EE(to, data) {
  if (!st.sig || st.phase !== 'joined') return;
  /** @type {Record<string, string>} */
  const msg = { type: 'e2ee', data };
  if (to) msg.to = to;
  st.sig.send(msg);
}

/** Tells the worker who else is in the room: its key exchange follows the roster. */
export function syncE2EERoster() {
  if (st.e2ee) st.e2ee.setRoster([...st.others.values()]);
}

/** Tells the worker who this page is, with the identity key that signs its key exchange. */
export function startE2EEExchange() {
  const e2ee = st.e2ee;
  const self = st.self;
  if (!e2ee || !self) return;
  keyReady.then((k) => {
    if (st.e2ee === e2ee && st.self === self && k.key) e2ee.setSelf(self.id, self.identity, k.key.publicKey, k.key.pair.privateKey);
  });
}

export function stopE2EE() {
  if (st.e2ee) st.e2ee.close();
  update({ e2ee: null });
  update({ e2eePass: '' });
  update({ undecryptable: new Set() });
}

/** The lobby's "End-to-end encryption" switch and passphrase field. */
export function initLobbyE2EE() {
  const toggle = /** @type {HTMLInputElement} */ ($('e2ee-toggle'));
  const pass = /** @type {HTMLInputElement} */ ($('e2ee-pass'));
  const show = $('e2ee-show');
  const supported = !!transformAPI();
  if (!supported) toggle.disabled = true;
  if (fragmentPassphrase !== null) {
    toggle.checked = supported;
    pass.value = fragmentPassphrase;
    $('e2ee-from-link').hidden = !supported;
    if (!supported) $('token-notice').hidden = false;
  }
  const sync = () => {
    $('e2ee-pass-field').hidden = !toggle.checked;
    $('e2ee-lobby').classList.toggle('on', toggle.checked);
    renderLobbyE2EE();
  };
  toggle.addEventListener('change', () => {
    sync();
    if (toggle.checked && !pass.value) pass.focus();
  });
  pass.addEventListener('input', () => {
    $('e2ee-from-link').hidden = true;
    pass.classList.remove('invalid');
  });
  show.addEventListener('click', () => {
    const visible = pass.type === 'password';
    pass.type = visible ? 'text' : 'password';
    show.setAttribute('aria-pressed', String(visible));
    renderLobbyE2EE();
    const holder = /** @type {HTMLElement} */ (show.querySelector('[data-icon]'));
    holder.dataset.icon = visible ? 'eyeOff' : 'eye';
    holder.replaceChildren(icon(holder.dataset.icon));
  });
  sync();
}

/** The lobby's encryption texts: what this browser can do, the switch's effect, the eye's label. */
export function renderLobbyE2EE() {
  const supported = !!transformAPI();
  const on = /** @type {HTMLInputElement} */ ($('e2ee-toggle')).checked;
  $('e2ee-sub').textContent = t(supported ? 'e2ee.switchSub' : 'e2ee.unsupported');
  if (!supported && fragmentPassphrase !== null) $('token-notice-text').textContent = t('e2ee.linkUnsupported');
  $('fineprint-text').textContent = t(on ? 'lobby.fineprintE2ee' : 'lobby.fineprint');
  const show = $('e2ee-show');
  const label = t(show.getAttribute('aria-pressed') === 'true' ? 'e2ee.hide' : 'e2ee.show');
  show.setAttribute('aria-label', label);
  show.title = label;
}

/**
 * Applies the lobby's encryption choice before joining.
 * @returns {boolean} whether to go on and join
 */
export function applyLobbyE2EE() {
  const toggle = /** @type {HTMLInputElement} */ ($('e2ee-toggle'));
  const pass = /** @type {HTMLInputElement} */ ($('e2ee-pass'));
  // The link is for an encrypted meeting and this browser cannot encrypt (the notice says so).
  if (fragmentPassphrase !== null && !transformAPI()) return false;
  if (!toggle.checked) {
    stopE2EE();
    return true;
  }
  if (!pass.value.trim()) {
    pass.focus();
    pass.classList.add('invalid');
    setTimeout(() => pass.classList.remove('invalid'), 1200);
    return false;
  }
  const problem = startE2EE(pass.value);
  if (problem) {
    toast(problem, { kind: 'error' });
    return false;
  }
  return true;
}

/** Joins once the encryption keys are ready (at once without end-to-end encryption). */
export async function joinWhenKeysReady() {
  const e2ee = st.e2ee;
  if (e2ee) {
    try {
      await e2ee.ready;
    } catch (err) {
      fail(() => t('e2ee.failed', { error: errText(err) }));
      return;
    }
    if (st.e2ee !== e2ee) return;
    // The identity key signs this browser's media keys: without it no one could tell them apart.
    const k = await keyReady;
    if (!k.key) {
      fail(() => t('e2ee.noSigningKey', { problem: keyProblem(k) }));
      return;
    }
    if (st.e2ee !== e2ee) return;
  }
  join();
}

/** The members whose signed keys the worker held at its last report. */
export let lastKeyed = '';

/**
 * What the encryption worker reports, twice a second.
 * @param {import('./e2ee.js').E2EEStatus} s
 */
export function onE2EEStatus(s) {
  /** @type {Set<string>} */
  const ids = new Set();
  const session = st.session;
  if (session) {
    for (const mid of s.failing) {
      const owner = session.subTracks[mid];
      if (owner && owner.participant) ids.add(owner.participant);
    }
  }
  renderEpoch(s.epoch);
  const keyed = s.keyed.slice().sort().join(' ');
  if (ids.size !== st.undecryptable.size || [...ids].some((id) => !st.undecryptable.has(id))) {
    update({ undecryptable: ids });
    renderMedia();
    renderPeople();
  } else if (keyed !== lastKeyed) {
    renderPeople();
  }
  lastKeyed = keyed;
}

/** The meeting bar's "End-to-end encrypted" badge. */
export function renderE2EE() {
  const on = !!st.e2ee && (st.phase === 'joined' || st.phase === 'joining');
  $('e2ee-anchor').hidden = !on;
  if (!on) closeE2EEPopover();
  if (st.e2ee) renderEpoch(st.e2ee.status.epoch);
}

let drawnEpoch = '';

/**
 * How often this browser's media key was renewed, the count in its own element (#e2ee-epoch).
 * @param {number} n
 */
function renderEpoch(n) {
  const dd = document.getElementById('e2ee-renewed');
  // The worker reports twice a second; the line changes with the count or the language only.
  if (!dd || drawnEpoch === `${lang} ${n}`) return;
  drawnEpoch = `${lang} ${n}`;
  const epoch = document.getElementById('e2ee-epoch') || document.createElement('span');
  epoch.id = 'e2ee-epoch';
  epoch.textContent = String(n);
  dd.replaceChildren(...tNodes('e2ee.renewed', { count: n }, { n: epoch }));
}

export function toggleE2EEPopover() {
  const pop = $('e2ee-pop');
  if (!pop.hidden) {
    closeE2EEPopover();
    return;
  }
  renderE2EE();
  pop.hidden = false;
  keepOnScreen(pop);
  $('e2ee-pill').setAttribute('aria-expanded', 'true');
}

export function closeE2EEPopover() {
  const pop = document.getElementById('e2ee-pop');
  if (!pop || pop.hidden) return;
  pop.hidden = true;
  $('e2ee-pill').setAttribute('aria-expanded', 'false');
}
