// The meeting page: lobby, meeting and end screens, wired to the signaling channel
// (signaling.js), the media connections (session.js) and local capture (media.js).
// The page is /r/ROOM?token=JWT[&autojoin=1][&quality=low|medium|high][#e2ee=PASSPHRASE].

import { Signaling, signalingURL, reconnectDelay } from './signaling.js';
import { MediaSession } from './session.js';
import { LocalMedia, describeMediaError } from './media.js';
import { decodeToken } from './token.js';
import { hydrateIcons, icon, LOGO } from './icons.js';
import { Stage, ChatLog, toast, avatar, initials, hueFor, h, keepOnScreen } from './ui.js';
import { participantKey, signStatement, isCheckpointStatement, statementHead, keepReceipt, loadReceipt } from './keys.js';
import { E2EE, transformAPI, passphraseFromFragment } from './e2ee.js';
import { CHAT_PREFIX } from './sframe.js';

/**
 * @typedef {{mid: string, source: string, kind: string, muted: boolean}} PublishedTrack
 * @typedef {{id: string, identity: string, name: string, grants?: string[],
 *            tracks?: PublishedTrack[], state?: string, listening?: string,
 *            interpreter?: {languages: string[], channel: string}, key?: string}} Participant
 * @typedef {{id: string, watcher: string, watched: string, since: string}} Viewer
 * @typedef {{active: boolean, record?: string, since?: string, by?: Who, [key: string]: any}} Recording
 * @typedef {{name: string, languages: string[],
 *            channels: Record<string, {interpreter: string, live: boolean}>,
 *            recording: Recording | null}} RoomInfo
 * @typedef {{id: string, identity: string, name: string}} Who
 * @typedef {import('./session.js').RemoteTrack} RemoteTrack
 * @typedef {import('./session.js').Source} Source
 * @typedef {import('./signaling.js').Message} Message
 * @typedef {import('./keys.js').KeyResult} KeyResult
 * @typedef {'lobby' | 'joining' | 'joined' | 'leaving' | 'left' | 'removed' | 'error'} Phase
 */

// ---- page parameters ----------------------------------------------------------------

const params = new URLSearchParams(location.search);
const roomName = roomFromPath(location.pathname);
/**
 * The token and the passphrase are secrets: the link that carried them must not stay in the
 * address bar (screen shares, shoulder surfers, history sync, a copied address). They move to
 * this tab's sessionStorage, which a reload or a reconnection reads and no other tab sees.
 */
const secrets = takeSecretsFromURL(roomName);
const token = secrets.token;
const claims = decodeToken(token);
const autojoin = params.get('autojoin') === '1';
/** `&relay=1` forces media through the TURN relay, as behind a firewall that allows nothing else. */
const relayOnly = params.get('relay') === '1';
/** A meeting passphrase for end-to-end encryption, from the fragment: it never reaches the server. */
// Kept for the tab's life: a reload must not join unencrypted.
const fragmentPassphrase = secrets.passphrase;
const qualityParam = params.get('quality');
const quality = qualityParam === 'low' || qualityParam === 'medium' || qualityParam === 'high' ? qualityParam : 'high';

/** Remote audio level (getStats audioLevel, 0..1) above which someone counts as speaking. */
const REMOTE_SPEAKING_LEVEL = 0.04;
/** Local microphone RMS above which you count as speaking. */
const LOCAL_SPEAKING_LEVEL = 0.02;
/** How long the speaking outline stays after the level drops, in ms. */
const SPEAKING_HOLD_MS = 700;
const NAME_KEY = 'parley.name';
const DUCK_KEY = 'parley.duck';
/** How loud the floor plays while the chosen language channel is live (0..1). */
const DEFAULT_DUCK = 0.2;
/** How long a leave in a recorded room waits for the server to close (and its last checkpoint). */
const LEAVE_DRAIN_MS = 3000;
/** How long `join` waits for the signing key before it goes without one. */
const KEY_WAIT_MS = 3000;
const CANT_DECRYPT = 'Can’t decrypt — different passphrase?';

/**
 * What a failed join means, in plain words: a title, what to do, and whether trying again
 * can work. The server's own sentence goes behind "Details".
 * @type {Record<string, {title: string, text: string, retry: boolean}>}
 */
const JOIN_ERRORS = {
  token_missing: { title: 'This link is incomplete', text: 'It has no access token. Ask the organiser for the full meeting link.', retry: false },
  token_invalid: { title: 'This link is not valid', text: 'It may have been copied incompletely or changed. Ask the organiser for a new link.', retry: false },
  token_expired: { title: 'This link has expired', text: 'Ask the organiser for a new link.', retry: false },
  token_revoked: { title: 'This link was withdrawn', text: 'Ask the organiser for a new link.', retry: false },
  wrong_room: { title: 'This link is for another meeting', text: 'Ask the organiser for the link to this meeting.', retry: false },
  forbidden: { title: 'You are not allowed in', text: 'Your link does not let you join this meeting. Ask the organiser.', retry: false },
  e2ee_required: { title: 'This meeting is end-to-end encrypted', text: 'Open your link again and join with end-to-end encryption on, using the meeting passphrase.', retry: false },
  room_full: { title: 'This meeting is full', text: 'Try again when someone leaves.', retry: true },
  server_full: { title: 'The server is busy', text: 'Try again in a minute.', retry: true },
  rate_limited: { title: 'Too many attempts', text: 'Wait a minute, then try again.', retry: true },
  shutting_down: { title: 'The server is restarting', text: 'Try again in a minute.', retry: true },
  duplicate_identity: { title: 'You are already in this meeting', text: 'Your link is in use in another tab or on another device. Leave there, then try again.', retry: true },
};

/**
 * Reads the token (`?token=`) and the E2EE passphrase (`#e2ee=`) from the address, keeps them in
 * sessionStorage for this room, and removes them from the address bar.
 * @param {string} room
 * @returns {{token: string, passphrase: string | null}}
 */
function takeSecretsFromURL(room) {
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
function roomFromPath(path) {
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
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`room.html has no #${id}`);
  return el;
}

// ---- state --------------------------------------------------------------------------

const media = new LocalMedia(quality);

const st = {
  /** @type {Phase} */
  phase: 'lobby',
  /** @type {Participant | null} */
  self: null,
  /** @type {import('./keys.js').Receipt | null} this browser's receipt of the latest record it countersigned */
  receipt: null,
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

/** This browser's signing key for the token's identity, made or loaded at page load. */
const keyReady = participantKey(claims)
  .catch((err) => /** @type {KeyResult} */ ({ key: null, problem: `the signing key could not be made (${errText(err)})` }))
  .then((k) => {
    st.key = k;
    if (!k.key) console.warn('parley: joining without a signing key:', k.problem);
    renderRecording();
    return k;
  });

/** @returns {number} */
function loadDuck() {
  try {
    const v = parseFloat(localStorage.getItem(DUCK_KEY) || '');
    return Number.isFinite(v) && v >= 0 && v <= 1 ? v : DEFAULT_DUCK;
  } catch {
    return DEFAULT_DUCK;
  }
}

/** @type {Map<string, {el: HTMLAudioElement, track: MediaStreamTrack}>} remote audio by sub mid */
const audioEls = new Map();

/** @type {Stage} */
let stage;
/** @type {ChatLog} */
let chatLog;

/** @param {Phase} phase */
function setPhase(phase) {
  st.phase = phase;
  document.body.dataset.state = phase;
}

/** @param {'lobby' | 'connecting' | 'meeting' | 'ended'} view */
function setView(view) {
  document.body.dataset.view = view;
  if (view === 'meeting') stage.scheduleLayout();
}

/** @returns {string[]} */
function grants() {
  if (st.self && Array.isArray(st.self.grants)) return st.self.grants;
  return claims ? claims.grants : ['join', 'publish', 'subscribe'];
}

/** Camera and screen need `publish`. */
function canPublish() {
  return grants().includes('publish');
}

/** The microphone needs `publish`, or `interpret` (an interpreter speaks into a channel). */
function canSpeak() {
  return canPublish() || grants().includes('interpret');
}

/** Body classes that hide what the token does not allow. */
function applyGrantClasses() {
  document.body.classList.toggle('listen-only', !canSpeak());
  document.body.classList.toggle('audio-only', canSpeak() && !canPublish());
}

function canModerate() {
  return grants().includes('moderate');
}

/** @returns {Participant[]} */
function others() {
  return [...st.others.values()];
}

/**
 * @param {Participant | Who} p
 * @returns {string}
 */
function displayName(p) {
  return (p && (p.name || p.identity)) || 'Someone';
}

/**
 * Whether someone only listens: they may not speak and publish nothing.
 * @param {Participant} p
 * @returns {boolean}
 */
function isListener(p) {
  const g = p.grants || [];
  return !g.includes('publish') && !g.includes('interpret') && !(p.tracks || []).length;
}

/**
 * @param {Participant} p
 * @param {string} source
 * @returns {PublishedTrack | undefined}
 */
function published(p, source) {
  return (p.tracks || []).find((t) => t.source === source);
}

// ---- lobby --------------------------------------------------------------------------

function initLobby() {
  $('lobby-room').textContent = roomName || 'Meeting';
  $('room-name').textContent = roomName;
  $('meeting-title').textContent = roomName ? `Meeting ${roomName}` : 'Meeting';
  document.title = roomName ? `${roomName} · Parley` : 'Parley';

  const invite = !!(claims && claims.invite);
  let stored = '';
  try {
    stored = localStorage.getItem(NAME_KEY) || '';
  } catch {
    stored = '';
  }
  const input = /** @type {HTMLInputElement} */ ($('name-input'));
  if (invite) {
    $('name-field').hidden = false;
    input.value = stored || '';
    input.addEventListener('input', () => {
      st.name = input.value.trim();
      if (st.name) showNameError(false);
      renderLobbyName();
    });
  } else if (claims) {
    const who = $('joining-as');
    who.hidden = false;
    who.replaceChildren('Joining as ', h('strong', { text: (claims && (claims.name || claims.sub)) || 'guest' }));
  }
  st.name = invite ? input.value.trim() : (claims && claims.name) || '';

  const problem = linkProblem();
  if (problem) {
    const p = JOIN_ERRORS[problem];
    $('token-notice').hidden = false;
    $('token-notice-title').textContent = p.title;
    $('token-notice-text').textContent = p.text;
    // Nothing here can work: offer no button that pretends otherwise.
    for (const id of ['join-btn', 'name-field', 'e2ee-lobby', 'joining-as']) $(id).hidden = true;
    document.body.classList.add('dead-link');
  }

  const sub = $('lobby-sub');
  applyGrantClasses();
  if (!canSpeak()) {
    sub.textContent = 'Your link lets you watch and listen. Your camera and microphone stay off.';
  } else if (!canPublish()) {
    st.camOn = false;
    sub.textContent = 'You join as an interpreter, with your microphone only. Check it before you go in.';
  } else {
    sub.textContent = 'Check your camera and microphone before you go in.';
  }

  $('lobby-mic').addEventListener('click', () => toggleMic());
  $('lobby-cam').addEventListener('click', () => toggleCam());
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    media.resumeAudio();
    if (linkProblem()) return;
    if (invite && !st.name) {
      // Say why nothing happened, where the eye and a screen reader look.
      showNameError(true);
      input.focus();
      input.classList.add('invalid');
      setTimeout(() => input.classList.remove('invalid'), 1200);
      return;
    }
    if (!applyLobbyE2EE()) return;
    if (invite) {
      try {
        localStorage.setItem(NAME_KEY, st.name);
      } catch {
        /* private mode */
      }
    }
    setPhase('joining');
    joinWhenKeysReady();
  });

  for (const [sel, kind] of /** @type {const} */ ([['sel-mic', 'mic'], ['sel-camera', 'camera'], ['sel-speaker', 'speaker']])) {
    $(sel).addEventListener('change', (ev) => chooseDevice(kind, /** @type {HTMLSelectElement} */ (ev.target).value));
  }
  if (navigator.mediaDevices && 'ondevicechange' in navigator.mediaDevices) {
    navigator.mediaDevices.addEventListener('devicechange', async () => {
      await media.enumerate();
      renderDevices();
    });
  }

  initLobbyE2EE();
  renderLobbyName();
  renderLobbyMedia();
  lobbyMeter();
}

