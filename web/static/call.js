// Joining and leaving: the signaling socket and its messages, publishing, errors, reconnection,
// and the end screens.

import { Signaling, signalingURL, reconnectDelay } from './signaling.js';
import { MediaSession } from './session.js';
import { icon } from './icons.js';
import { toast } from './ui.js';
import { roomName, token, claims, relayOnly, LEAVE_DRAIN_MS, KEY_WAIT_MS, joinError, $, media, st, keyReady, audioEls, stage, chatLog, setPhase, setView, canPublish, canSpeak, applyGrantClasses, displayName, errText, isRecording, update } from './store.js';
import { startLocalMedia } from './lobby.js';
import { syncE2EERoster, startE2EEExchange, stopE2EE, joinWhenKeysReady, renderE2EE, closeE2EEPopover } from './encryption.js';
import { renderAll, renderMedia, resetLayoutReport, startSpeakingLoop } from './layout.js';
import { stopScreen, onModeratorMute, closeMoreMenu } from './controls.js';
import { onChat, closePanel } from './chat.js';
import { renderPeople } from './people.js';
import { normalizeRoom, applyVolumes, renderLanguage } from './interpretation.js';
import { announceRecording, setRecordPending, closeRecordConfirm, closeRecordPopover, countersign } from './recording.js';
import { parleyTest } from './testhooks.js';
import { onCaption, renderCaptions, sendCaptions, clearCaptions } from './captions.js';
import { t } from './i18n.js';

/**
 * @typedef {import('./store.js').Participant} Participant
 * @typedef {string | (() => string)} Text  a text the page writes again when the language
 *   changes (a function), or one it shows as it came (a server's words)
 */

/** @param {Text} x */
const text = (x) => (typeof x === 'function' ? x() : x);

/** The connecting screen's line for joining this room. */
export const joiningText = () => (roomName ? t('call.joiningRoom', { room: roomName }) : t('call.joiningMeeting'));

/** Opens the signaling channel and sends `join`. */
export async function join() {
  if (st.sig) return;
  clearTimeout(st.reconnectTimer);
  update({ joinFailed: false });
  setPhase('joining');
  if (!st.reconnecting && document.body.dataset.view !== 'lobby') {
    showConnecting(joiningText);
    setView('connecting');
  }
  const sig = new Signaling(signalingURL());
  update({ sig: sig });
  wire(sig);
  try {
    await sig.connect();
  } catch {
    if (stale(sig)) return;
    update({ sig: null });
    if (st.reconnecting) scheduleReconnect();
    else fail(() => t('call.unreachable'));
    return;
  }
  if (stale(sig)) return;
  /** @type {Record<string, any>} */
  const msg = { type: 'join', version: 1, room: roomName, token };
  const name = st.name || (claims && claims.name) || '';
  if (name) msg.name = name;
  // Take our seat back after a drop (invite guests get a new identity otherwise).
  if (st.resume) msg.resume = st.resume;
  if (st.e2ee) msg.e2ee = true; // rooms that require end-to-end encryption admit only such joins
  const key = await Promise.race([keyReady, new Promise((resolve) => setTimeout(resolve, KEY_WAIT_MS, null))]);
  if (stale(sig)) return;
  if (key && key.key) msg.key = key.key.publicKey;
  else if (!key) console.warn('parley: the signing key is not ready; joining without it');
  sig.send(msg);
}

