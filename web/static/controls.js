// The meeting's controls: microphone, camera, screen, settings (the interface language among
// them), and the More menu of phones.

import { describeMediaError } from './media.js';
import { icon } from './icons.js';
import { toast, keepOnScreen, h } from './ui.js';
import { t, lang, LANGUAGES, clockTime } from './i18n.js';
import { $, media, st, canPublish, canSpeak, displayName, errText, isRecording, canRecord, update } from './store.js';
import { renderLobbyMedia, renderDevices } from './lobby.js';
import { renderMedia } from './layout.js';
import { renderPeople } from './people.js';
import { renderRecording } from './recording.js';

/**
 * @typedef {import('./store.js').Who} Who
 * @typedef {import('./store.js').Source} Source
 */

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
export function setToggle(id, on, onIcon, offIcon, onLabel, offLabel, danger = true) {
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

export function updateControls() {
  const pub = canPublish();
  const micOn = st.micOn && !!media.mic;
  const camOn = st.camOn && !!media.camera;
  for (const [id, on] of /** @type {const} */ ([['btn-mic', micOn], ['lobby-mic', micOn]])) {
    setToggle(id, on, 'mic', 'micOff', t('controls.micOff'), t('controls.micOn'));
  }
  for (const [id, on] of /** @type {const} */ ([['btn-cam', camOn], ['lobby-cam', camOn]])) {
    setToggle(id, on, 'camera', 'cameraOff', t('controls.camOff'), t('controls.camOn'));
  }
  setToggle('btn-screen', st.sharing, 'screenStop', 'screen', t('controls.stopPresenting'), t('controls.present'), false);
  for (const id of ['btn-mic', 'lobby-mic']) /** @type {HTMLButtonElement} */ ($(id)).disabled = !canSpeak();
  for (const id of ['btn-cam', 'btn-screen', 'lobby-cam']) {
    /** @type {HTMLButtonElement} */ ($(id)).disabled = !pub;
  }
  $('btn-screen').hidden = !canShareScreen();
  const chatLabel = t(st.panel === 'chat' ? 'controls.hideChat' : 'controls.showChat');
  const peopleLabel = t(st.panel === 'people' ? 'controls.hidePeople' : 'controls.showPeople');
  setToggle('btn-chat', st.panel === 'chat', 'chat', 'chat', chatLabel, chatLabel, false);
  setToggle('btn-people', st.panel === 'people', 'people', 'people', peopleLabel, peopleLabel, false);
  // The name holds the count the button shows (what a voice user says is what they see).
  const count = $('people-badge').textContent;
  if (count) $('btn-people').setAttribute('aria-label', t('controls.peopleCount', { label: peopleLabel, count }));
  const badge = $('chat-badge');
  badge.hidden = st.unread === 0;
  badge.textContent = st.unread > 9 ? '9+' : String(st.unread);
  $('btn-chat').setAttribute('aria-label', st.unread ? t('controls.unread', { label: chatLabel, count: st.unread }) : chatLabel);
  renderRecording();
}

/**
 * Fills the language menus (Settings', and the lobby's, for whoever must read the lobby first),
 * each language named in itself, the current one chosen.
 */
export function renderLanguageSetting() {
  for (const id of ['ui-lang', 'lobby-lang']) {
    const sel = /** @type {HTMLSelectElement} */ ($(id));
    sel.replaceChildren(...LANGUAGES.map((l) => h('option', { text: l.name, attrs: { value: l.code, lang: l.code } })));
    sel.value = lang;
  }
}

/** Shows the interface language and the device menus (the lobby's own) in a dialog. */
export async function openSettings() {
  const dlg = /** @type {HTMLDialogElement} */ ($('settings'));
  $('settings-body').append($('devices'));
  await media.enumerate();
  renderDevices();
  dlg.showModal();
}

export async function toggleMic() {
  if (!canSpeak() || st.busy.mic) return;
  update({ busy: { ...st.busy, mic: true } });
  try {
    if (!media.mic) {
      try {
        await media.startMic();
      } catch (err) {
        toast(describeMediaError(err, 'microphone'), { kind: 'error' });
        return;
      }
      update({ micOn: true });
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
      update({ micOn: !st.micOn });
      media.mic.enabled = st.micOn;
      sendMute('mic', !st.micOn);
    }
  } catch (err) {
    toast(t('controls.micError', { error: errText(err) }), { kind: 'error' });
  } finally {
    update({ busy: { ...st.busy, mic: false } });
    updateControls();
    renderMedia();
    renderPeople();
  }
}

export async function toggleCam() {
  if (!canPublish() || st.busy.cam) return;
  update({ busy: { ...st.busy, cam: true } });
  try {
    if (st.camOn && media.camera) {
      // Camera off: stop capture so the camera light goes off; keep the transceiver.
      update({ camOn: false });
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
      update({ camOn: true });
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
    toast(t('controls.camError', { error: errText(err) }), { kind: 'error' });
  } finally {
    update({ busy: { ...st.busy, cam: false } });
    renderLobbyMedia();
    renderMedia();
  }
}

/**
 * Announces the local mute state of a source (only while in the meeting).
 * @param {Source} source
 * @param {boolean} muted
 */
export function sendMute(source, muted) {
  if (st.phase === 'joined' && st.sig && st.session && st.session.hasSource(source)) {
    st.sig.send({ type: 'mute', source, muted });
  }
}

export async function toggleScreen() {
  if (st.sharing) {
    await stopScreen();
    return;
  }
  if (!canPublish() || st.busy.screen || !st.session) return;
  update({ busy: { ...st.busy, screen: true } });
  try {
    let video;
    try {
      ({ video } = await media.startScreen());
    } catch (err) {
      const e = /** @type {any} */ (err);
      if (!e || e.name !== 'NotAllowedError') toast(t('controls.screenFailed'), { kind: 'error' });
      return;
    }
    update({ sharing: true });
    updateControls();
    renderMedia();
    renderPeople();
    try {
      await st.session.addSource({ source: 'screen', kind: 'video', track: video, stream: media.screenStream });
      toast(t('controls.presentingToast'), { iconName: 'screen', timeout: 3000 });
    } catch (err) {
      toast(t('controls.screenError', { error: errText(err) }), { kind: 'error' });
      await stopScreen();
    }
  } finally {
    update({ busy: { ...st.busy, screen: false } });
  }
}

export async function stopScreen() {
  if (!st.sharing) return;
  update({ sharing: false });
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
export function onModeratorMute(source, by) {
  const who = by ? displayName(by) : t('controls.aModerator');
  if (source === 'mic' && media.mic) {
    update({ micOn: false });
    media.mic.enabled = false;
    sendMute('mic', true);
  } else if (source === 'camera' && st.camOn) {
    update({ camOn: false });
    media.stopCamera();
    if (st.session) st.session.replaceTrack('camera', null).catch(() => {});
    sendMute('camera', true);
  } else if (source === 'screen' && st.sharing) {
    stopScreen();
  }
  const what = source === 'camera' ? 'controls.mutedCamera' : source === 'screen' ? 'controls.mutedScreen' : 'controls.mutedMic';
  toast(t(what, { name: who }), { iconName: source === 'camera' ? 'cameraOff' : 'micOff', timeout: 6000 });
  updateControls();
  renderMedia();
  renderPeople();
}

/** Whether this browser can share a screen (phones cannot). */
export function canShareScreen() {
  return !!navigator.mediaDevices && 'getDisplayMedia' in navigator.mediaDevices;
}

/** Fills the More menu with what the toolbar has no room for on a phone. */
export function renderMoreMenu() {
  const screen = $('more-screen');
  screen.hidden = !canPublish() || !canShareScreen();
  $('more-screen-text').textContent = t(st.sharing ? 'controls.stopPresenting' : 'controls.present');
  const rec = /** @type {HTMLButtonElement} */ ($('more-record'));
  rec.hidden = !canRecord();
  rec.disabled = st.recordPending || st.phase !== 'joined';
  $('more-record-text').textContent = t(isRecording() ? 'controls.stopRecording' : 'controls.record');
}

export function toggleMoreMenu() {
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

export function closeMoreMenu() {
  const menu = document.getElementById('more-menu');
  if (!menu || menu.hidden) return;
  menu.hidden = true;
  $('btn-more').setAttribute('aria-expanded', 'false');
}

export function tickClock() {
  $('clock').textContent = clockTime(new Date());
}