/**
 * What is wrong with this page's link that the page can tell by itself, as a JOIN_ERRORS code.
 * @returns {string | null}
 */
function linkProblem() {
  if (!token) return 'token_missing';
  if (!claims) return 'token_invalid';
  if (claims.exp && claims.exp < Date.now() / 1000) return 'token_expired';
  if (claims.room && roomName && claims.room !== roomName) return 'wrong_room';
  return null;
}

/** @param {boolean} on */
function showNameError(on) {
  const input = $('name-input');
  $('name-error').hidden = !on;
  if (on) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// ---- end-to-end encryption ----------------------------------------------------------

/**
 * Starts end-to-end encryption with a passphrase: the key derivation begins in the worker now.
 * @param {string} passphrase
 * @returns {string | null} why it cannot start, or null
 */
function startE2EE(passphrase) {
  if (st.e2ee && st.e2eePass === passphrase) return null;
  stopE2EE();
  try {
    st.e2ee = new E2EE(roomName, onE2EEStatus, sendE2EE);
  } catch (err) {
    return `This browser cannot encrypt media end to end (${errText(err)}). Use a current Chrome, Edge, Firefox or Safari.`;
  }
  st.e2eePass = passphrase;
  st.e2ee.start(passphrase).catch(() => {});
  return null;
}

/**
 * Sends one key exchange message of the worker's through the server.
 * @param {string} to a participant id, or '' for everyone else
 * @param {string} data
 */
function sendE2EE(to, data) {
  if (!st.sig || st.phase !== 'joined') return;
  /** @type {Record<string, string>} */
  const msg = { type: 'e2ee', data };
  if (to) msg.to = to;
  st.sig.send(msg);
}

/** Tells the worker who else is in the room: its key exchange follows the roster. */
function syncE2EERoster() {
  if (st.e2ee) st.e2ee.setRoster([...st.others.values()]);
}

/** Tells the worker who this page is, with the identity key that signs its key exchange. */
function startE2EEExchange() {
  const e2ee = st.e2ee;
  const self = st.self;
  if (!e2ee || !self) return;
  keyReady.then((k) => {
    if (st.e2ee === e2ee && st.self === self && k.key) e2ee.setSelf(self.id, self.identity, k.key.publicKey, k.key.pair.privateKey);
  });
}

function stopE2EE() {
  if (st.e2ee) st.e2ee.close();
  st.e2ee = null;
  st.e2eePass = '';
  st.undecryptable = new Set();
}

/** The lobby's "End-to-end encryption" switch and passphrase field. */
function initLobbyE2EE() {
  const toggle = /** @type {HTMLInputElement} */ ($('e2ee-toggle'));
  const pass = /** @type {HTMLInputElement} */ ($('e2ee-pass'));
  const show = $('e2ee-show');
  const supported = !!transformAPI();
  if (!supported) {
    toggle.disabled = true;
    $('e2ee-sub').textContent = 'This browser cannot encrypt media end to end.';
  }
  if (fragmentPassphrase !== null) {
    toggle.checked = supported;
    pass.value = fragmentPassphrase;
    $('e2ee-from-link').hidden = !supported;
    if (!supported) {
      $('token-notice').hidden = false;
      $('token-notice-text').textContent =
        'This link is for an end-to-end encrypted meeting, but this browser cannot encrypt media end to end. Use a current Chrome, Edge, Firefox or Safari.';
    }
  }
  const sync = () => {
    $('e2ee-pass-field').hidden = !toggle.checked;
    $('e2ee-lobby').classList.toggle('on', toggle.checked);
    $('fineprint-text').textContent = toggle.checked
      ? 'Media is encrypted end to end with the meeting passphrase: the server forwards and records only ciphertext.'
      : 'Media is encrypted in transit. Nothing is recorded unless the room says so.';
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
    const label = visible ? 'Hide passphrase' : 'Show passphrase';
    show.setAttribute('aria-label', label);
    show.title = label;
    const holder = /** @type {HTMLElement} */ (show.querySelector('[data-icon]'));
    holder.dataset.icon = visible ? 'eyeOff' : 'eye';
    holder.replaceChildren(icon(holder.dataset.icon));
  });
  sync();
}

/**
 * Applies the lobby's encryption choice before joining.
 * @returns {boolean} whether to go on and join
 */