/** @param {Signaling} sig */
export function wire(sig) {
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
    if (st.session) st.session.handleOffer(msg).catch((err) => toast(t('call.receiveFailed', { error: err.message }), { kind: 'error' }));
  });
  on('answer', (msg) => st.session && st.session.handleAnswer(msg));
  on('candidate', (msg) => st.session && st.session.handleCandidate(msg));
  on('participant-joined', (msg) => {
    const p = /** @type {Participant} */ (msg.participant);
    if (!p || !p.id || (st.self && p.id === st.self.id)) return;
    const isNew = !st.others.has(p.id);
    st.others.set(p.id, p);
    syncE2EERoster();
    if (isNew) chatLog.system(t('call.someoneJoined', { name: displayName(p) }));
    renderAll();
  });
  on('participant-updated', (msg) => {
    const p = /** @type {Participant} */ (msg.participant);
    if (!p || !p.id) return;
    if (st.self && p.id === st.self.id) {
      update({ self: { ...st.self, ...p } });
      if (typeof p.listening === 'string') update({ listening: p.listening });
      if (p.interpreter) update({ interpreting: p.interpreter.channel || '' });
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
    update({ room: normalizeRoom(msg.room) });
    announceRecording(before, st.room.recording);
    applyVolumes();
    renderLanguage();
    renderCaptions();
    renderPeople();
  });
  on('participant-left', (msg) => {
    const p = st.others.get(msg.id);
    if (!p) return;
    st.others.delete(msg.id);
    // Everyone renews their media key without them (e2ee-worker.js).
    syncE2EERoster();
    st.loudAt.delete(msg.id);
    const why = msg.reason === 'removed' ? 'call.someoneRemoved' : msg.reason === 'disconnected' ? 'call.someoneLost' : 'call.someoneLeft';
    if (msg.reason !== 'replaced') {
      const line = t(why, { name: displayName(p) });
      chatLog.system(line);
      toast(line, { timeout: 3000 });
    }
    renderAll();
  });
  on('chat', onChat);
  on('caption', onCaption);
  on('e2ee', (msg) => {
    if (st.e2ee && msg.from && typeof msg.data === 'string') st.e2ee.receive(msg.from, msg.data);
  });
  on('viewers', (msg) => {
    update({ viewers: Array.isArray(msg.viewers) ? msg.viewers : [] });
    renderPeople();
  });
  on('muted', (msg) => onModeratorMute(msg.source, msg.by));
  on('removed', (msg) => {
    const by = msg.by ? displayName(msg.by) : '';
    // A removed page forgets the meeting's keys (the others renew theirs without it anyway).
    if (!keepKeysAfterRemoval) stopE2EE();
    end('removed', () => (by ? t('call.removedBy', { name: by }) : t('call.removedByModerator')), () => t('call.removedText'));
  });
  sig.onclose = (ev) => {
    if (stale(sig)) return;
    update({ sig: null });
    onSocketClosed(ev);
  };
}

/** @param {any} msg */
export function onWelcome(msg) {
  const sig = st.sig;
  if (!sig) return;
  const wasReconnecting = st.reconnecting;
  update({ reconnecting: false });
  update({ reconnectAttempt: 0 });
  $('reconnecting').hidden = true;
  update({ self: msg.self });
  if (typeof msg.resume === 'string') update({ resume: msg.resume });
  update({ others: new Map() });
  for (const p of msg.participants || []) if (p && p.id) st.others.set(p.id, p);
  syncE2EERoster();
  startE2EEExchange();
  if (msg.limits && typeof msg.limits.maxChatChars === 'number') {
    update({ maxChat: msg.limits.maxChatChars });
    /** @type {HTMLTextAreaElement} */ ($('chat-input')).maxLength = st.maxChat;
  }
  if (msg.room && msg.room.name) {
    $('room-name').textContent = msg.room.name;
    $('room-name').title = msg.room.name; // whole, where the toolbar cuts it
  }
  if (st.session) st.session.close();
  resetLayoutReport();
  const session = new MediaSession(sig, {
    transforms: st.e2ee,
    videoCodec: msg.room && typeof msg.room.codec === 'string' ? msg.room.codec : '',
    iceTransportPolicy: relayOnly ? 'relay' : 'all',
    iceServers: Array.isArray(msg.iceServers)
      ? msg.iceServers.filter((/** @type {any} */ s) => s && (typeof s.urls === 'string' ? s.urls : Array.isArray(s.urls) && s.urls.length))
      : [],
    onRemoteTracks: (tracks) => {
      update({ remote: tracks });
      renderMedia();
    },
    onConnectionState: (pc, state) => watchMedia(sig, pc, state),
  });
  update({ session });
  applyGrantClasses();
  const recordingBefore = wasReconnecting ? st.room.recording : null;
  update({ room: normalizeRoom(msg.room) });
  announceRecording(recordingBefore, st.room.recording, true);
  update({ listening: (st.self && st.self.listening) || 'floor' });
  update({ interpreting: (st.self && st.self.interpreter && st.self.interpreter.channel) || '' });
  setPhase('joined');
  setView('meeting');
  chatLog.system(wasReconnecting ? t('call.reconnected') : roomName ? t('call.youJoinedRoom', { room: roomName }) : t('call.youJoined'));
  clearCaptions();
  sendCaptions();
  renderCaptions();
  renderAll();
  startSpeakingLoop();
  publishLocal();
}

