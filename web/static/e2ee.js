// End-to-end encryption on the page side: starts the worker (e2ee-worker.js) that holds
// the keys and transforms every encoded frame, attaches it to the senders and receivers
// of both connections, and reports what it sees. The passphrase goes to the worker only:
// never to the server, never to the console.
//
// Encoded transforms come in two APIs: RTCRtpScriptTransform (the standard; Chromium,
// Safari, Firefox) and, for older Chromium, createEncodedStreams() on connections made
// with {encodedInsertableStreams: true}. Either way the frames are transformed in the
// worker, and a frame that cannot be encrypted is dropped, never sent in clear.

/**
 * @typedef {'script' | 'streams'} TransformAPI
 * @typedef {{ready: boolean, epoch: number, encryptedFrames: number, decryptedFrames: number,
 *            decryptFailures: number, replayedFrames: number, failing: string[]}} E2EEStatus
 */

/** @returns {TransformAPI | null} the encoded-transform API this browser has, if any */
export function transformAPI() {
  const w = /** @type {any} */ (window);
  if (typeof w.RTCRtpScriptTransform === 'function' && typeof Worker === 'function') return 'script';
  if (typeof w.RTCRtpSender === 'function' && typeof w.RTCRtpSender.prototype.createEncodedStreams === 'function' &&
      typeof Worker === 'function' && typeof w.ReadableStream === 'function') {
    return 'streams';
  }
  return null;
}

/**
 * The passphrase in the page's fragment (#e2ee=PASSPHRASE); the fragment never reaches the server.
 * @param {string} hash location.hash
 * @returns {string | null}
 */
export function passphraseFromFragment(hash) {
  if (!hash || hash.length < 2) return null;
  const v = new URLSearchParams(hash.slice(1)).get('e2ee');
  return v && v.trim() ? v : null;
}

