// The meeting page's state: the page's parameters (room, token, passphrase), constants, the
// one state object `st` that the other modules read (and change only through `update`), and
// small questions about it (grants, names). Nothing here touches the DOM beyond `$` and the body's data attributes.

import { Signaling } from './signaling.js';
import { MediaSession } from './session.js';
import { LocalMedia } from './media.js';
import { decodeToken } from './token.js';
import { Stage, ChatLog } from './ui.js';
import { participantKey } from './keys.js';
import { E2EE, passphraseFromFragment } from './e2ee.js';
import { renderRecording } from './recording.js';
import { t } from './i18n.js';

/**
 * @typedef {{mid: string, source: string, kind: string, muted: boolean}} PublishedTrack
 * @typedef {{id: string, identity: string, name: string, grants?: string[],
 *            tracks?: PublishedTrack[], state?: string, listening?: string,
 *            interpreter?: {languages: string[], channel: string}, key?: string}} Participant
 * @typedef {{id: string, watcher: string, watched: string, since: string}} Viewer
 * @typedef {{active: boolean, record?: string, since?: string, by?: Who, [key: string]: any}} Recording
 * @typedef {{name: string, languages: string[],
 *            channels: Record<string, {interpreter: string, live: boolean}>,
 *            recording: Recording | null, transcription?: string, translation?: boolean}} RoomInfo
 * @typedef {{id: string, identity: string, name: string}} Who
 * @typedef {import('./session.js').RemoteTrack} RemoteTrack
 * @typedef {import('./session.js').Source} Source
 * @typedef {import('./signaling.js').Message} Message
 * @typedef {import('./keys.js').KeyResult} KeyResult
 * @typedef {'lobby' | 'joining' | 'joined' | 'leaving' | 'left' | 'removed' | 'error'} Phase
 * @typedef {import('./i18n.js').MessageId} MessageId
 */


export const params = new URLSearchParams(location.search);

export const roomName = roomFromPath(location.pathname);

/**
 * The token and the passphrase are secrets: the link that carried them must not stay in the
 * address bar (screen shares, shoulder surfers, history sync, a copied address). They move to
 * this tab's sessionStorage, which a reload or a reconnection reads and no other tab sees.
 */
export const secrets = takeSecretsFromURL(roomName);

export const token = secrets.token;

export const claims = decodeToken(token);

export const autojoin = params.get('autojoin') === '1';

/** `&relay=1` forces media through the TURN relay, as behind a firewall that allows nothing else. */
export const relayOnly = params.get('relay') === '1';

/** A meeting passphrase for end-to-end encryption, from the fragment: it never reaches the server. */
// Kept for the tab's life: a reload must not join unencrypted.
export const fragmentPassphrase = secrets.passphrase;

export const qualityParam = params.get('quality');

export const quality = qualityParam === 'low' || qualityParam === 'medium' || qualityParam === 'high' ? qualityParam : 'high';

/** Remote audio level (getStats audioLevel, 0..1) above which someone counts as speaking. */
export const REMOTE_SPEAKING_LEVEL = 0.04;

/** Local microphone RMS above which you count as speaking. */
export const LOCAL_SPEAKING_LEVEL = 0.02;

/** How long the speaking outline stays after the level drops, in ms. */
export const SPEAKING_HOLD_MS = 700;

export const NAME_KEY = 'parley.name';

export const DUCK_KEY = 'parley.duck';

/** How loud the floor plays while the chosen language channel is live (0..1). */
export const DEFAULT_DUCK = 0.2;

/** How long a leave in a recorded room waits for the server to close (and its last checkpoint). */
export const LEAVE_DRAIN_MS = 3000;

/** How long `join` waits for the signing key before it goes without one. */
export const KEY_WAIT_MS = 3000;

/**
 * What a failed join means, in plain words: a title and what to do (join.CODE.title and
 * .text in the catalogue), and whether trying again can work. The server's own sentence goes
 * behind "Details".
 * @type {Record<string, {retry: boolean}>}
 */
export const JOIN_ERRORS = {
  token_missing: { retry: false },
  token_invalid: { retry: false },
  token_expired: { retry: false },
  token_revoked: { retry: false },
  wrong_room: { retry: false },
  forbidden: { retry: false },
  e2ee_required: { retry: false },
  room_full: { retry: true },
  server_full: { retry: true },
  rate_limited: { retry: true },
  shutting_down: { retry: true },
  duplicate_identity: { retry: true },
};

/**
 * A join error's title and text in the interface language, or undefined for a code the page
 * does not know.
 * @param {string} code
 * @returns {{title: string, text: string, retry: boolean} | undefined}
 */