function applyLobbyE2EE() {
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
async function joinWhenKeysReady() {
  const e2ee = st.e2ee;
  if (e2ee) {
    try {
      await e2ee.ready;
    } catch (err) {
      fail(`End-to-end encryption could not start: ${errText(err)}. Nothing was sent.`);
      return;
    }
    if (st.e2ee !== e2ee) return;
    // The identity key signs this browser's media keys: without it no one could tell them apart.
    const k = await keyReady;
    if (!k.key) {
      fail(`End-to-end encryption needs a signing key, and this browser has none: ${k.problem}. Nothing was sent.`);
      return;
    }
    if (st.e2ee !== e2ee) return;
  }
  join();
}

/** The members whose signed keys the worker held at its last report. */
let lastKeyed = '';

/**
 * What the encryption worker reports, twice a second.
 * @param {import('./e2ee.js').E2EEStatus} s
 */
function onE2EEStatus(s) {
  /** @type {Set<string>} */
  const ids = new Set();
  const session = st.session;
  if (session) {
    for (const mid of s.failing) {
      const owner = session.subTracks[mid];
      if (owner && owner.participant) ids.add(owner.participant);
    }
  }
  const epoch = document.getElementById('e2ee-epoch');
  if (epoch) epoch.textContent = String(s.epoch);
  const keyed = s.keyed.slice().sort().join(' ');
  if (ids.size !== st.undecryptable.size || [...ids].some((id) => !st.undecryptable.has(id))) {
    st.undecryptable = ids;
    renderMedia();
    renderPeople();
  } else if (keyed !== lastKeyed) {
    renderPeople();
  }
  lastKeyed = keyed;
}

/** The meeting bar's "End-to-end encrypted" badge. */
function renderE2EE() {
  const on = !!st.e2ee && (st.phase === 'joined' || st.phase === 'joining');
  $('e2ee-anchor').hidden = !on;
  if (!on) closeE2EEPopover();
  if (st.e2ee) $('e2ee-epoch').textContent = String(st.e2ee.status.epoch);
}

function toggleE2EEPopover() {
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

function closeE2EEPopover() {
  const pop = document.getElementById('e2ee-pop');
  if (!pop || pop.hidden) return;
  pop.hidden = true;
  $('e2ee-pill').setAttribute('aria-expanded', 'false');
}

function renderLobbyName() {
  const name = st.name || (claims && (claims.name || claims.sub)) || '';
  $('preview-name').textContent = name;
  const av = $('preview-avatar');
  av.textContent = initials(name);
  av.style.setProperty('--hue', String(hueFor((claims && claims.sub) || name)));
}

/** Shows the camera preview and the state of the lobby toggles. */
function renderLobbyMedia() {
  const video = /** @type {HTMLVideoElement} */ ($('preview-video'));
  const cam = st.camOn ? media.camera : null;
  const current = /** @type {MediaStream | null} */ (video.srcObject);
  if (!cam) video.srcObject = null;
  else if (!current || current.getVideoTracks()[0] !== cam) video.srcObject = new MediaStream([cam]);
  $('preview').classList.toggle('has-video', !!cam);
  $('lobby-meter').hidden = !media.mic;
  $('preview-off-text').textContent = !canSpeak()
    ? 'Listening only'
    : !canPublish()
      ? 'Microphone only'
      : media.camera || !st.camOn
      ? 'Camera is off'
      : media.devices.camera.length
        ? 'Camera is starting…'
        : 'No camera';
  updateControls();
}

/** Fills the device menus. */
function renderDevices() {
  /**
   * @param {string} id
   * @param {MediaDeviceInfo[]} list
   * @param {string | undefined} current
   * @param {string} none
   */
  const fill = (id, list, current, none) => {
    const sel = /** @type {HTMLSelectElement} */ ($(id));
    sel.replaceChildren();
    if (!list.length) {
      sel.append(h('option', { text: none, attrs: { value: '' } }));
      sel.disabled = true;
      return;
    }
    sel.disabled = false;
    list.forEach((d, i) => {
      const o = h('option', { text: d.label || `${none.replace(/^No /, '')} ${i + 1}`, attrs: { value: d.deviceId } });
      sel.append(o);
    });
    if (current && list.some((d) => d.deviceId === current)) sel.value = current;
  };
  const micId = media.mic ? media.mic.getSettings().deviceId : media.prefs.mic;
  const camId = media.camera ? media.camera.getSettings().deviceId : media.prefs.camera;
  fill('sel-mic', media.devices.mic, micId, 'No microphone');
  fill('sel-camera', media.devices.camera, camId, 'No camera');
  fill('sel-speaker', media.devices.speaker, media.prefs.speaker, 'Default speaker');
  $('speaker-wrap').hidden = !LocalMedia.canChooseSpeaker || !media.devices.speaker.length;
}

/**
 * @param {'mic' | 'camera' | 'speaker'} kind
 * @param {string} deviceId
 */
async function chooseDevice(kind, deviceId) {
  if (!deviceId) return;
  try {
    if (kind === 'speaker') {
      media.prefs.speaker = deviceId;
      media.savePrefs();
      for (const { el } of audioEls.values()) await setSink(el);
      return;
    }
    const track = await media.choose(kind, deviceId);
    if (track && st.session) await st.session.replaceTrack(kind, track);
  } catch (err) {
    toast(describeMediaError(err, kind === 'mic' ? 'microphone' : 'camera'), { kind: 'error' });
  }
  renderLobbyMedia();
  renderMedia();
}

/** @param {HTMLMediaElement} el */
async function setSink(el) {
  const sink = media.prefs.speaker;
  const anyEl = /** @type {any} */ (el);
  if (sink && typeof anyEl.setSinkId === 'function') {
    try {
      await anyEl.setSinkId(sink);
    } catch {
      /* the device went away; keep the default */
    }
  }
}

/** Animates the lobby's microphone meter. */
function lobbyMeter() {
  const bars = [...$('lobby-meter').children];
  let lit = -1;
  const step = () => {
    if (document.body.dataset.view !== 'lobby') {
      requestAnimationFrame(step);
      return;
    }
    const level = media.level();
    const db = level > 0 ? 20 * Math.log10(level) : -100;
    const n = Math.max(0, Math.min(bars.length, Math.round((db + 50) / 8)));
    if (n !== lit) {
      lit = n;
      bars.forEach((b, i) => b.classList.toggle('on', i < n));
    }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

/**
 * Starts the camera and microphone for the lobby or an automatic join.
 * @returns {Promise<void>}
 */
async function startLocalMedia() {
  if (!canSpeak()) {
    await media.enumerate();
    renderDevices();
    return;
  }
  if (!canPublish()) st.camOn = false;
  const { notice } = await media.start({ audio: true, video: st.camOn });
  if (media.mic) media.mic.enabled = st.micOn;
  if (!media.camera) st.camOn = false;
  if (!media.mic) st.micOn = false;
  const box = $('media-notice');
  if (notice) {
    box.hidden = false;
    const listenOnly = !media.mic && !media.camera;
    $('media-notice-text').textContent = notice + (listenOnly ? ' You can still join to watch and listen.' : '');
  } else {
    box.hidden = true;
  }
  renderDevices();
  renderLobbyMedia();
}

// ---- joining ------------------------------------------------------------------------

/** Opens the signaling channel and sends `join`. */
async function join() {
  if (st.sig) return;
  clearTimeout(st.reconnectTimer);
  st.joinFailed = false;
  setPhase('joining');
  if (!st.reconnecting && document.body.dataset.view !== 'lobby') {
    $('connecting-text').textContent = `Joining ${roomName || 'the meeting'}…`;
    setView('connecting');
  }
  const sig = new Signaling(signalingURL());
  st.sig = sig;
  wire(sig);
  try {
    await sig.connect();
  } catch {
    if (st.sig !== sig) return;
    st.sig = null;
    if (st.reconnecting) scheduleReconnect();
    else fail('Parley could not reach the server. Check your connection and try again.');
    return;
  }
  if (st.sig !== sig) return;
  /** @type {Record<string, any>} */
  const msg = { type: 'join', version: 1, room: roomName, token };
  const name = st.name || (claims && claims.name) || '';
  if (name) msg.name = name;
  // Take our seat back after a drop (invite guests get a new identity otherwise).
  if (st.resume) msg.resume = st.resume;
  if (st.e2ee) msg.e2ee = true; // rooms that require end-to-end encryption admit only such joins
  const key = await Promise.race([keyReady, new Promise((resolve) => setTimeout(resolve, KEY_WAIT_MS, null))]);
  if (st.sig !== sig) return;
  if (key && key.key) msg.key = key.key.publicKey;
  else if (!key) console.warn('parley: the signing key is not ready; joining without it');
  sig.send(msg);
}

/** @param {Signaling} sig */
function wire(sig) {
  /**
   * Registers a handler that ignores messages from a socket that is no longer current.
   * @param {string} type
   * @param {(msg: any) => void} fn
   */
  const on = (type, fn) => sig.on(type, (msg) => {
    if (st.sig === sig && st.phase !== 'leaving') fn(msg);
  });
  on('welcome', onWelcome);
  // Errors and checkpoints still matter while a leave waits for the server to close.
  sig.on('error', (msg) => {
    if (st.sig === sig) onError(msg);
  });
  sig.on('checkpoint', (msg) => {
    if (st.sig === sig) countersign(sig, msg);
  });
  on('offer', (msg) => {
    if (msg.pc !== 'sub') return;
    if (st.session) st.session.handleOffer(msg).catch((err) => toast(`Receiving media failed: ${err.message}`, { kind: 'error' }));
  });
  on('answer', (msg) => st.session && st.session.handleAnswer(msg));
  on('candidate', (msg) => st.session && st.session.handleCandidate(msg));
  on('participant-joined', (msg) => {
    const p = /** @type {Participant} */ (msg.participant);
    if (!p || !p.id || (st.self && p.id === st.self.id)) return;
    const isNew = !st.others.has(p.id);
    st.others.set(p.id, p);
    syncE2EERoster();
    if (isNew) chatLog.system(`${displayName(p)} joined`);
    renderAll();
  });
  on('participant-updated', (msg) => {
    const p = /** @type {Participant} */ (msg.participant);
    if (!p || !p.id) return;
    if (st.self && p.id === st.self.id) {
      st.self = { ...st.self, ...p };
      if (typeof p.listening === 'string') st.listening = p.listening;
      if (p.interpreter) st.interpreting = p.interpreter.channel || '';
      applyVolumes();
      renderLanguage();
    } else {
      st.others.set(p.id, p);
      syncE2EERoster();
    }
    renderAll();
  });
  on('room-updated', (msg) => {
    const before = st.room.recording;
    st.room = normalizeRoom(msg.room);
    announceRecording(before, st.room.recording);
    applyVolumes();
    renderLanguage();
    renderPeople();
  });
  on('participant-left', (msg) => {
    const p = st.others.get(msg.id);
    if (!p) return;
    st.others.delete(msg.id);
    // Everyone renews their media key without them (e2ee-worker.js).
    syncE2EERoster();
    st.loudAt.delete(msg.id);
    const why = msg.reason === 'removed' ? 'was removed' : msg.reason === 'disconnected' ? 'lost connection' : 'left';
    if (msg.reason !== 'replaced') {
      chatLog.system(`${displayName(p)} ${why}`);
      toast(`${displayName(p)} ${why}`, { timeout: 3000 });
    }
    renderAll();
  });
  on('chat', onChat);
  on('e2ee', (msg) => {
    if (st.e2ee && msg.from && typeof msg.data === 'string') st.e2ee.receive(msg.from, msg.data);
  });
  on('viewers', (msg) => {
    st.viewers = Array.isArray(msg.viewers) ? msg.viewers : [];
    renderPeople();
  });
  on('muted', (msg) => onModeratorMute(msg.source, msg.by));
  on('removed', (msg) => {
    const by = msg.by ? displayName(msg.by) : 'a moderator';
    // A removed page forgets the meeting's keys (the others renew theirs without it anyway).
    if (!keepKeysAfterRemoval) stopE2EE();
    end('removed', `You were removed by ${by}`, 'A moderator removed you from this meeting.');
  });
  sig.onclose = (ev) => {
    if (st.sig !== sig) return;
    st.sig = null;
    onSocketClosed(ev);
  };
}

/** @param {any} msg */
function onWelcome(msg) {
  const sig = st.sig;
  if (!sig) return;
  const wasReconnecting = st.reconnecting;
  st.reconnecting = false;
  st.reconnectAttempt = 0;
  $('reconnecting').hidden = true;
  st.self = msg.self;
  if (typeof msg.resume === 'string') st.resume = msg.resume;
  st.others = new Map();
  for (const p of msg.participants || []) if (p && p.id) st.others.set(p.id, p);
  syncE2EERoster();
  startE2EEExchange();
  if (msg.limits && typeof msg.limits.maxChatChars === 'number') {
    st.maxChat = msg.limits.maxChatChars;
    /** @type {HTMLTextAreaElement} */ ($('chat-input')).maxLength = st.maxChat;
  }
  if (msg.room && msg.room.name) $('room-name').textContent = msg.room.name;
  if (st.session) st.session.close();
  lastLayout = '';
  st.session = new MediaSession(sig, {
    transforms: st.e2ee,
    videoCodec: msg.room && typeof msg.room.codec === 'string' ? msg.room.codec : '',
    iceTransportPolicy: relayOnly ? 'relay' : 'all',
    iceServers: Array.isArray(msg.iceServers)
      ? msg.iceServers.filter((/** @type {any} */ s) => s && (typeof s.urls === 'string' ? s.urls : Array.isArray(s.urls) && s.urls.length))
      : [],
    onRemoteTracks: (tracks) => {
      st.remote = tracks;
      renderMedia();
    },
    onConnectionState: (pc, state) => watchMedia(sig, pc, state),
  });
  applyGrantClasses();
  const recordingBefore = wasReconnecting ? st.room.recording : null;
  st.room = normalizeRoom(msg.room);
  announceRecording(recordingBefore, st.room.recording, true);
  st.listening = (st.self && st.self.listening) || 'floor';
  st.interpreting = (st.self && st.self.interpreter && st.self.interpreter.channel) || '';
  setPhase('joined');
  setView('meeting');
  chatLog.system(wasReconnecting ? 'Reconnected' : `You joined ${roomName || 'the meeting'}`);
  renderAll();
  startSpeakingLoop();
  publishLocal();
}

/** Publishes the microphone and camera on a new pub connection. */
async function publishLocal() {
  const session = st.session;
  if (!session || !canSpeak()) return;
  /** @type {import('./session.js').PublishEntry[]} */
  const entries = [];
  if (media.mic) {
    media.mic.enabled = st.micOn;
    entries.push({ source: 'mic', kind: 'audio', track: media.mic, stream: media.stream });
  }
  if (canPublish() && (media.camera || media.devices.camera.length)) {
    entries.push({ source: 'camera', kind: 'video', track: st.camOn ? media.camera : null, stream: media.stream });
  }
  if (!entries.length) return;
  try {
    await session.publish(entries);
  } catch (err) {
    if (st.session === session) toast(`Your camera and microphone could not be published: ${errText(err)}`, { kind: 'error' });
    return;
  }
  if (st.session !== session || !st.sig) return;
  if (media.mic && !st.micOn) st.sig.send({ type: 'mute', source: 'mic', muted: true });
  if (entries.some((e) => e.source === 'camera' && !e.track)) st.sig.send({ type: 'mute', source: 'camera', muted: true });
  if (st.sharing && media.screen && !session.hasSource('screen')) {
    session.addSource({ source: 'screen', kind: 'video', track: media.screen, stream: media.screenStream }).catch(() => {});
  }
}

/** @param {any} msg */
function onError(msg) {
  parleyTest.errors.push(msg);
  if (msg.ref === 'record') setRecordPending(false);
  if (st.phase === 'leaving') return;
  const raw = typeof msg.message === 'string' && msg.message ? msg.message : `The server reported an error (${msg.code}).`;
  const text = raw.charAt(0).toUpperCase() + raw.slice(1);
  if (st.phase === 'joining') {
    st.joinFailed = true;
    st.reconnecting = false;
    fail(text, msg.code);
    return;
  }
  if (msg.code === 'replaced') {
    end('error', 'You joined from somewhere else', 'This meeting is open in another tab or on another device. You can rejoin here.');
    return;
  }
  if (msg.ref === 'offer' && st.session) st.session.pubOfferFailed(text);
  toast(text, { kind: 'error', iconName: 'alert' });
}

/** @param {CloseEvent} ev */
function onSocketClosed(ev) {
  if (st.phase === 'leaving') {
    finishLeave();
    return;
  }
  if (st.phase === 'joined') {
    // Errors that end a session (removed, replaced, join errors) arrive before the close and
    // have already torn it down. Any other close is the network or a server restart: try to get
    // the seat back, unless the server said the client broke the protocol.
    if (![1003, 1007, 1008, 1009].includes(ev.code) && ev.code < 4000) {
      startReconnect();
    } else {
      end('error', 'You were disconnected', ev.reason ? `The server closed the connection: ${ev.reason}` : 'The server closed the connection.');
    }
    return;
  }
  if (st.phase === 'joining') {
    if (st.joinFailed) return;
    if (st.reconnecting) scheduleReconnect();
    else fail('The server closed the connection before you could join.');
  }
}

/** @type {Record<string, number>} per connection: when it went down, 0 while it is up */
const mediaDown = { pub: 0, sub: 0 };
/** how long media may be down while signaling lives before the session starts afresh */
const MEDIA_DOWN_MS = 6000;

/**
 * Media can fail while the signaling socket lives (a UDP-only outage). ICE restarts are the
 * first remedy (session.js restarts pub's); if a connection stays down, a fresh session takes
 * the seat back with new connections, as after a network drop.
 * @param {Signaling} sig
 * @param {'pub' | 'sub'} pc
 * @param {RTCPeerConnectionState} state
 */
function watchMedia(sig, pc, state) {
  if (state !== 'disconnected' && state !== 'failed') {
    mediaDown[pc] = 0;
    return;
  }
  if (mediaDown[pc]) return;
  const since = (mediaDown[pc] = Date.now());
  window.setTimeout(() => {
    if (mediaDown[pc] === since && st.sig === sig && st.phase === 'joined') sig.drop(`the ${pc} connection stayed ${state}`);
  }, MEDIA_DOWN_MS);
}

function startReconnect() {
  mediaDown.pub = mediaDown.sub = 0;
  closeSession();
  st.reconnecting = true;
  st.reconnectUntil = Date.now() + 60000;
  st.reconnectAttempt = 0;
  setPhase('joining');
  $('reconnecting').hidden = false;
  scheduleReconnect();
}

function scheduleReconnect() {
  if (Date.now() > st.reconnectUntil) {
    st.reconnecting = false;
    end('error', 'Connection lost', 'Parley could not reconnect to the server. Check your connection, then rejoin.');
    return;
  }
  const delay = reconnectDelay(st.reconnectAttempt++, Date.now() - (st.reconnectUntil - 60000));
  clearTimeout(st.reconnectTimer);
  st.reconnectTimer = window.setTimeout(() => join(), delay);
}

/**
 * The join failed: shows the full-page error.
 * @param {string} text
 * @param {string} [code]
 */
function fail(text, code) {
  const known = code ? JOIN_ERRORS[code] : undefined;
  if (known) end('error', known.title, known.text, { detail: text, retry: known.retry });
  else end('error', 'Can’t join this meeting', text, { retry: true });
}

// ---- leaving ------------------------------------------------------------------------

function leave() {
  const sig = st.sig;
  const sent = !!sig && st.phase === 'joined' && sig.send({ type: 'leave' });
  if (!sent || !isRecording() || !(st.key && st.key.key)) {
    finishLeave(true);
    return;
  }
  // A recorded room: the server sends a last checkpoint and closes the socket within 3 s.
  // Everything else stops now; the socket stays open to countersign that checkpoint.
  setPhase('leaving');
  closeRecordPopover();
  closeRecordConfirm();
  closeSession();
  if (st.sharing) stopScreen();
  media.stopAll();
  if (stage) stage.retain(() => false);
  closePanel();
  $('connecting-text').textContent = 'Leaving… your browser is countersigning the record';
  setView('connecting');
  clearTimeout(st.leaveTimer);
  st.leaveTimer = window.setTimeout(() => finishLeave(), LEAVE_DRAIN_MS);
}

/**
 * Shows the left screen (closing the socket if the server has not).
 * @param {boolean} [now] leave without waiting (not recorded, or not joined)
 */
function finishLeave(now = false) {
  if (!now && st.phase !== 'leaving') return;
  clearTimeout(st.leaveTimer);
  const recorded = isRecording();
  let text = roomName ? `Room “${roomName}”` : '';
  if (recorded && st.countersigned) {
    const n = st.countersigned;
    text += `${text ? '. ' : ''}Your browser countersigned ${n} checkpoint${n === 1 ? '' : 's'} of the meeting’s record.`;
  }
  end('left', 'You left the meeting', text);
}

/**
 * Tears the meeting down and shows an end screen.
 * @param {'left' | 'removed' | 'error'} phase
 * @param {string} title
 * @param {string} text
 * @param {{detail?: string, retry?: boolean}} [opts] the technical detail behind a toggle;
 *   whether joining again can work (by default it can, unless removed)
 */
function end(phase, title, text, opts = {}) {
  clearTimeout(st.reconnectTimer);
  clearTimeout(st.leaveTimer);
  closeRecordPopover();
  closeRecordConfirm();
  closeE2EEPopover();
  closeMoreMenu();
  setRecordPending(false);
  for (const t of document.querySelectorAll('#toasts [data-group="recording"]')) t.remove();
  st.reconnecting = false;
  $('reconnecting').hidden = true;
  closeSession();
  if (st.sig) {
    const sig = st.sig;
    st.sig = null;
    // Let a queued `leave` go out before the close frame.
    setTimeout(() => sig.close(), 50);
  }
  if (st.sharing) stopScreen();
  media.stopAll();
  st.others.clear();
  st.self = null;
  st.remote = [];
  if (stage) stage.retain(() => false);
  closePanel();
  setPhase(phase);
  renderE2EE();
  setView('ended');
  $('end-title').textContent = title;
  $('end-text').textContent = text;
  $('end-icon').replaceChildren(icon(phase === 'left' ? 'wave' : phase === 'removed' ? 'removeUser' : 'alert'));
  $('end-icon').className = `end-icon end-${phase}`;
  const detail = opts.detail && opts.detail !== text ? opts.detail : '';
  $('end-details').hidden = !detail;
  $('end-detail-text').textContent = detail;
  const retry = phase !== 'removed' && opts.retry !== false;
  $('rejoin-btn').hidden = !retry;
  $('rejoin-text').textContent = phase === 'error' ? 'Try again' : 'Rejoin';
  // Without a retry, the way home is the page's one action.
  $('end-home').className = retry ? 'btn btn-ghost' : 'btn btn-primary';
  (retry ? $('rejoin-btn') : $('end-home')).focus();
}

function closeSession() {
  clearInterval(st.speakingTimer);
  if (st.session) st.session.close();
  st.session = null;
  st.remote = [];
  for (const { el } of audioEls.values()) {
    el.srcObject = null;
    el.remove();
  }
  audioEls.clear();
  $('audio-unlock').hidden = true;
}

async function rejoin() {
  $('connecting-text').textContent = `Joining ${roomName || 'the meeting'}…`;
  setView('connecting');
  setPhase('joining');
  await startLocalMedia();
  joinWhenKeysReady();
}

// ---- meeting: rendering -------------------------------------------------------------

function renderAll() {
  renderE2EE();
  renderMedia();
  renderPeople();
  updateControls();
}

/** Builds the tiles and the audio elements from the participants and the sub tracks. */
function renderMedia() {
  if (!st.self || !stage) return;
  /** @type {Map<string, RemoteTrack[]>} */
  const byOwner = new Map();
  for (const t of st.remote) {
    const list = byOwner.get(t.participant) || [];
    list.push(t);
    byOwner.set(t.participant, list);
    if (t.kind === 'video' && !t.track.onunmute) {
      t.track.onunmute = () => renderMedia();
      t.track.onmute = () => renderMedia();
    }
  }
  /** @type {string[]} */
  const screens = [];
  /** @type {string[]} */
  const cams = [];
  let listeners = canSpeak() ? 0 : 1;
  for (const p of others()) {
    const mine = byOwner.get(p.id) || [];
    // Someone who only listens gets no tile of their own: the chip counts them.
    if (isListener(p) && !mine.length) {
      listeners++;
      continue;
    }
    const cam = mine.find((t) => t.source === 'camera');
    const camInfo = published(p, 'camera');
    const micInfo = published(p, 'mic');
    const tile = stage.tile(`${p.id}:camera`, {});
    tile.setName(displayName(p), p.identity || p.id);
    // Undecryptable video would stay black: show the avatar under the notice instead.
    const undecryptable = st.undecryptable.has(p.id);
    tile.setTrack(cam && !(camInfo && camInfo.muted) && !cam.track.muted && !undecryptable ? cam.track : null);
    tile.setMicOff(!micInfo || micInfo.muted);
    tile.setReconnecting(p.state === 'reconnecting');
    tile.setNotice(undecryptable ? CANT_DECRYPT : null);
    cams.push(tile.key);
    const scr = mine.find((t) => t.source === 'screen');
    const scrInfo = published(p, 'screen');
    if (scr && !(scrInfo && scrInfo.muted)) {
      const s = stage.tile(`${p.id}:screen`, { screen: true });
      s.setName(displayName(p), p.identity || p.id);
      s.setTrack(scr.track);
      s.setMicOff(false);
      s.setNotice(st.undecryptable.has(p.id) ? CANT_DECRYPT : null);
      screens.push(s.key);
    }
  }
  if (canSpeak()) {
    const self = stage.tile('self:camera', { self: true });
    self.setName(displayName(st.self), st.self.identity || 'self');
    self.setTrack(st.camOn && media.camera ? media.camera : null);
    self.setMicOff(!st.micOn || !media.mic);
  }
  if (st.sharing && media.screen) {
    const s = stage.tile('self:screen', { self: true, screen: true });
    s.setName(displayName(st.self), st.self.identity || 'self');
    s.setTrack(media.screen);
    s.setMicOff(false);
    screens.push(s.key);
  }
  const order = [...screens, ...cams, ...(canSpeak() ? ['self:camera'] : [])];
  $('alone').hidden = st.others.size > 0;
  const chip = $('listeners-chip');
  chip.hidden = listeners === 0 || st.others.size === 0;
  $('listeners-text').textContent = `${listeners} listening`;
  chip.setAttribute('aria-label', `${listeners} listening only: show participants`);
  renderLanguage();
  stage.retain((k) => order.includes(k));
  stage.setOrder(order);
  syncAudio();
  scheduleLayoutReport();
}

// ---- layout report: the server sends each video at the size it is drawn ------------

let layoutTimer = 0;
let lastLayout = '';

function scheduleLayoutReport() {
  clearTimeout(layoutTimer);
  layoutTimer = window.setTimeout(reportLayout, 250);
}

/** Tells the server how large each received video is drawn (0x0: not shown). */
function reportLayout() {
  if (!st.sig || !stage || st.phase !== 'joined') return;
  const dpr = window.devicePixelRatio || 1;
  const shown = document.visibilityState !== 'hidden';
  /** @type {Record<string, {width: number, height: number}>} */
  const tracks = {};
  for (const t of st.remote) {
    if (t.kind !== 'video' || !t.mid) continue;
    const tile = stage.tiles.get(`${t.participant}:${t.source}`);
    let width = 0;
    let height = 0;
    if (shown && tile && !tile.el.hidden && tile.track === t.track) {
      width = Math.round(tile.el.clientWidth * dpr);
      height = Math.round(tile.el.clientHeight * dpr);
    }
    tracks[t.mid] = { width, height };
  }
  const key = JSON.stringify(tracks);
  if (key === lastLayout) return;
  lastLayout = key;
  st.sig.send({ type: 'layout', tracks });
}

/** Plays every subscribed audio track through its own <audio> element. */
function syncAudio() {
  const want = new Map(st.remote.filter((t) => t.kind === 'audio').map((t) => [t.mid, t]));
  for (const [mid, a] of audioEls) {
    const w = want.get(mid);
    if (!w || w.track !== a.track) {
      a.el.srcObject = null;
      a.el.remove();
      audioEls.delete(mid);
    }
  }
  for (const [mid, t] of want) {
    if (audioEls.has(mid)) continue;
    const el = document.createElement('audio');
    el.autoplay = true;
    el.dataset.mid = mid;
    el.srcObject = new MediaStream([t.track]);
    $('audio-sink').append(el);
    audioEls.set(mid, { el, track: t.track });
    setSink(el);
    el.play().catch(() => {
      $('audio-unlock').hidden = false;
    });
  }
  applyVolumes();
}

function renderPeople() {
  if (!st.self) return;
  const list = [st.self, ...others()];
  $('people-count').textContent = `In the meeting (${list.length})`;
  $('people-badge').textContent = String(list.length);
  const ul = $('people-list');
  const focused = /** @type {HTMLElement | null} */ (document.activeElement);
  const focusKey = focused && ul.contains(focused) ? focused.dataset.focusKey : undefined;
  const mod = canModerate();
  replaceRows(ul, list.map((p) => personRow(p, p === st.self, mod)));
  const viewers = mod ? st.viewers : [];
  $('viewers-count').textContent = `Watching from outside (${viewers.length})`;
  $('viewers-section').hidden = viewers.length === 0;
  replaceRows($('viewers-list'), viewers.map(viewerRow));
  if (focusKey) {
    const again = /** @type {HTMLElement | null} */ (ul.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`));
    if (again) again.focus();
  }
}

/**
 * Puts rows in a list unless it shows the same already. The panel is redrawn whenever anyone's
 * state changes; a row replaced between a mouse press and its release loses the click (a
 * moderator's mute or remove did nothing, now and then).
 * @param {HTMLElement} list
 * @param {HTMLElement[]} rows
 */
function replaceRows(list, rows) {
  const same = list.children.length === rows.length && rows.every((r, i) => r.outerHTML === list.children[i].outerHTML);
  if (!same) list.replaceChildren(...rows);
}

/**
 * A key fingerprint as people read it aloud: the first 16 characters of the key, as
 * `parley verify` prints it, in groups of four.
 * @param {string | undefined} key base64url public key
 * @returns {string}
 */
function fingerprintText(key) {
  if (!key) return '';
  return (key.slice(0, 16).match(/.{1,4}/g) || []).join(' ');
}

/**
 * @param {Participant} p
 * @param {boolean} isSelf
 * @returns {string | undefined}
 */
function keyOf(p, isSelf) {
  if (isSelf) return st.key && st.key.key ? st.key.key.publicKey : undefined;
  return p.key;
}

/**
 * A WHEP player, for moderators: who opened it, whom it shows, and a button to end it.
 * @param {Viewer} v
 * @returns {HTMLElement}
 */
function viewerRow(v) {
  const watched = others().find((p) => p.identity === v.watched);
  const label = `${v.watcher || 'a token'} watches ${watched ? displayName(watched) : v.watched}`;
  const end = h('button', {
    class: 'icon-btn person-btn danger',
    attrs: { type: 'button', 'aria-label': `End ${label}`, title: 'End this viewer and ban its token from the room', 'data-focus-key': `viewer:${v.id}` },
  }, [icon('removeUser')]);
  end.addEventListener('click', () => {
    if (st.sig) st.sig.send({ type: 'moderate', action: 'remove-viewer', target: v.id, ban: true });
  });
  return h('li', { class: 'person', attrs: { 'data-viewer': v.id } }, [
    avatar(v.watcher || '?', v.id),
    h('div', { class: 'person-text' }, [
      h('span', { class: 'person-name', text: v.watcher || 'Viewer' }),
      h('span', { class: 'person-sub', text: `Watching ${watched ? displayName(watched) : v.watched} · since ${new Date(v.since).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` }),
    ]),
    h('div', { class: 'person-actions' }, [end]),
  ]);
}

/**
 * @param {Participant} p
 * @param {boolean} isSelf
 * @param {boolean} mod
 * @returns {HTMLElement}
 */
function personRow(p, isSelf, mod) {
  const name = displayName(p);
  const mic = published(p, 'mic');
  const micOff = isSelf ? !st.micOn || !media.mic : !mic || mic.muted;
  const presenting = isSelf ? st.sharing : !!published(p, 'screen');
  /** @type {string[]} */
  const notes = [];
  if ((p.grants || []).includes('moderate')) notes.push('Moderator');
  if (presenting) notes.push('Presenting');
  if (!isSelf && st.undecryptable.has(p.id)) notes.push('Can’t decrypt');
  else if (!isSelf && st.e2ee && st.phase === 'joined') notes.push(st.e2ee.status.keyed.includes(p.id) ? 'Keys signed' : 'No keys yet');
  if (p.interpreter) {
    const ch = isSelf ? st.interpreting : p.interpreter.channel;
    notes.push(ch ? `Interpreting into ${langName(ch)}` : 'Interpreter');
  } else if (!(p.grants || []).includes('publish')) {
    notes.push('Listener');
  }
  const li = h('li', { class: 'person', attrs: { 'data-id': p.id } }, [
    avatar(name, p.identity || p.id),
    h('div', { class: 'person-text' }, [
      h('span', { class: 'person-name', text: isSelf ? `${name} (You)` : name }),
      h('span', { class: 'person-sub', text: notes.join(' · ') || p.identity }),
      ...(keyOf(p, isSelf) ? [h('span', {
        class: 'person-key',
        text: `Key ${fingerprintText(keyOf(p, isSelf))}`,
        attrs: { title: 'The key this person signs the record with. Compare it with what they read out to you, and with parley verify.' },
      })] : []),
    ]),
  ]);
  const state = h('span', {
    class: 'person-mic' + (micOff ? ' off' : ''),
    attrs: { role: 'img', 'aria-label': micOff ? 'Microphone off' : 'Microphone on', title: micOff ? 'Microphone off' : 'Microphone on' },
  }, [icon(micOff ? 'micOff' : 'mic')]);
  if (!mod || isSelf) li.append(state);
  if (mod && !isSelf) {
    // The microphone state doubles as the moderator's mute button.
    const muteBtn = h('button', {
      class: 'icon-btn person-btn person-mic' + (micOff ? ' off' : ''),
      attrs: { type: 'button', 'aria-label': micOff ? `${name} is muted` : `Mute ${name}`, title: micOff ? `${name} is muted` : `Mute ${name}`, 'data-focus-key': `mute:${p.id}` },
    }, [icon(micOff ? 'micOff' : 'mic')]);
    muteBtn.disabled = micOff;
    muteBtn.addEventListener('click', () => {
      if (!st.sig) return;
      st.sig.send({ type: 'moderate', action: 'mute', target: p.id, source: 'mic' });
      toast(`You muted ${name}`, { timeout: 2500 });
    });
    const confirming = st.confirmRemove === p.id;
    const removeBtn = confirming
      ? h('button', {
        class: 'btn btn-small btn-danger confirming',
        text: 'Remove',
        attrs: { type: 'button', 'aria-label': `Confirm removing ${name}`, 'data-focus-key': `remove:${p.id}` },
      })
      : h('button', {
        class: 'icon-btn person-btn danger',
        attrs: { type: 'button', 'aria-label': `Remove ${name} from the meeting`, title: `Remove ${name} from the meeting`, 'data-focus-key': `remove:${p.id}` },
      }, [icon('removeUser')]);
    removeBtn.addEventListener('click', () => {
      if (st.confirmRemove !== p.id) {
        st.confirmRemove = p.id;
        renderPeople();
        setTimeout(() => {
          if (st.confirmRemove === p.id) {
            st.confirmRemove = null;
            renderPeople();
          }
        }, 4000);
        return;
      }
      st.confirmRemove = null;
      if (st.sig) st.sig.send({ type: 'moderate', action: 'remove', target: p.id });
      renderPeople();
    });
    li.append(h('div', { class: 'person-actions' }, [muteBtn, removeBtn]));
  }
  return li;
}

/**
 * Sets a toggle button's icon, label and pressed state.
 * @param {string} id
 * @param {boolean} on
 * @param {string} onIcon
 * @param {string} offIcon
 * @param {string} onLabel  what clicking does while on
 * @param {string} offLabel what clicking does while off
 * @param {boolean} [danger] whether "off" is drawn as a warning (mic and camera)
 */
function setToggle(id, on, onIcon, offIcon, onLabel, offLabel, danger = true) {
  const b = $(id);
  b.setAttribute('aria-pressed', String(on));
  const label = on ? onLabel : offLabel;
  b.setAttribute('aria-label', label);
  const shortcut = b.title.match(/ \(.*\)$/);
  b.title = label + (shortcut ? shortcut[0] : '');
  b.classList.toggle('off', danger && !on);
  b.classList.toggle('active', !danger && on);
  const want = on ? onIcon : offIcon;
  const holder = /** @type {HTMLElement} */ (b.querySelector('[data-icon]'));
  if (holder && holder.dataset.icon !== want) {
    holder.dataset.icon = want;
    holder.replaceChildren(icon(want));
  }
}

function updateControls() {
  const pub = canPublish();
  const micOn = st.micOn && !!media.mic;
  const camOn = st.camOn && !!media.camera;
  for (const [id, on] of /** @type {const} */ ([['btn-mic', micOn], ['lobby-mic', micOn]])) {
    setToggle(id, on, 'mic', 'micOff', 'Turn off microphone', 'Turn on microphone');
  }
  for (const [id, on] of /** @type {const} */ ([['btn-cam', camOn], ['lobby-cam', camOn]])) {
    setToggle(id, on, 'camera', 'cameraOff', 'Turn off camera', 'Turn on camera');
  }
  setToggle('btn-screen', st.sharing, 'screenStop', 'screen', 'Stop presenting', 'Present your screen', false);
  for (const id of ['btn-mic', 'lobby-mic']) /** @type {HTMLButtonElement} */ ($(id)).disabled = !canSpeak();
  for (const id of ['btn-cam', 'btn-screen', 'lobby-cam']) {
    /** @type {HTMLButtonElement} */ ($(id)).disabled = !pub;
  }
  $('btn-screen').hidden = !canShareScreen();
  setToggle('btn-chat', st.panel === 'chat', 'chat', 'chat', 'Hide chat', 'Show chat', false);
  setToggle('btn-people', st.panel === 'people', 'people', 'people', 'Hide participants', 'Show participants', false);
  const badge = $('chat-badge');
  badge.hidden = st.unread === 0;
  badge.textContent = st.unread > 9 ? '9+' : String(st.unread);
  $('btn-chat').setAttribute('aria-label', (st.panel === 'chat' ? 'Hide chat' : 'Show chat') + (st.unread ? `, ${st.unread} unread` : ''));
  renderRecording();
}

// ---- meeting: actions ---------------------------------------------------------------

/** Shows the device menus (the lobby's own) in a dialog. */
async function openSettings() {
  const dlg = /** @type {HTMLDialogElement} */ ($('settings'));
  $('settings-body').append($('devices'));
  await media.enumerate();
  renderDevices();
  dlg.showModal();
}

async function toggleMic() {
  if (!canSpeak() || st.busy.mic) return;
  st.busy.mic = true;
  try {
    if (!media.mic) {
      try {
        await media.startMic();
      } catch (err) {
        toast(describeMediaError(err, 'microphone'), { kind: 'error' });
        return;
      }
      st.micOn = true;
      renderDevices();
      const s = st.session;
      if (s && media.mic) {
        if (s.hasSource('mic')) {
          await s.replaceTrack('mic', media.mic);
          sendMute('mic', false);
        } else {
          await s.addSource({ source: 'mic', kind: 'audio', track: media.mic, stream: media.stream });
        }
      }
    } else {
      st.micOn = !st.micOn;
      media.mic.enabled = st.micOn;
      sendMute('mic', !st.micOn);
    }
  } catch (err) {
    toast(`Microphone: ${errText(err)}`, { kind: 'error' });
  } finally {
    st.busy.mic = false;
    updateControls();
    renderMedia();
    renderPeople();
  }
}

async function toggleCam() {
  if (!canPublish() || st.busy.cam) return;
  st.busy.cam = true;
  try {
    if (st.camOn && media.camera) {
      // Camera off: stop capture so the camera light goes off; keep the transceiver.
      st.camOn = false;
      media.stopCamera();
      if (st.session) await st.session.replaceTrack('camera', null);
      sendMute('camera', true);
    } else {
      let track;
      try {
        track = await media.startCamera();
      } catch (err) {
        toast(describeMediaError(err, 'camera'), { kind: 'error' });
        return;
      }
      st.camOn = true;
      renderDevices();
      const s = st.session;
      if (s) {
        if (s.hasSource('camera')) {
          await s.replaceTrack('camera', track);
          sendMute('camera', false);
        } else {
          await s.addSource({ source: 'camera', kind: 'video', track, stream: media.stream });
        }
      }
    }
  } catch (err) {
    toast(`Camera: ${errText(err)}`, { kind: 'error' });
  } finally {
    st.busy.cam = false;
    renderLobbyMedia();
    renderMedia();
  }
}

/**
 * Announces the local mute state of a source (only while in the meeting).
 * @param {Source} source
 * @param {boolean} muted
 */
function sendMute(source, muted) {
  if (st.phase === 'joined' && st.sig && st.session && st.session.hasSource(source)) {
    st.sig.send({ type: 'mute', source, muted });
  }
}

async function toggleScreen() {
  if (st.sharing) {
    await stopScreen();
    return;
  }
  if (!canPublish() || st.busy.screen || !st.session) return;
  st.busy.screen = true;
  try {
    let video;
    try {
      ({ video } = await media.startScreen());
    } catch (err) {
      const e = /** @type {any} */ (err);
      if (!e || e.name !== 'NotAllowedError') toast('Screen sharing could not start.', { kind: 'error' });
      return;
    }
    st.sharing = true;
    updateControls();
    renderMedia();
    renderPeople();
    try {
      await st.session.addSource({ source: 'screen', kind: 'video', track: video, stream: media.screenStream });
      toast('You are presenting to everyone', { iconName: 'screen', timeout: 3000 });
    } catch (err) {
      toast(`Your screen could not be shared: ${errText(err)}`, { kind: 'error' });
      await stopScreen();
    }
  } finally {
    st.busy.screen = false;
  }
}

async function stopScreen() {
  if (!st.sharing) return;
  st.sharing = false;
  media.stopScreen();
  updateControls();
  renderMedia();
  renderPeople();
  const s = st.session;
  if (s && s.hasSource('screen')) {
    try {
      await s.removeSource('screen');
    } catch (err) {
      console.warn('parley: unpublishing the screen failed', err);
    }
  }
}

/**
 * A moderator muted one of our sources.
 * @param {Source} source
 * @param {Who | undefined} by
 */
function onModeratorMute(source, by) {
  const who = by ? displayName(by) : 'A moderator';
  if (source === 'mic' && media.mic) {
    st.micOn = false;
    media.mic.enabled = false;
    sendMute('mic', true);
  } else if (source === 'camera' && st.camOn) {
    st.camOn = false;
    media.stopCamera();
    if (st.session) st.session.replaceTrack('camera', null).catch(() => {});
    sendMute('camera', true);
  } else if (source === 'screen' && st.sharing) {
    stopScreen();
  }
  const what = source === 'mic' ? '' : source === 'camera' ? ' (camera)' : source === 'screen' ? ' (screen share)' : '';
  toast(`${who} muted you${what}`, { iconName: source === 'camera' ? 'cameraOff' : 'micOff', timeout: 6000 });
  updateControls();
  renderMedia();
  renderPeople();
}

/** Chat lines in the order they came, while sealed ones are opened. */
let chatOrder = Promise.resolve();

/** @param {any} msg */
function onChat(msg) {
  chatOrder = chatOrder.then(() => openChat(msg)).then(showChat, () => {});
}

/**
 * In an end-to-end encrypted room, opens a sealed line with the meeting key (bound to the
 * sender's identity: a line the server gave to someone else does not open).
 * @param {any} msg
 * @returns {Promise<any>}
 */
async function openChat(msg) {
  const text = String(msg.text || '');
  if (!text.startsWith(CHAT_PREFIX)) return msg;
  const open = st.e2ee && msg.from ? await st.e2ee.openChat(text, String(msg.from.identity || '')) : null;
  return { ...msg, text: open !== null ? open : 'An encrypted message this browser has no key for.' };
}

/** @param {any} msg */
function showChat(msg) {
  if (!st.self) return;
  chatLog.add(msg, st.self.id);
  const mine = msg.from && msg.from.id === st.self.id;
  if (!mine && st.panel !== 'chat') {
    st.unread++;
    updateControls();
    const text = String(msg.text || '');
    toast(`${displayName(msg.from)}: ${text.length > 90 ? text.slice(0, 90) + '…' : text}`, { iconName: 'chat', timeout: 5000, group: 'chat' });
  }
}

/** @param {'chat' | 'people'} which */
function togglePanel(which) {
  if (st.panel === which) closePanel();
  else openPanel(which);
}

/** @param {'chat' | 'people'} which */
function openPanel(which) {
  st.panel = which;
  $('panel').hidden = false;
  $('chat-panel').hidden = which !== 'chat';
  $('people-panel').hidden = which !== 'people';
  $('panel-title').textContent = which === 'chat' ? 'In-call messages' : 'People';
  document.body.classList.add('panel-open');
  if (which === 'chat') {
    st.unread = 0;
    const log = $('chat-log');
    log.scrollTop = log.scrollHeight;
    $('chat-input').focus();
  } else {
    renderPeople();
  }
  updateControls();
  stage.scheduleLayout();
}

function closePanel() {
  const was = st.panel;
  st.panel = null;
  $('panel').hidden = true;
  document.body.classList.remove('panel-open');
  updateControls();
  if (stage) stage.scheduleLayout();
  if (was) $(was === 'chat' ? 'btn-chat' : 'btn-people').focus();
}

/** A line is being sealed: Enter again must not send it twice. */
let sealingChat = false;

async function sendChat() {
  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  const text = input.value.trim();
  if (!text || !st.sig || sealingChat) return;
  if (Array.from(text).length > st.maxChat) {
    toast(`Messages can be at most ${st.maxChat} characters.`, { kind: 'error' });
    return;
  }
  let wire = text;
  if (st.e2ee) {
    // End to end: the server, and the record, see only ciphertext.
    sealingChat = true;
    const sealed = st.self ? await st.e2ee.sealChat(text, st.self.identity).finally(() => { sealingChat = false; }) : null;
    if (sealed === null) {
      toast('The message was not sent: end-to-end encryption is not ready.', { kind: 'error' });
      return;
    }
    if (sealed.length > st.maxChat) {
      toast('This message is too long to send encrypted: please shorten it.', { kind: 'error' });
      return;
    }
    wire = sealed;
  }
  if (!st.sig || !st.sig.send({ type: 'chat', text: wire })) return;
  input.value = '';
  autosize(input);
  updateChatCount();
}

/** @param {HTMLTextAreaElement} ta */
function autosize(ta) {
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 140)}px`;
}

function updateChatCount() {
  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  const left = st.maxChat - input.value.length;
  $('chat-count').textContent = left <= 200 ? String(left) : '';
}

// ---- interpretation -----------------------------------------------------------------

/**
 * @param {any} r the `room` object of `welcome` or `room-updated`
 * @returns {RoomInfo}
 */
function normalizeRoom(r) {
  const room = r && typeof r === 'object' ? r : {};
  return {
    name: typeof room.name === 'string' ? room.name : roomName,
    languages: Array.isArray(room.languages) ? room.languages.filter((/** @type {unknown} */ l) => typeof l === 'string') : [],
    channels: room.channels && typeof room.channels === 'object' ? room.channels : {},
    recording: room.recording && typeof room.recording === 'object' ? { ...room.recording, active: room.recording.active === true } : null,
  };
}

/**
 * A language's name in the reader's language ("ru" -> "Russian").
 * @param {string} code
 * @returns {string}
 */
function langName(code) {
  try {
    const n = new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' }).of(code);
    if (n && n.toLowerCase() !== code.toLowerCase()) return n;
  } catch {
    /* not a language code Intl knows */
  }
  return code.toUpperCase();
}

/**
 * Chooses what to hear: `floor` or a room language. Instant, no renegotiation.
 * @param {string} channel
 * @returns {boolean} whether the request went out
 */
function setListening(channel) {
  if (!st.sig || st.phase !== 'joined') return false;
  st.listening = channel;
  st.sig.send({ type: 'listen', channel });
  applyVolumes();
  renderLanguage();
  return true;
}

/**
 * An interpreter chooses the channel it speaks into ('' stops).
 * @param {string} channel
 * @returns {boolean}
 */
function setInterpreting(channel) {
  if (!st.sig || st.phase !== 'joined') return false;
  st.interpreting = channel;
  st.sig.send({ type: 'interpret', channel });
  renderLanguage();
  renderPeople();
  return true;
}

/** Whether the floor is ducked: the chosen channel has an interpreter speaking. */
function isDucked() {
  const ch = st.room.channels[st.listening];
  return st.listening !== 'floor' && !!(ch && ch.live);
}

/** Plays the interpretation at full volume and the floor ducked while it is live. */
function applyVolumes() {
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
function menuChoice(label, checked, pick, hint, live) {
  const b = h('button', {
    class: 'menu-item',
    attrs: { type: 'button', role: 'radio', 'aria-checked': String(checked) },
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
function renderLanguage() {
  const langs = st.room.languages;
  const interp = st.self && st.self.interpreter;
  const btn = $('btn-lang');
  btn.hidden = !langs.length && !interp;
  if (btn.hidden) closeLangMenu();
  $('lang-code').textContent = st.listening === 'floor' ? '' : st.listening.toUpperCase();
  btn.setAttribute('aria-label', `Language: ${st.listening === 'floor' ? 'original audio' : langName(st.listening)}`);
  btn.classList.toggle('active', st.listening !== 'floor');

  const listen = $('listen-options');
  listen.replaceChildren(menuChoice('Original audio', st.listening === 'floor', () => setListening('floor'), 'floor'));
  for (const l of langs) {
    const ch = st.room.channels[l];
    const live = !!(ch && ch.live);
    listen.append(menuChoice(langName(l), st.listening === l, () => setListening(l), live ? 'live' : 'no interpreter yet', live));
  }
  $('duck-row').hidden = !langs.length;
  const section = $('interpret-section');
  section.hidden = !interp;
  if (interp) {
    const opts = $('interpret-options');
    opts.replaceChildren(menuChoice('Not interpreting', !st.interpreting, () => setInterpreting('')));
    for (const l of interp.languages || []) {
      opts.append(menuChoice(`Into ${langName(l)}`, st.interpreting === l, () => setInterpreting(l)));
    }
  }
}

function toggleLangMenu() {
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

function closeLangMenu() {
  const menu = $('lang-menu');
  if (menu.hidden) return;
  menu.hidden = true;
  $('btn-lang').setAttribute('aria-expanded', 'false');
}

// ---- more options (phones) -----------------------------------------------------------

/** Whether this browser can share a screen (phones cannot). */
function canShareScreen() {
  return !!navigator.mediaDevices && 'getDisplayMedia' in navigator.mediaDevices;
}

/** Fills the More menu with what the toolbar has no room for on a phone. */
function renderMoreMenu() {
  const screen = $('more-screen');
  screen.hidden = !canPublish() || !canShareScreen();
  $('more-screen-text').textContent = st.sharing ? 'Stop presenting' : 'Present your screen';
  const rec = /** @type {HTMLButtonElement} */ ($('more-record'));
  rec.hidden = !canRecord();
  rec.disabled = st.recordPending || st.phase !== 'joined';
  $('more-record-text').textContent = isRecording() ? 'Stop recording' : 'Record this meeting';
}

function toggleMoreMenu() {
  const menu = $('more-menu');
  if (!menu.hidden) {
    closeMoreMenu();
    return;
  }
  renderMoreMenu();
  menu.hidden = false;
  keepOnScreen(menu);
  $('btn-more').setAttribute('aria-expanded', 'true');
  const first = /** @type {HTMLElement | null} */ (menu.querySelector('.menu-item:not([hidden])'));
  if (first) first.focus();
}

function closeMoreMenu() {
  const menu = document.getElementById('more-menu');
  if (!menu || menu.hidden) return;
  menu.hidden = true;
  $('btn-more').setAttribute('aria-expanded', 'false');
}

// ---- recording ----------------------------------------------------------------------

/** Whether the room records now. */
function isRecording() {
  return !!(st.room.recording && st.room.recording.active);
}

function canRecord() {
  return grants().includes('record');
}

/**
 * Toasts a change of the room's recording.
 * @param {Recording | null} before
 * @param {Recording | null} after
 * @param {boolean} [joining] the room was just entered (welcome)
 */
function announceRecording(before, after, joining = false) {
  const was = !!(before && before.active);
  const is = !!(after && after.active);
  const sameRecord = was && is && before && after && before.record === after.record;
  if (is && !sameRecord) setRecordPending(false);
  if (!is && was) setRecordPending(false);
  if (is && !sameRecord) {
    const by = after && after.by;
    const name = by && typeof by === 'object' ? displayName(by) : typeof by === 'string' ? by : '';
    const text = joining && !was ? 'This meeting is being recorded' : name ? `Recording started by ${name}` : 'Recording started';
    toast(text, { iconName: 'record', timeout: 6000, group: 'recording', kind: 'recording' });
  } else if (was && !is) {
    toast('Recording stopped. The record is sealed.', { iconName: 'recordStop', timeout: 6000, group: 'recording' });
  }
  renderRecording();
}

/**
 * @param {boolean} on
 */
function setRecordPending(on) {
  st.recordPending = on;
  clearTimeout(st.recordPendingTimer);
  if (on) st.recordPendingTimer = window.setTimeout(() => setRecordPending(false), 8000);
  renderRecording();
}

/**
 * Asks the server to start or stop (and seal) the room's record.
 * @param {boolean} on
 * @returns {boolean} whether the request went out
 */
function sendRecord(on) {
  if (!st.sig || st.phase !== 'joined') return false;
  const sent = st.sig.send({ type: 'record', on });
  if (sent) setRecordPending(true);
  return sent;
}

/** The Record button: starts at once; stopping asks first, since it seals the record. */
function onRecordButton() {
  if (st.recordPending) return;
  if (!isRecording()) {
    sendRecord(true);
    return;
  }
  const dlg = /** @type {HTMLDialogElement} */ ($('rec-confirm'));
  if (!dlg.open) dlg.showModal();
  $('rec-confirm-cancel').focus();
}

function closeRecordConfirm() {
  const dlg = document.getElementById('rec-confirm');
  if (dlg instanceof HTMLDialogElement && dlg.open) dlg.close();
}

/** What the pill and its popover say about this browser's countersignatures. */
function countersignText() {
  const k = st.key;
  if (!k) return 'Your browser is still preparing its signing key.';
  if (!k.key) return `Your browser does not countersign it: ${k.problem}.`;
  const n = st.countersigned;
  return `Your browser has countersigned ${n} checkpoint${n === 1 ? '' : 's'}; your key fingerprint: ${k.key.fingerprint}`;
}

/** The recording pill, its popover and the Record button. */
function renderRecording() {
  const pill = document.getElementById('rec-pill');
  if (!pill) return;
  const on = isRecording() && (st.phase === 'joined' || st.phase === 'joining');
  $('rec-anchor').hidden = !on;
  if (!on) closeRecordPopover();
  pill.title = `This meeting is recorded. ${countersignText()}`;
  const rec = st.room.recording;
  const since = rec && rec.since ? new Date(rec.since) : null;
  $('rec-since').textContent = since && !isNaN(since.getTime())
    ? `Since ${since.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`
    : '';
  const k = st.key && st.key.key;
  $('rec-count').textContent = String(st.countersigned);
  $('rec-fingerprint').textContent = k ? k.fingerprint : '—';
  $('rec-key-rows').hidden = !k;
  $('rec-copy-row').hidden = !k;
  $('rec-pop-you').hidden = !k;
  const problem = $('rec-problem');
  problem.hidden = !!k;
  problem.textContent = k ? '' : countersignText();
  $('rec-record-id').textContent = rec && rec.record ? rec.record : '';
  $('rec-record-row').hidden = !(rec && rec.record);

  const btn = /** @type {HTMLButtonElement} */ ($('btn-record'));
  btn.hidden = !canRecord();
  const recording = isRecording();
  setToggle('btn-record', recording, 'recordStop', 'record', 'Stop recording', 'Record this meeting', false);
  btn.classList.toggle('recording', recording);
  btn.disabled = st.recordPending || st.phase !== 'joined';
  renderMoreMenu();
}

function toggleRecordPopover() {
  const pop = $('rec-pop');
  if (!pop.hidden) {
    closeRecordPopover();
    return;
  }
  renderRecording();
  pop.hidden = false;
  keepOnScreen(pop);
  $('rec-pill').setAttribute('aria-expanded', 'true');
}

function closeRecordPopover() {
  const pop = document.getElementById('rec-pop');
  if (!pop || pop.hidden) return;
  pop.hidden = true;
  $('rec-pill').setAttribute('aria-expanded', 'false');
  $('rec-copy-status').textContent = '';
  $('rec-key-full').hidden = true;
}

/** Copies the public key; where the clipboard is closed, shows it selected instead. */
async function copyPublicKey() {
  const k = st.key && st.key.key;
  if (!k) return;
  const status = $('rec-copy-status');
  try {
    await navigator.clipboard.writeText(k.publicKey);
    status.textContent = 'Copied';
    toast('Your public key is on the clipboard', { iconName: 'check', timeout: 2500, group: 'copy' });
  } catch {
    const full = /** @type {HTMLInputElement} */ ($('rec-key-full'));
    full.value = k.publicKey;
    full.hidden = false;
    full.focus();
    full.select();
    status.textContent = 'Press Ctrl+C to copy';
  }
}

/**
 * Countersigns a checkpoint of the record with this browser's key, on the socket it came on.
 * @param {Signaling} sig
 * @param {any} msg
 */
async function countersign(sig, msg) {
  const k = st.key && st.key.key;
  if (!k) return;
  const { record, seq, statement } = msg;
  if (typeof record !== 'string' || typeof seq !== 'number' || typeof statement !== 'string') return;
  if (!isCheckpointStatement(statement, record, seq)) {
    console.warn('parley: not countersigning a checkpoint statement of an unexpected shape');
    return;
  }
  let signature;
  try {
    signature = await signStatement(k.pair.privateKey, statement);
  } catch (err) {
    console.warn('parley: countersigning failed:', errText(err));
    return;
  }
  // Kept before it is sent: a receipt that lacks a signature the record has is harmless, one
  // that lacks what the server got is the evidence lost.
  const identity = st.self ? st.self.identity : '';
  try {
    st.receipt = await keepReceipt(record, identity, k.publicKey, { seq, head: statementHead(statement), sig: signature });
  } catch (err) {
    console.warn('parley: the receipt could not be kept:', errText(err));
  }
  if (sig.send({ type: 'countersign', record, seq, sig: signature })) {
    st.countersigned++;
    renderRecording();
  }
}

/** Saves this browser's receipt of the current (or last) record as a file. */
async function downloadReceipt() {
  const rec = st.room && st.room.recording && st.room.recording.record;
  const identity = st.receipt ? st.receipt.identity : st.self ? st.self.identity : '';
  const record = rec || (st.receipt && st.receipt.record);
  let receipt = st.receipt && st.receipt.record === record ? st.receipt : null;
  if (!receipt && record) {
    try {
      receipt = await loadReceipt(record, identity);
    } catch (err) {
      console.warn('parley: the receipt could not be read:', errText(err));
    }
  }
  if (!receipt || receipt.checkpoints.length === 0) {
    toast('Your browser has not countersigned this record yet', { iconName: 'alert', timeout: 3000, group: 'receipt' });
    return;
  }
  const blob = new Blob([JSON.stringify(receipt, null, 2) + '\n'], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `receipt-${receipt.record}-${receipt.identity}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---- speaking indicator -------------------------------------------------------------

function startSpeakingLoop() {
  clearInterval(st.speakingTimer);
  st.speakingTimer = window.setInterval(pollSpeaking, 200);
}

async function pollSpeaking() {
  const session = st.session;
  if (!session || !st.self) return;
  const now = performance.now();
  let levels;
  try {
    levels = await session.audioLevels();
  } catch {
    return;
  }
  if (session !== st.session) return;
  for (const [mid, level] of levels) {
    const owner = session.subTracks[mid];
    if (owner && owner.source === 'mic' && level > REMOTE_SPEAKING_LEVEL) st.loudAt.set(owner.participant, now);
  }
  if (st.micOn && media.level() > LOCAL_SPEAKING_LEVEL) st.loudAt.set('self', now);
  /**
   * @param {string} id
   * @param {boolean} micOff
   */
  const speaking = (id, micOff) => !micOff && now - (st.loudAt.get(id) ?? -1e9) < SPEAKING_HOLD_MS;
  for (const p of others()) {
    const mic = published(p, 'mic');
    const on = speaking(p.id, !mic || mic.muted);
    const t = stage.tiles.get(`${p.id}:camera`);
    if (t) t.setSpeaking(on);
    const row = $('people-list').querySelector(`[data-id="${CSS.escape(p.id)}"]`);
    if (row) row.classList.toggle('speaking', on);
  }
  const me = speaking('self', !st.micOn);
  const t = stage.tiles.get('self:camera');
  if (t) t.setSpeaking(me);
  $('btn-mic').classList.toggle('speaking', me);
}

// ---- helpers ------------------------------------------------------------------------

/**
 * @param {unknown} err
 * @returns {string}
 */
function errText(err) {
  return err instanceof Error ? err.message : String(err);
}

function tickClock() {
  $('clock').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * @param {Participant} p
 * @returns {Who}
 */
function who(p) {
  return { id: p.id, identity: p.identity, name: p.name };
}

// ---- test hooks (used by the Go end-to-end tests; keep their shape) ----------------

const parleyTest = {
  /** @returns {{joined: boolean, self: Who | null, participants: Who[]}} */
  state: () => ({
    joined: st.phase === 'joined',
    self: st.self ? who(st.self) : null,
    participants: others().map(who),
  }),
  inbound: async () => (st.session ? st.session.inbound() : []),
  outbound: async () => (st.session ? st.session.outbound() : []),
  /**
   * @param {'pub' | 'sub'} name
   * @returns {{local: string, remote: string}} a connection's current descriptions
   */
  sdp: (name) => {
    const pc = st.session && (name === 'sub' ? st.session.sub : st.session.pub);
    return {
      local: pc && pc.localDescription ? pc.localDescription.sdp : '',
      remote: pc && pc.remoteDescription ? pc.remoteDescription.sdp : '',
    };
  },
  leave: () => leave(),
  /** @param {Record<string, any>} obj */
  sendRaw: (obj) => (st.sig ? st.sig.send(obj) : false),
  /**
   * Sends a chat line as the chat box does (sealed in an end-to-end encrypted room).
   * @param {string} text
   */
  chat: (text) => {
    const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
    input.value = text;
    return sendChat();
  },
  /** @returns {string[]} the chat lines shown, in order */
  chatLines: () => Array.from(document.querySelectorAll('#chat-log .chat-text')).map((e) => e.textContent || ''),
  /** @param {string} channel `floor` or a room language */
  listen: (channel) => setListening(channel),
  /** @param {string} channel a language the token may interpret into, or '' */
  interpret: (channel) => setInterpreting(channel),
  /** @type {any[]} every `error` message received */
  errors: [],
  /** @returns {Promise<string | null>} this browser's public key (base64url), null without one */
  publicKey: () => keyReady.then((k) => (k.key ? k.key.publicKey : null)),
  /** @param {boolean} on start, or stop and seal, the room's record (needs the `record` grant) */
  record: (on) => sendRecord(!!on),
  /** @returns {number} countersign messages sent */
  get countersigned() {
    return st.countersigned;
  },
  /**
   * End-to-end encryption as the worker last reported it (twice a second).
   * @returns {{enabled: boolean, api: string | null, epoch: number, decryptFailures: number,
   *            encryptedFrames: number, decryptedFrames: number, replayedFrames: number,
   *            misattributedFrames: number, refusedMessages: number, keyed: string[], undecryptable: string[]}}
   */
  e2ee: () => {
    const e = st.e2ee;
    const s = e ? e.status : null;
    return {
      enabled: !!e,
      api: e ? e.api : null,
      epoch: s ? s.epoch : 0,
      decryptFailures: s ? s.decryptFailures : 0,
      encryptedFrames: s ? s.encryptedFrames : 0,
      decryptedFrames: s ? s.decryptedFrames : 0,
      replayedFrames: s ? s.replayedFrames : 0,
      misattributedFrames: s ? s.misattributedFrames : 0,
      refusedMessages: s ? s.refusedMessages : 0,
      keyed: s ? s.keyed.map((id) => (st.others.get(id) || { identity: id }).identity) : [],
      undecryptable: [...st.undecryptable],
    };
  },
  /** @returns {Promise<import('./e2ee.js').MediaKey[]>} every media secret this page held (to decrypt the record) */
  e2eeKeys: () => (st.e2ee ? st.e2ee.exportKeys() : Promise.resolve([])),
  /**
   * The next frames this page receives, as ciphertext, each with its sender's identity.
   * @param {number} count
   */
  e2eeTap: async (count) => {
    if (!st.e2ee) return [];
    const tracks = st.session ? st.session.subTracks : {};
    const frames = await st.e2ee.tap(count);
    const owners = st.session ? st.session.subTracks : tracks;
    return frames.map((f) => ({ ...f, identity: (owners[f.mid] || tracks[f.mid] || { identity: '' }).identity }));
  },
  /**
   * How many of some tapped frames the keys this page ever held open.
   * @param {import('./e2ee.js').TappedFrame[]} frames
   */
  e2eeTryOpen: (frames) => (st.e2ee ? st.e2ee.tryOpen(frames) : Promise.resolve(-1)),
  /**
   * Tells the encryption worker that two participants' tracks are each other's, as a server
   * that relabels streams would (the page's own tiles keep the true owners).
   * @param {string} a identity
   * @param {string} b identity
   */
  e2eeSwapOwners: (a, b) => {
    if (!st.e2ee || !st.session) return 0;
    /** @type {Record<string, any>} */
    const lied = {};
    let swapped = 0;
    const ids = new Map([...st.others.values()].map((p) => [p.identity, p.id]));
    for (const [mid, o] of Object.entries(st.session.subTracks)) {
      const to = o.identity === a ? b : o.identity === b ? a : '';
      lied[mid] = to ? { ...o, participant: ids.get(to) || '', identity: to } : o;
      if (to) swapped++;
    }
    st.e2ee.setOwners(lied);
    return swapped;
  },
  /** Tells the encryption worker the true owners again. */
  e2eeTrueOwners: () => {
    if (st.e2ee && st.session) st.e2ee.setOwners(st.session.subTracks);
  },
  /** Keeps the encryption worker, and every key it held, past a removal: the removed participant who will not let go. */
  keepKeysAfterRemoval: () => {
    keepKeysAfterRemoval = true;
  },
  /** @returns {Recording | null} the room's `recording`, as last announced */
  recording: () => (st.room.recording ? { ...st.room.recording } : null),
};

/** @type {any} */ (window).parleyTest = parleyTest;

/** Set by a test: a removed page keeps its keys, as a modified client would. */
let keepKeysAfterRemoval = false;

// ---- start --------------------------------------------------------------------------

function start() {
  for (const el of document.querySelectorAll('[data-logo]')) el.innerHTML = LOGO; // constant markup
  hydrateIcons(document);
  stage = new Stage($('stage'));
  stage.onLayout = scheduleLayoutReport;
  document.addEventListener('visibilitychange', scheduleLayoutReport);
  chatLog = new ChatLog($('chat-log'));

  $('btn-mic').addEventListener('click', () => toggleMic());
  $('btn-cam').addEventListener('click', () => toggleCam());
  $('btn-screen').addEventListener('click', () => toggleScreen());
  $('btn-leave').addEventListener('click', () => leave());
  $('btn-chat').addEventListener('click', () => togglePanel('chat'));
  $('btn-people').addEventListener('click', () => togglePanel('people'));
  $('panel-close').addEventListener('click', () => closePanel());
  $('btn-settings').addEventListener('click', () => openSettings());
  $('btn-lang').addEventListener('click', () => toggleLangMenu());
  $('btn-more').addEventListener('click', () => toggleMoreMenu());
  $('more-screen').addEventListener('click', () => {
    closeMoreMenu();
    toggleScreen();
  });
  $('more-record').addEventListener('click', () => {
    closeMoreMenu();
    onRecordButton();
  });
  $('more-settings').addEventListener('click', () => {
    closeMoreMenu();
    openSettings();
  });
  $('listeners-chip').addEventListener('click', () => openPanel('people'));
  window.addEventListener('resize', () => {
    for (const id of ['lang-menu', 'more-menu', 'rec-pop', 'e2ee-pop']) keepOnScreen($(id));
  });
  $('btn-record').addEventListener('click', () => onRecordButton());
  $('rec-pill').addEventListener('click', () => toggleRecordPopover());
  $('e2ee-pill').addEventListener('click', () => toggleE2EEPopover());
  $('rec-copy').addEventListener('click', () => copyPublicKey());
  $('rec-receipt').addEventListener('click', () => downloadReceipt());
  $('rec-confirm-cancel').addEventListener('click', () => closeRecordConfirm());
  $('rec-confirm-stop').addEventListener('click', () => {
    closeRecordConfirm();
    if (isRecording()) sendRecord(false);
  });
  $('rec-confirm').addEventListener('close', () => $('btn-record').focus());
  document.addEventListener('pointerdown', (ev) => {
    const t = /** @type {Node} */ (ev.target);
    if (!$('lang-menu').contains(t) && !$('btn-lang').contains(t)) closeLangMenu();
    if (!$('more-menu').contains(t) && !$('btn-more').contains(t)) closeMoreMenu();
    if (!$('rec-anchor').contains(t)) closeRecordPopover();
    if (!$('e2ee-anchor').contains(t)) closeE2EEPopover();
  });
  const duck = /** @type {HTMLInputElement} */ ($('duck'));
  duck.value = String(Math.round(st.duck * 100));
  $('duck-value').textContent = `${duck.value}%`;
  duck.addEventListener('input', () => {
    st.duck = Number(duck.value) / 100;
    $('duck-value').textContent = `${duck.value}%`;
    try {
      localStorage.setItem(DUCK_KEY, String(st.duck));
    } catch {
      /* private mode */
    }
    applyVolumes();
  });
  $('settings-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('settings')).close());
  $('settings').addEventListener('close', () => {
    $('preview-col').append($('devices'));
    const opener = getComputedStyle($('btn-settings')).display === 'none' ? 'btn-more' : 'btn-settings';
    $(opener).focus();
  });
  $('rejoin-btn').addEventListener('click', () => rejoin());
  $('audio-unlock-btn').addEventListener('click', () => {
    for (const { el } of audioEls.values()) el.play().catch(() => {});
    $('audio-unlock').hidden = true;
  });
  media.onScreenEnded = () => {
    stopScreen();
  };

  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendChat();
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendChat();
    }
  });
  input.addEventListener('input', () => {
    autosize(input);
    updateChatCount();
  });

  document.addEventListener('keydown', (ev) => {
    if (st.phase !== 'joined' && st.phase !== 'lobby') return;
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && !ev.shiftKey && !ev.altKey && (ev.key === 'd' || ev.key === 'D')) {
      ev.preventDefault();
      toggleMic();
    } else if (mod && !ev.shiftKey && !ev.altKey && (ev.key === 'e' || ev.key === 'E')) {
      ev.preventDefault();
      toggleCam();
    } else if (ev.key === 'Escape' && !$('lang-menu').hidden) {
      closeLangMenu();
      $('btn-lang').focus();
    } else if (ev.key === 'Escape' && !$('more-menu').hidden) {
      closeMoreMenu();
      $('btn-more').focus();
    } else if (ev.key === 'Escape' && !$('rec-pop').hidden) {
      closeRecordPopover();
      $('rec-pill').focus();
    } else if (ev.key === 'Escape' && !$('e2ee-pop').hidden) {
      closeE2EEPopover();
      $('e2ee-pill').focus();
    } else if (ev.key === 'Escape' && st.panel) {
      closePanel();
    }
  });
  // Any gesture lets the level meter's AudioContext run.
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, () => media.resumeAudio(), { capture: true });
  window.addEventListener('pagehide', () => {
    if (st.sig && st.phase === 'joined') st.sig.send({ type: 'leave' });
  });

  tickClock();
  setInterval(tickClock, 10000);

  initLobby();
  const e2eeProblem = fragmentPassphrase !== null ? startE2EE(fragmentPassphrase) : null;
  const problem = linkProblem();
  if (autojoin && problem) {
    const p = JOIN_ERRORS[problem];
    end('error', p.title, p.text, { retry: false });
  } else if (autojoin && e2eeProblem) {
    // The link asks for end-to-end encryption: never join without it.
    end('error', 'Can’t join this meeting', e2eeProblem, { retry: false });
  } else if (autojoin) {
    $('connecting-text').textContent = `Joining ${roomName || 'the meeting'}…`;
    setView('connecting');
    setPhase('joining');
    startLocalMedia().then(() => joinWhenKeysReady());
  } else {
    setPhase('lobby');
    setView('lobby');
    if (!problem) startLocalMedia();
  }
}

start();