/** Publishes the microphone and camera on a new pub connection. */
export async function publishLocal() {
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
    if (st.session === session) toast(t('call.publishFailed', { error: errText(err) }), { kind: 'error' });
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
export function onError(msg) {
  parleyTest.errors.push(msg);
  if (msg.ref === 'record') setRecordPending(false);
  if (st.phase === 'leaving') return;
  // The server's sentence is English: the page says what it means in its own words where it
  // knows the code (joinError), and shows the sentence as it came otherwise.
  const raw = typeof msg.message === 'string' && msg.message ? msg.message : t('call.serverError', { code: String(msg.code) });
  const said = raw.charAt(0).toUpperCase() + raw.slice(1);
  if (st.phase === 'joining') {
    update({ joinFailed: true });
    update({ reconnecting: false });
    fail(said, msg.code);
    return;
  }
  if (msg.code === 'replaced') {
    end('error', () => t('call.replacedTitle'), () => t('call.replacedText'));
    return;
  }
  if (msg.ref === 'offer' && st.session) st.session.pubOfferFailed(said);
  toast(said, { kind: 'error', iconName: 'alert' });
}

/** @param {CloseEvent} ev */
export function onSocketClosed(ev) {
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
      const reason = ev.reason;
      end('error', () => t('call.disconnectedTitle'), () => (reason ? t('call.closedReason', { reason }) : t('call.closed')));
    }
    return;
  }
  if (st.phase === 'joining') {
    if (st.joinFailed) return;
    if (st.reconnecting) scheduleReconnect();
    else fail(() => t('call.closedBeforeJoin'));
  }
}

/** @type {Record<string, number>} per connection: when it went down, 0 while it is up */
export const mediaDown = { pub: 0, sub: 0 };

/** how long media may be down while signaling lives before the session starts afresh */
export const MEDIA_DOWN_MS = 6000;

/**
 * Media can fail while the signaling socket lives (a UDP-only outage). ICE restarts are the
 * first remedy (session.js restarts pub's); if a connection stays down, a fresh session takes
 * the seat back with new connections, as after a network drop.
 * @param {Signaling} sig
 * @param {'pub' | 'sub'} pc
 * @param {RTCPeerConnectionState} state
 */
