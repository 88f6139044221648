// The stage: tiles from participants and tracks, remote audio, the sizes reported to the server,
// and the speaking indicator.

import { REMOTE_SPEAKING_LEVEL, LOCAL_SPEAKING_LEVEL, SPEAKING_HOLD_MS, $, media, st, audioEls, stage, canSpeak, others, displayName, isListener, published, update } from './store.js';
import { setSink } from './lobby.js';
import { renderE2EE } from './encryption.js';
import { updateControls } from './controls.js';
import { renderPeople } from './people.js';
import { applyVolumes, renderLanguage } from './interpretation.js';
import { t } from './i18n.js';

/**
 * @typedef {import('./store.js').RemoteTrack} RemoteTrack
 */

export function renderAll() {
  renderE2EE();
  renderMedia();
  renderPeople();
  updateControls();
}

/** Builds the tiles and the audio elements from the participants and the sub tracks. */
export function renderMedia() {
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
    tile.setNotice(undecryptable ? t('e2ee.cantDecrypt') : null);
    cams.push(tile.key);
    const scr = mine.find((t) => t.source === 'screen');
    const scrInfo = published(p, 'screen');
    if (scr && !(scrInfo && scrInfo.muted)) {
      const s = stage.tile(`${p.id}:screen`, { screen: true });
      s.setName(displayName(p), p.identity || p.id);
      s.setTrack(scr.track);
      s.setMicOff(false);
      s.setNotice(st.undecryptable.has(p.id) ? t('e2ee.cantDecrypt') : null);
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
  $('listeners-text').textContent = t('stage.listening', { count: listeners });
  chip.setAttribute('aria-label', t('stage.listeningLabel', { count: listeners }));
  renderLanguage();
  stage.retain((k) => order.includes(k));
  stage.setOrder(order);
  syncAudio();
  scheduleLayoutReport();
}

export let layoutTimer = 0;

export let lastLayout = '';

/** A new session reports every size afresh. */
export function resetLayoutReport() {
  lastLayout = '';
}

export function scheduleLayoutReport() {
  clearTimeout(layoutTimer);
  layoutTimer = window.setTimeout(reportLayout, 250);
}

/** Tells the server how large each received video is drawn (0x0: not shown). */
export function reportLayout() {
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
export function syncAudio() {
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

export function startSpeakingLoop() {
  clearInterval(st.speakingTimer);
  update({ speakingTimer: window.setInterval(pollSpeaking, 200) });
}

export async function pollSpeaking() {
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
