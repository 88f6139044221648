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
 *            decryptFailures: number, replayedFrames: number, misattributedFrames: number,
 *            refusedMessages: number, keyed: string[], failing: string[]}} E2EEStatus
 * @typedef {{kid: string, secret: string, participant: string, identity: string}} MediaKey
 * @typedef {{mid: string, kind: string, clear: number, data: string}} TappedFrame
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
   * @param {(to: string, data: string) => void} onSend sends a key exchange message (`to`: a
   *   participant id, or '' for everyone) through the server
   */
  constructor(room, onStatus, onSend) {
    const api = transformAPI();
    if (!api) throw new Error('this browser cannot transform encoded media');
    /** @type {TransformAPI} */
    this.api = api;
    this.room = room;
    this.onStatus = onStatus;
    this.onSend = onSend;
    /** @type {E2EEStatus} */
    this.status = { ready: false, epoch: 0, encryptedFrames: 0, decryptedFrames: 0, decryptFailures: 0, replayedFrames: 0,
      misattributedFrames: 0, refusedMessages: 0, keyed: [], failing: [] };
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
    /** @type {Map<number, (m: any) => void>} requests waiting for the worker's answer */
    this.waiting = new Map();
    this.requestID = 0;
    this.worker.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === 'chat' || m.type === 'export' || m.type === 'tap' || m.type === 'try-open') {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (done) done(m);
      } else if (m.type === 'send') {
        if (typeof m.data === 'string') this.onSend(typeof m.to === 'string' ? m.to : '', m.data);
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
          misattributedFrames: m.misattributedFrames || 0,
          refusedMessages: m.refusedMessages || 0,
          keyed: Array.isArray(m.keyed) ? m.keyed : [],
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
   * Derives the admission secret from the passphrase (in the worker).
   * @param {string} passphrase
   * @returns {Promise<void>}
   */
  start(passphrase) {
    this.worker.postMessage({ type: 'init', passphrase, room: this.room });
    return this.ready;
  }

  /**
   * Who this page is in the room, after each welcome; the worker then asks everyone for keys.
   * @param {string} pid
   * @param {string} identity
   * @param {string} ed this page's Ed25519 public key (base64url), as sent in `join`
   * @param {CryptoKey} sign its private half (non-extractable), which signs the exchange
   */
  setSelf(pid, identity, ed, sign) {
    this.worker.postMessage({ type: 'self', pid, identity, ed, sign });
  }

  /**
   * Everyone else in the room, as the server lists them; someone gone renews every key.
   * @param {{id: string, identity: string, key?: string, interpreter?: any}[]} others
   */
  setRoster(others) {
    const members = others.map((p) => ({ id: p.id, identity: p.identity, key: p.key || '', interpreter: !!p.interpreter }));
    this.worker.postMessage({ type: 'roster', members });
  }

  /**
   * Who the server says sends each received mid (a `sub` offer's `tracks`).
   * @param {Record<string, {participant: string, source: string}>} tracks
   */
  setOwners(tracks) {
    this.worker.postMessage({ type: 'owners', tracks });
  }

  /**
   * Another member's key exchange message (an `e2ee` from the server).
   * @param {{id: string, identity: string}} from
   * @param {string} data
   */
  receive(from, data) {
    this.worker.postMessage({ type: 'recv', from: { id: String(from.id || ''), identity: String(from.identity || '') }, data });
  }

  /**
   * Seals a chat message (null if the keys are not there).
   * @param {string} text
   * @param {string} identity this participant's, bound to the message
   * @returns {Promise<string | null>}
   */
  sealChat(text, identity) {
    return this.request({ type: 'chat', seal: true, text, room: this.room, identity }).then((m) => (typeof m.text === 'string' ? m.text : null));
  }

  /**
   * Opens a sealed chat message from `identity`; null if it does not open.
   * @param {string} sealed
   * @param {string} identity the sender's, as the server names them
   * @returns {Promise<string | null>}
   */
  openChat(sealed, identity) {
    return this.request({ type: 'chat', seal: false, text: sealed, room: this.room, identity }).then((m) => (typeof m.text === 'string' ? m.text : null));
  }

  /**
   * The room's record now running ('' for none): while one runs, the worker keeps the media
   * secrets that open it in IndexedDB (keys.js), never handing them to the page.
   * @param {string} record
   */
  setRecord(record) {
    this.worker.postMessage({ type: 'record', record });
  }

  /** @returns {Promise<MediaKey[]>} every media secret this page has held: what reading the record takes */
  exportKeys() {
    return this.request({ type: 'export' }).then((m) => (Array.isArray(m.keys) ? m.keys : []));
  }

  /**
   * Test hook: the next `count` frames received, as ciphertext.
   * @param {number} count
   * @returns {Promise<TappedFrame[]>}
   */
  tap(count) {
    return this.request({ type: 'tap', count }).then((m) => (Array.isArray(m.frames) ? m.frames : []));
  }

  /**
   * Test hook: how many of some frames the secrets this page ever held open.
   * @param {TappedFrame[]} frames
   * @returns {Promise<number>}
   */
  tryOpen(frames) {
    return this.request({ type: 'try-open', frames }).then((m) => Number(m.opened) || 0);
  }

  /**
   * @param {Record<string, any>} msg
   * @returns {Promise<any>}
   */
  request(msg) {
    const id = ++this.requestID;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...msg, id });
    });
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