export function joinError(code) {
  const e = Object.hasOwn(JOIN_ERRORS, code) ? JOIN_ERRORS[code] : undefined;
  if (!e) return undefined;
  return {
    title: t(/** @type {MessageId} */ (`join.${code}.title`)),
    text: t(/** @type {MessageId} */ (`join.${code}.text`)),
    retry: e.retry,
  };
}

/**
 * Reads the token (`?token=`) and the E2EE passphrase (`#e2ee=`) from the address, keeps them in
 * sessionStorage for this room, and removes them from the address bar.
 * @param {string} room
 * @returns {{token: string, passphrase: string | null}}
 */
export function takeSecretsFromURL(room) {
  const tokenKey = `parley.token:${room}`;
  const passKey = `parley.e2ee:${room}`;
  const url = new URL(location.href);
  let tok = url.searchParams.get('token');
  let pass = passphraseFromFragment(url.hash);
  try {
    if (tok) sessionStorage.setItem(tokenKey, tok);
    else tok = sessionStorage.getItem(tokenKey);
    if (pass !== null) sessionStorage.setItem(passKey, pass);
    else pass = sessionStorage.getItem(passKey);
  } catch {
    // Storage closed (a privacy mode): the secrets live as long as the page.
  }
  if (url.searchParams.has('token') || (pass !== null && url.hash)) {
    url.searchParams.delete('token');
    const rest = new URLSearchParams(url.hash.slice(1));
    rest.delete('e2ee');
    url.hash = rest.toString();
    history.replaceState(history.state, '', url.pathname + url.search + (url.hash === '#' ? '' : url.hash));
  }
  return { token: tok || '', passphrase: pass };
}

/**
 * @param {string} path
 * @returns {string}
 */
export function roomFromPath(path) {
  const m = /^\/r\/([^/]+)/.exec(path);
  if (!m) return '';
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`room.html has no #${id}`);
  return el;
}

// ?sound=original: the organiser's link for an interpreter's booth or a studio microphone.
export const media = new LocalMedia(quality, params.get('sound') === 'original');

const state = {
  /** @type {Phase} */
  phase: 'lobby',
  /** @type {Participant | null} */
  self: null,
  /** @type {import('./keys.js').Receipt | null} this browser's receipt of the latest record it countersigned */
  receipt: null,
  /** the latest record this page saw running: its media keys can still be saved once it stops */
  lastRecord: '',
  /** @type {Map<string, Participant>} everyone else, in join order */
  others: new Map(),
  micOn: true,
  camOn: true,
  sharing: false,
  /** @type {RemoteTrack[]} */
  remote: [],
  /** @type {'chat' | 'people' | null} */
  panel: null,
  /** @type {Viewer[]} WHEP players watching from outside (sent to moderators) */
  viewers: [],
  unread: 0,
  maxChat: 4000,
  /** @type {Signaling | null} */
  sig: null,
  /** @type {MediaSession | null} */
  session: null,
  /** a join that failed shows its error once */
  joinFailed: false,
  reconnecting: false,
  reconnectUntil: 0,
  reconnectAttempt: 0,
  /** @type {number | undefined} */
  reconnectTimer: undefined,
  /** @type {string} the secret that takes our seat back after a drop */
  resume: "",
  /** @type {Map<string, number>} participant id (or "self") -> last time it was loud */
  loudAt: new Map(),
  /** @type {number | undefined} */
  speakingTimer: undefined,
  /** @type {string | null} participant whose removal waits for a second click */
  confirmRemove: null,
  busy: { mic: false, cam: false, screen: false },
  name: '',
  /** @type {RoomInfo} */
  room: { name: roomName, languages: [], channels: {}, recording: null },
  /** the channel this client hears: `floor` or a room language */
  listening: 'floor',
  /** the channel this interpreter speaks into, '' for none */
  interpreting: '',
  duck: loadDuck(),
  /** @type {KeyResult | null} this browser's signing key, once known */
  key: null,
  /** countersign messages sent (all sessions of this page) */
  countersigned: 0,
  /** a `record` request waits for the room to say it records (or not) */
  recordPending: false,
  /** @type {number | undefined} */
  recordPendingTimer: undefined,
  /** @type {number | undefined} */
  leaveTimer: undefined,
  /** @type {E2EE | null} end-to-end encryption, when this page has a meeting passphrase */
  e2ee: null,
  /** the passphrase st.e2ee was started with (to notice a change in the lobby) */
  e2eePass: '',
  /** @type {Set<string>} participants whose frames have failed to decrypt for over 2 s */
  undecryptable: new Set(),
};