export function watchMedia(sig, pc, state) {
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

export function startReconnect() {
  mediaDown.pub = mediaDown.sub = 0;
  closeSession();
  update({ reconnecting: true });
  update({ reconnectUntil: Date.now() + 60000 });
  update({ reconnectAttempt: 0 });
  setPhase('joining');
  $('reconnecting').hidden = false;
  scheduleReconnect();
}

export function scheduleReconnect() {
  if (Date.now() > st.reconnectUntil) {
    update({ reconnecting: false });
    end('error', () => t('call.lostTitle'), () => t('call.lostText'));
    return;
  }
  const delay = reconnectDelay(st.reconnectAttempt, Date.now() - (st.reconnectUntil - 60000));
  update({ reconnectAttempt: st.reconnectAttempt + 1 });
  clearTimeout(st.reconnectTimer);
  update({ reconnectTimer: window.setTimeout(() => join(), delay) });
}

/**
 * The join failed: shows the full-page error.
 * @param {Text} said
 * @param {string} [code]
 */
export function fail(said, code) {
  const known = code ? joinError(code) : undefined;
  if (known && code) {
    end('error', () => joinError(code)?.title || '', () => joinError(code)?.text || '', { detail: text(said), retry: known.retry });
  } else {
    end('error', () => t('call.cantJoin'), said, { retry: true });
  }
}

export function leave() {
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
  showConnecting(() => t('call.leaving'));
  setView('connecting');
  clearTimeout(st.leaveTimer);
  update({ leaveTimer: window.setTimeout(() => finishLeave(), LEAVE_DRAIN_MS) });
}

/**
 * Shows the left screen (closing the socket if the server has not).
 * @param {boolean} [now] leave without waiting (not recorded, or not joined)
 */
export function finishLeave(now = false) {
  if (!now && st.phase !== 'leaving') return;
  clearTimeout(st.leaveTimer);
  const recorded = isRecording();
  const n = recorded ? st.countersigned : 0;
  const said = () => {
    const room = roomName ? t('call.leftRoom', { room: roomName }) : '';
    const signed = n ? t('call.countersigned', { count: n }) : '';
    return room && signed ? `${room}. ${signed}` : room || signed;
  };
  end('left', () => t('call.leftTitle'), said);
}

/** The connecting screen's line, kept to write again in another language. */
let connecting = joiningText;

/** @param {() => string} line */
export function showConnecting(line) {
  connecting = line;
  $('connecting-text').textContent = line();
}

/** What the end screen shows, kept to write again in another language. */
let ended = { phase: 'left', title: /** @type {Text} */ (''), text: /** @type {Text} */ ('') };

/** Writes the connecting and end screens again, in a new interface language. */
export function renderEndTexts() {
  $('connecting-text').textContent = connecting();
  if (document.body.dataset.view !== 'ended') return;
  $('end-title').textContent = text(ended.title);
  $('end-text').textContent = text(ended.text);
  $('rejoin-text').textContent = t(ended.phase === 'error' ? 'end.tryAgain' : 'end.rejoin');
}

/**
 * Tears the meeting down and shows an end screen.
 * @param {'left' | 'removed' | 'error'} phase
 * @param {Text} title
 * @param {Text} said
 * @param {{detail?: string, retry?: boolean}} [opts] the technical detail behind a toggle;
 *   whether joining again can work (by default it can, unless removed)
 */
export function end(phase, title, said, opts = {}) {
  clearTimeout(st.reconnectTimer);
  clearTimeout(st.leaveTimer);
  closeRecordPopover();
  closeRecordConfirm();
  closeE2EEPopover();
  closeMoreMenu();
  setRecordPending(false);
  for (const t of document.querySelectorAll('#toasts [data-group="recording"]')) t.remove();
  update({ reconnecting: false });
  $('reconnecting').hidden = true;
  closeSession();
  if (st.sig) {
    const sig = st.sig;
    update({ sig: null });
    // Let a queued `leave` go out before the close frame.
    setTimeout(() => sig.close(), 50);
  }
  if (st.sharing) stopScreen();
  media.stopAll();
  st.others.clear();
  update({ self: null });
  update({ remote: [] });
  if (stage) stage.retain(() => false);
  closePanel();
  setPhase(phase);
  renderE2EE();
  setView('ended');
  ended = { phase, title, text: said };
  $('end-title').textContent = text(title);
  $('end-text').textContent = text(said);
  $('end-icon').replaceChildren(icon(phase === 'left' ? 'wave' : phase === 'removed' ? 'removeUser' : 'alert'));
  $('end-icon').className = `end-icon end-${phase}`;
  const detail = opts.detail && opts.detail !== text(said) ? opts.detail : '';
  $('end-details').hidden = !detail;
  $('end-detail-text').textContent = detail;
  const retry = phase !== 'removed' && opts.retry !== false;
  $('rejoin-btn').hidden = !retry;
  $('rejoin-text').textContent = t(phase === 'error' ? 'end.tryAgain' : 'end.rejoin');
  // Without a retry, the way home is the page's one action.
  $('end-home').className = retry ? 'btn btn-ghost' : 'btn btn-primary';
  (retry ? $('rejoin-btn') : $('end-home')).focus();
}

export function closeSession() {
  clearInterval(st.speakingTimer);
  if (st.session) st.session.close();
  update({ session: null });
  update({ remote: [] });
  for (const { el } of audioEls.values()) {
    el.srcObject = null;
    el.remove();
  }
  audioEls.clear();
  $('audio-unlock').hidden = true;
}

export async function rejoin() {
  showConnecting(joiningText);
  setView('connecting');
  setPhase('joining');
  await startLocalMedia();
  joinWhenKeysReady();
}

/** Set by a test: a removed page keeps its keys, as a modified client would. */
export let keepKeysAfterRemoval = false;

/** The test hook behind keepKeysAfterRemoval. */
export function keepKeysOnRemoval() {
  keepKeysAfterRemoval = true;
}

/**
 * Whether sig is no longer the page's connection (a newer one replaced it, or the call ended)
 * while an await let other work run. A call, not a comparison, so that tsc does not narrow
 * st.sig across the await.
 * @param {Signaling} sig
 * @returns {boolean}
 */
function stale(sig) {
  return st.sig !== sig;
}
