// The lobby: the camera and microphone check, device menus, the name, and what the link allows.

import { LocalMedia, describeMediaError } from './media.js';
import { toast, initials, hueFor, h } from './ui.js';
import { roomName, token, claims, NAME_KEY, joinError, $, media, st, audioEls, setPhase, canPublish, canSpeak, applyGrantClasses, update } from './store.js';
import { t, tNodes } from './i18n.js';
import { initLobbyE2EE, applyLobbyE2EE, joinWhenKeysReady } from './encryption.js';
import { renderMedia } from './layout.js';
import { updateControls, toggleMic, toggleCam } from './controls.js';


export function initLobby() {
  $('room-name').textContent = roomName;
  $('room-name').title = roomName;
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
      update({ name: input.value.trim() });
      if (st.name) showNameError(false);
      renderLobbyName();
    });
  } else if (claims) {
    $('joining-as').hidden = false;
  }
  update({ name: invite ? input.value.trim() : (claims && claims.name) || '' });

  if (linkProblem()) {
    $('token-notice').hidden = false;
    // Nothing here can work: offer no button that pretends otherwise.
    for (const id of ['join-btn', 'name-field', 'e2ee-lobby', 'joining-as']) $(id).hidden = true;
    document.body.classList.add('dead-link');
  }

  applyGrantClasses();
  if (canSpeak() && !canPublish()) update({ camOn: false });
  renderLobbyTexts();

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
  const original = /** @type {HTMLInputElement} */ ($('original-sound'));
  original.checked = media.original;
  original.addEventListener('change', async () => {
    try {
      const track = await media.setOriginalSound(original.checked);
      if (track && st.session) await st.session.replaceTrack('mic', track);
    } catch (err) {
      toast(describeMediaError(err, 'microphone'), { kind: 'error' });
    }
    renderLobbyMedia();
    renderMedia();
  });
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

/** The lobby's texts that depend on the room, the link and what it allows. */
export function renderLobbyTexts() {
  $('lobby-room').textContent = roomName || t('lobby.meeting');
  $('meeting-title').textContent = roomName ? t('lobby.meetingNamed', { room: roomName }) : t('lobby.meeting');
  if (claims && !claims.invite) {
    const name = h('strong', { text: (claims.name || claims.sub) || t('lobby.guest') });
    $('joining-as').replaceChildren(...tNodes('lobby.joiningAs', {}, { name }));
  }
  const problem = linkProblem();
  const p = problem ? joinError(problem) : undefined;
  if (p) {
    $('token-notice-title').textContent = p.title;
    $('token-notice-text').textContent = p.text;
  }
  $('lobby-sub').textContent = t(!canSpeak() ? 'lobby.subListen' : !canPublish() ? 'lobby.subInterpreter' : 'lobby.sub');
  renderMediaNotice();
}

/** The notice of a camera or microphone that did not start (media.start's, kept to redraw). */
let mediaNotice = /** @type {(() => string) | null} */ (null);

function renderMediaNotice() {
  const box = $('media-notice');
  box.hidden = !mediaNotice;
  if (!mediaNotice) return;
  const listenOnly = !media.mic && !media.camera;
  $('media-notice-text').textContent = mediaNotice() + (listenOnly ? ` ${t('lobby.stillListen')}` : '');
}

/**
 * What is wrong with this page's link that the page can tell by itself, as a JOIN_ERRORS code.
 * @returns {string | null}
 */
export function linkProblem() {
  if (!token) return 'token_missing';
  if (!claims) return 'token_invalid';
  if (claims.exp && claims.exp < Date.now() / 1000) return 'token_expired';
  if (claims.room && roomName && claims.room !== roomName) return 'wrong_room';
  return null;
}

/** @param {boolean} on */
export function showNameError(on) {
  const input = $('name-input');
  $('name-error').hidden = !on;
  if (on) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

export function renderLobbyName() {
  const name = st.name || (claims && (claims.name || claims.sub)) || '';
  $('preview-name').textContent = name;
  const av = $('preview-avatar');
  av.textContent = initials(name);
  av.style.setProperty('--hue', String(hueFor((claims && claims.sub) || name)));
}

/** Shows the camera preview and the state of the lobby toggles. */
export function renderLobbyMedia() {
  const video = /** @type {HTMLVideoElement} */ ($('preview-video'));
  const cam = st.camOn ? media.camera : null;
  const current = /** @type {MediaStream | null} */ (video.srcObject);
  if (!cam) video.srcObject = null;
  else if (!current || current.getVideoTracks()[0] !== cam) video.srcObject = new MediaStream([cam]);
  $('preview').classList.toggle('has-video', !!cam);
  $('lobby-meter').hidden = !media.mic;
  $('preview-off-text').textContent = t(!canSpeak()
    ? 'lobby.listenOnly'
    : !canPublish()
      ? 'lobby.micOnly'
      : media.camera || !st.camOn
      ? 'lobby.camOff'
      : media.devices.camera.length
        ? 'lobby.camStarting'
        : 'lobby.noCamera');
  updateControls();
}

/** Fills the device menus. */
export function renderDevices() {
  /**
   * @param {string} id
   * @param {MediaDeviceInfo[]} list
   * @param {string | undefined} current
   * @param {string} none
   * @param {import('./i18n.js').MessageId} numbered a device without a label: its kind and number
   */
  const fill = (id, list, current, none, numbered) => {
    const sel = /** @type {HTMLSelectElement} */ ($(id));
    sel.replaceChildren();
    if (!list.length) {
      sel.append(h('option', { text: none, attrs: { value: '' } }));
      sel.disabled = true;
      return;
    }
    sel.disabled = false;
    list.forEach((d, i) => {
      const o = h('option', { text: d.label || t(numbered, { n: i + 1 }), attrs: { value: d.deviceId } });
      sel.append(o);
    });
    if (current && list.some((d) => d.deviceId === current)) sel.value = current;
  };
  const micId = media.mic ? media.mic.getSettings().deviceId : media.prefs.mic;
  const camId = media.camera ? media.camera.getSettings().deviceId : media.prefs.camera;
  fill('sel-mic', media.devices.mic, micId, t('devices.noMic'), 'devices.micN');
  fill('sel-camera', media.devices.camera, camId, t('devices.noCamera'), 'devices.cameraN');
  fill('sel-speaker', media.devices.speaker, media.prefs.speaker, t('devices.defaultSpeaker'), 'devices.speakerN');
  $('speaker-wrap').hidden = !LocalMedia.canChooseSpeaker || !media.devices.speaker.length;
}

/**
 * @param {'mic' | 'camera' | 'speaker'} kind
 * @param {string} deviceId
 */
export async function chooseDevice(kind, deviceId) {
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
export async function setSink(el) {
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
export function lobbyMeter() {
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
export async function startLocalMedia() {
  if (!canSpeak()) {
    await media.enumerate();
    renderDevices();
    return;
  }
  if (!canPublish()) update({ camOn: false });
  const { notice } = await media.start({ audio: true, video: st.camOn });
  if (media.mic) media.mic.enabled = st.micOn;
  if (!media.camera) update({ camOn: false });
  if (!media.mic) update({ micOn: false });
  mediaNotice = notice;
  renderMediaNotice();
  renderDevices();
  renderLobbyMedia();
}