/** @typedef {typeof state} State */

/**
 * The page's state: read it anywhere; change it only with update(), which tsc enforces (st
 * is read-only to every module). Every change is then a call that names what it changes, and
 * a search for `update(` finds them all.
 * @type {Readonly<State>}
 */
export const st = state;

/**
 * Changes the page's state.
 * @param {Partial<State>} patch
 */
export function update(patch) {
  Object.assign(state, patch);
}

/** This browser's signing key for the token's identity, made or loaded at page load. */
export const keyReady = participantKey(claims)
  .catch((err) => /** @type {KeyResult} */ ({ key: null, problem: `the signing key could not be made (${errText(err)})`, reason: 'failed', error: errText(err) }))
  .then((k) => {
    update({ key: k });
    if (!k.key) console.warn('parley: joining without a signing key:', k.problem);
    renderRecording();
    return k;
  });

/** @returns {number} */
export function loadDuck() {
  try {
    const v = parseFloat(localStorage.getItem(DUCK_KEY) || '');
    return Number.isFinite(v) && v >= 0 && v <= 1 ? v : DEFAULT_DUCK;
  } catch {
    return DEFAULT_DUCK;
  }
}

/** @type {Map<string, {el: HTMLAudioElement, track: MediaStreamTrack}>} remote audio by sub mid */
export const audioEls = new Map();

/** @type {Stage} the tiles (made by start, once the page is there) */
export let stage;

/** @type {ChatLog} */
export let chatLog;

/**
 * Makes the stage and the chat log on the page's elements.
 * @param {HTMLElement} stageEl
 * @param {HTMLElement} chatEl
 */
export function initStage(stageEl, chatEl) {
  stage = new Stage(stageEl);
  chatLog = new ChatLog(chatEl);
}

/** @param {Phase} phase */
export function setPhase(phase) {
  update({ phase: phase });
  document.body.dataset.state = phase;
}

/** @param {'lobby' | 'connecting' | 'meeting' | 'ended'} view */
export function setView(view) {
  document.body.dataset.view = view;
  if (view === 'meeting') stage.scheduleLayout();
}

/** @returns {string[]} */
export function grants() {
  if (st.self && Array.isArray(st.self.grants)) return st.self.grants;
  return claims ? claims.grants : ['join', 'publish', 'subscribe'];
}

/** Camera and screen need `publish`. */
export function canPublish() {
  return grants().includes('publish');
}

/** The microphone needs `publish`, or `interpret` (an interpreter speaks into a channel). */
export function canSpeak() {
  return canPublish() || grants().includes('interpret');
}

/** Body classes that hide what the token does not allow. */
export function applyGrantClasses() {
  document.body.classList.toggle('listen-only', !canSpeak());
  document.body.classList.toggle('audio-only', canSpeak() && !canPublish());
}

/** Receiving media, and its captions, needs `subscribe`. */
export function canSubscribe() {
  return grants().includes('subscribe');
}

export function canModerate() {
  return grants().includes('moderate');
}

/** @returns {Participant[]} */
export function others() {
  return [...st.others.values()];
}

/**
 * @param {Participant | Who} p
 * @returns {string}
 */
export function displayName(p) {
  return (p && (p.name || p.identity)) || t('someone');
}

/**
 * Whether someone only listens: they may not speak and publish nothing.
 * @param {Participant} p
 * @returns {boolean}
 */
export function isListener(p) {
  const g = p.grants || [];
  return !g.includes('publish') && !g.includes('interpret') && !(p.tracks || []).length;
}

/**
 * @param {Participant} p
 * @param {string} source
 * @returns {PublishedTrack | undefined}
 */
export function published(p, source) {
  return (p.tracks || []).find((t) => t.source === source);
}

/** Whether the room records now. */
export function isRecording() {
  return !!(st.room.recording && st.room.recording.active);
}

export function canRecord() {
  return grants().includes('record');
}

/**
 * @param {unknown} err
 * @returns {string}
 */
export function errText(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * @param {Participant} p
 * @returns {Who}
 */
export function who(p) {
  return { id: p.id, identity: p.identity, name: p.name };
}

/**
 * Why this browser has no signing key, in the interface language.
 * @param {KeyResult} k
 * @returns {string}
 */
export function keyProblem(k) {
  if (k.key) return '';
  return k.reason ? t(/** @type {MessageId} */ (`key.${k.reason}`), { error: k.error || '' }) : k.problem;
}
