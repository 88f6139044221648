// Test hooks: window.parleyTest, used by the Go end-to-end tests; keep their shape.

import { $, st, keyReady, others, who } from './store.js';
import { leave, keepKeysOnRemoval } from './call.js';
import { sendChat } from './chat.js';
import { setListening, setInterpreting } from './interpretation.js';
import { setCaptionChannel, setCaptionsOn, received } from './captions.js';
import { sendRecord } from './recording.js';

/**
 * @typedef {import('./store.js').Recording} Recording
 * @typedef {import('./store.js').Who} Who
 */

export const parleyTest = {
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
  /**
   * The voice processing of the microphone track the publishing connection sends.
   * @returns {{echoCancellation?: boolean, noiseSuppression?: boolean, autoGainControl?: boolean} | null}
   */
  micProcessing: () => {
    const sender = st.session && st.session.pub ? st.session.pub.getSenders().find((s) => s.track && s.track.kind === 'audio') : undefined;
    if (!sender || !sender.track) return null;
    const { echoCancellation, noiseSuppression, autoGainControl } = sender.track.getSettings();
    return { echoCancellation, noiseSuppression, autoGainControl };
  },
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
  /** @param {string} channel whose captions to show: `auto`, `floor` or a room language */
  captionsOf: (channel) => setCaptionChannel(channel),
  /** @param {boolean} on show captions or not */
  captionsOn: (on) => setCaptionsOn(!!on),
  /**
   * @returns {{who: string, lang: string, text: string, end: string, shown: number}[]} the captions on
   *   screen, oldest first: `end` is when the speech reached the server, `shown` when it was drawn (ms)
   */
  captionLines: () => Array.from(document.querySelectorAll('#captions-lines .caption')).map((li) => ({
    who: (li.querySelector('.caption-who') || {}).textContent || '',
    lang: (li.querySelector('.caption-lang') || {}).textContent || '',
    text: (li.querySelector('.caption-text') || {}).textContent || '',
    end: /** @type {HTMLElement} */ (li).dataset.end || '',
    shown: Number(/** @type {HTMLElement} */ (li).dataset.shown || 0),
  })),
  /** @returns {{identity: string, channel: string, language: string, text: string}[]} every caption received */
  captionsReceived: () => received.map((c) => ({ identity: c.from.identity, channel: c.channel, language: c.language, text: c.text, translated: c.translated || null })),
  /** @returns {string} the note over the captions ('' when none shows) */
  captionNote: () => ($('captions-note').hidden ? '' : $('captions-note').textContent || ''),
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
    keepKeysOnRemoval();
  },
  /** @returns {Recording | null} the room's `recording`, as last announced */
  recording: () => (st.room.recording ? { ...st.room.recording } : null),
};

/** @type {any} */ (window).parleyTest = parleyTest;