export class E2EE {
  /**
   * @param {string} room the room name, part of the key derivation
   * @param {(s: E2EEStatus) => void} onStatus
   */
  constructor(room, onStatus) {
    const api = transformAPI();
    if (!api) throw new Error('this browser cannot transform encoded media');
    /** @type {TransformAPI} */
    this.api = api;
    this.room = room;
    this.onStatus = onStatus;
    /** @type {E2EEStatus} */
    this.status = { ready: false, epoch: 0, encryptedFrames: 0, decryptedFrames: 0, decryptFailures: 0, replayedFrames: 0, failing: [] };
    /** @type {string | null} why encryption stopped working, if it did */
    this.broken = null;
    /** @type {WeakSet<RTCRtpSender | RTCRtpReceiver>} */
    this.attached = new WeakSet();
    this.worker = new Worker(new URL('./e2ee-worker.js', import.meta.url), { type: 'module', name: 'parley-e2ee' });
    /** @type {(v: void) => void} */
    let resolve = () => {};
    /** @type {(e: Error) => void} */
    let reject = () => {};
    /** @type {Promise<void>} resolves when the first key is ready */
    this.ready = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.ready.catch(() => {});
    /** @type {Map<number, (text: string | null) => void>} chat requests waiting for the worker */
    this.chatWaiting = new Map();
    this.chatID = 0;
    this.worker.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === 'chat') {
        const done = this.chatWaiting.get(m.id);
        this.chatWaiting.delete(m.id);
        if (done) done(typeof m.text === 'string' ? m.text : null);
      } else if (m.type === 'ready') resolve();
      else if (m.type === 'failed') reject(new Error(`the keys could not be derived (${m.message})`));
      else if (m.type === 'status') {
        this.status = {
          ready: !!m.ready,
          epoch: m.epoch,
          encryptedFrames: m.encryptedFrames,
          decryptedFrames: m.decryptedFrames,
          decryptFailures: m.decryptFailures,
          replayedFrames: m.replayedFrames || 0,
          failing: Array.isArray(m.failing) ? m.failing : [],
        };
        this.onStatus(this.status);
      }
    };
    this.worker.onerror = (ev) => {
      // The transforms stop with the worker: media stops too, it never flows in clear.
      ev.preventDefault();
      this.broken = 'the encryption worker stopped';
      reject(new Error(this.broken));
    };
  }

  /**
   * Derives the keys from the passphrase (in the worker).
   * @param {string} passphrase
   * @returns {Promise<void>}
   */
  start(passphrase) {
    this.worker.postMessage({ type: 'init', passphrase, room: this.room });
    return this.ready;
  }

  /**
   * Seals a chat message (null if the keys are not there).
   * @param {string} text
   * @param {string} identity this participant's, bound to the message
   * @returns {Promise<string | null>}
   */
  sealChat(text, identity) {
    return this.chatCall(true, text, identity);
  }

  /**
   * Opens a sealed chat message from `identity`; null if it does not open.
   * @param {string} sealed
   * @param {string} identity the sender's, as the server names them
   * @returns {Promise<string | null>}
   */
  openChat(sealed, identity) {
    return this.chatCall(false, sealed, identity);
  }

  /**
   * @param {boolean} seal
   * @param {string} text
   * @param {string} identity
   * @returns {Promise<string | null>}
   */
  chatCall(seal, text, identity) {
    const id = ++this.chatID;
    return new Promise((resolve) => {
      this.chatWaiting.set(id, resolve);
      this.worker.postMessage({ type: 'chat', id, seal, text, room: this.room, identity });
    });
  }

  /** Someone left the meeting: every client moves to the next key epoch. */
  ratchet() {
    this.worker.postMessage({ type: 'ratchet' });
  }

  /** @returns {Record<string, any>} what an RTCPeerConnection needs for this API */
  pcConfig() {
    return this.api === 'streams' ? { encodedInsertableStreams: true } : {};
  }

  /**
   * Encrypts everything a sender sends, from its first frame.
   * @param {RTCRtpTransceiver} t
   * @param {'audio' | 'video'} kind
   */
  attachSender(t, kind) {
    if (kind === 'video') preferVP8(t);
    this.attach(t.sender, { side: 'send', kind });
  }

  /**
   * Decrypts everything a receiver receives.
   * @param {RTCRtpTransceiver} t
   */
  attachReceiver(t) {
    if (t.mid == null) return;
    const kind = t.receiver.track.kind === 'audio' ? 'audio' : 'video';
    this.attach(t.receiver, { side: 'recv', kind, mid: t.mid });
  }

  /**
   * @param {RTCRtpSender | RTCRtpReceiver} end
   * @param {{side: 'send' | 'recv', kind: 'audio' | 'video', mid?: string}} options
   */
  attach(end, options) {
    if (this.attached.has(end)) return;
    this.attached.add(end);
    const any = /** @type {any} */ (end);
    if (this.api === 'script') {
      any.transform = new /** @type {any} */ (window).RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = any.createEncodedStreams();
    this.worker.postMessage({ type: 'streams', options, readable, writable }, [readable, writable]);
  }

  close() {
    this.worker.terminate();
  }
}

/**
 * Video goes out as VP8: the clear bytes the SFU and the recorder read are VP8's payload
 * header, and other codecs' packetizers parse the frame (which is ciphertext).
 * @param {RTCRtpTransceiver} t
 */
function preferVP8(t) {
  if (typeof t.setCodecPreferences !== 'function' || typeof RTCRtpSender.getCapabilities !== 'function') return;
  const caps = RTCRtpSender.getCapabilities('video');
  if (!caps) return;
  const vp8 = caps.codecs.filter((c) => /^video\/vp8$/i.test(c.mimeType));
  const extra = caps.codecs.filter((c) => /^video\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType));
  if (!vp8.length) return;
  try {
    t.setCodecPreferences([...vp8, ...extra]);
  } catch {
    try {
      t.setCodecPreferences(vp8);
    } catch {
      /* the browser's default order puts VP8 first anyway */
    }
  }
}
