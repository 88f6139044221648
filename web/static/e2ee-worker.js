// The end-to-end encryption worker: every encoded frame of every sender and receiver of
// both connections passes through here (RTCRtpScriptTransform, or the streams of
// createEncodedStreams() handed over by postMessage). It holds the keys; the page never
// sees them, and nothing here is logged.
//
// Messages from the page:
//   {type: 'init', passphrase, room}   derive epoch 0; answers {type: 'ready'} or {type: 'failed'}
//   {type: 'ratchet'}                   someone left: move to the next epoch
//   {type: 'streams', options, readable, writable}   the createEncodedStreams() fallback
// To the page, twice a second: {type: 'status', epoch, encryptedFrames, decryptedFrames,
//   decryptFailures, failing: [mid, ...]} (receivers whose frames have failed for over 2 s).
//
// Epochs. Everyone starts at epoch 0 and moves one epoch on when a participant leaves.
// The epoch travels in each frame's key id, so anyone behind (a late joiner, or a client
// that missed a departure while reconnecting) catches up when a frame from a later epoch
// authenticates under the ratcheted key; after such a catch-up the next local departure
// event is taken as the one already caught up with, so nobody ratchets twice for one
// departure. Receivers keep the previous epochs' keys for OVERLAP_MS, for senders that
// move a little later.

import * as sf from './sframe.js';

/** How long keys of superseded epochs still open frames. */
const OVERLAP_MS = 10000;
/** How far ahead of its own epoch a receiver tries to catch up. */
const MAX_CATCH_UP = 1024;
/** Frames failing this long (and no frame opening meanwhile) mark their receiver. */
const FAILING_AFTER_MS = 2000;
/** How long an epoch caught up with from others stands in for a departure event. */
const CREDIT_MS = 10000;

/**
 * @typedef {{side: 'send' | 'recv', kind: 'audio' | 'video', mid?: string}} Options
 * @typedef {{options: Options, generateKeyFrame?: () => Promise<void>,
 *            sendKeyFrameRequest?: () => Promise<void>}} Endpoint
 * @typedef {{lastOk: number, failSince: number, lastFail: number, endpoint: Endpoint}} RecvState
 */

const st = {
  ready: false,
  /** @type {Promise<void> | null} */
  init: null,
  epoch: 0,
  /** @type {Map<number, {secret: Uint8Array<ArrayBuffer>, until: number}>} current and recent epochs */
  epochs: new Map(),
  /** @type {Map<string, Promise<sf.SenderKey>>} by KID */
  keys: new Map(),
  sender: sf.randomSender(),
  /** the next SFrame counter; one sequence for all of this page's senders */
  ctr: 0n,
  /** ratchets asked for before the first key was ready */
  pendingRatchets: 0,
  /** epochs caught up with from frames, waiting for their departure events */
  credits: 0,
  creditUntil: 0,
  /** whether any frame has authenticated yet (the first catch-up is a late join, not a departure) */
  seen: false,
  /** a change of epoch runs alone */
  /** @type {Promise<void>} */
  chain: Promise.resolve(),
  encrypted: 0,
  decrypted: 0,
  failures: 0,
  /** frames that authenticated but were opened before: replayed (by the server, or on the way) */
  replayed: 0,
  replay: new sf.ReplayWindow(),
  /** @type {Map<string, RecvState>} receivers by mid */
  recv: new Map(),
  /** @type {Map<number, Uint8Array<ArrayBuffer>>} later epochs' secrets, derived while catching up */
  ahead: new Map(),
  /** @type {Set<Endpoint>} video senders, asked for a keyframe when the epoch changes */
  videoSenders: new Set(),
};

const scope = /** @type {any} */ (self);

/** @type {Promise<CryptoKey> | null} the meeting's chat key, from epoch 0 */
let chatKey = null;

scope.onmessage = (/** @type {MessageEvent} */ ev) => {
  const msg = ev.data || {};
  switch (msg.type) {
    case 'init':
      if (!st.init) st.init = start(String(msg.passphrase || ''), String(msg.room || ''));
      break;
    case 'ratchet':
      onDeparture();
      break;
    case 'streams':
      pipe({ options: msg.options }, msg.readable, msg.writable);
      break;
    case 'chat':
      chat(msg);
      break;
  }
};

/**
 * Seals (msg.seal) or opens a chat message for the page; the key stays here.
 * @param {{id: number, seal: boolean, text: string, room: string, identity: string}} msg
 */
async function chat(msg) {
  let text = null;
  try {
    if (st.init) await st.init;
    if (chatKey) {
      const key = await chatKey;
      text = msg.seal
        ? await sf.sealChat(key, String(msg.text), String(msg.room), String(msg.identity))
        : await sf.openChat(key, String(msg.text), String(msg.room), String(msg.identity));
    }
  } catch {
    text = null;
  }
  scope.postMessage({ type: 'chat', id: msg.id, text });
}

// RTCRtpScriptTransform: one event per sender or receiver.
scope.onrtctransform = (/** @type {any} */ ev) => {
  const t = ev.transformer;
  /** @type {Endpoint} */
  const ep = {
    options: t.options,
    generateKeyFrame: typeof t.generateKeyFrame === 'function' ? () => t.generateKeyFrame() : undefined,
    sendKeyFrameRequest: typeof t.sendKeyFrameRequest === 'function' ? () => t.sendKeyFrameRequest() : undefined,
  };
  pipe(ep, t.readable, t.writable);
};

/**
 * @param {string} passphrase
 * @param {string} room
 */
async function start(passphrase, room) {
  try {
    const secret = await sf.epochZero(passphrase, room);
    st.epochs.set(0, { secret, until: Infinity });
    chatKey = sf.chatKey(secret); // epoch 0 itself is forgotten once the meeting ratchets on
    st.ready = true;
    const n = st.pendingRatchets;
    st.pendingRatchets = 0;
    if (n) await advance(n, false);
    scope.postMessage({ type: 'ready', epoch: st.epoch });
  } catch (err) {
    scope.postMessage({ type: 'failed', message: err instanceof Error ? err.name : 'error' });
  }
}

/** A participant left: the next epoch, unless frames already brought us there. */
function onDeparture() {
  if (!st.ready) {
    st.pendingRatchets++;
    return;
  }
  st.chain = st.chain.then(async () => {
    if (st.credits > 0 && Date.now() < st.creditUntil) {
      st.credits--;
      return;
    }
    st.credits = 0;
    await advance(1, false);
  });
}

/**
 * Moves the epoch on by n (the caller holds st.chain, or nothing else can run).
 * @param {number} n
 * @param {boolean} caughtUp brought by a frame from a later epoch, not by a departure
 * @param {Map<number, Uint8Array<ArrayBuffer>>} [known] secrets of the later epochs, if derived
 */
async function advance(n, caughtUp, known) {
  const from = st.epoch;
  n = Math.min(n, sf.MAX_EPOCH - from);
  if (n <= 0) return;
  const now = Date.now();
  const cur = st.epochs.get(from);
  if (!cur) return;
  let secret = cur.secret;
  for (let e = from + 1; e <= from + n; e++) {
    secret = (known && known.get(e)) || (await sf.ratchet(secret));
  }
  const to = from + n;
  for (const v of st.epochs.values()) if (v.until === Infinity) v.until = now + OVERLAP_MS;
  st.ahead = new Map();
  st.epochs.set(to, { secret, until: Infinity });
  st.epoch = to;
  if (caughtUp && st.seen) {
    st.credits += to - from;
    st.creditUntil = now + CREDIT_MS;
  }
  prune();
  // Receivers that dropped frames meanwhile get a fresh start.
  for (const ep of st.videoSenders) if (ep.generateKeyFrame) ep.generateKeyFrame().catch(() => {});
  postStatus();
}

/** Forgets epochs past their overlap and their sender keys. */
function prune() {
  const now = Date.now();
  for (const [e, v] of st.epochs) if (v.until < now) st.epochs.delete(e);
  for (const kid of st.keys.keys()) {
    if (!st.epochs.has(sf.splitKid(BigInt(kid)).epoch)) st.keys.delete(kid);
  }
  for (const kid of st.replay.senders.keys()) {
    if (!st.epochs.has(sf.splitKid(kid).epoch)) st.replay.senders.delete(kid);
  }
}

/**
 * @param {bigint} kid
 * @param {Uint8Array<ArrayBuffer>} secret
 * @returns {Promise<sf.SenderKey>}
 */
function keyFor(kid, secret) {
  const id = kid.toString();
  let k = st.keys.get(id);
  if (!k) {
    k = sf.senderKey(secret, kid);
    st.keys.set(id, k);
  }
  return k;
}

/**
 * Runs one sender's or receiver's frames through encryption or decryption.
 * @param {Endpoint} ep
 * @param {ReadableStream} readable
 * @param {WritableStream} writable
 */
function pipe(ep, readable, writable) {
  const o = ep.options || { side: 'recv', kind: 'video' };
  const send = o.side === 'send';
  if (send && o.kind === 'video') st.videoSenders.add(ep);
  if (!send && o.mid != null) {
    st.recv.set(String(o.mid), { lastOk: 0, failSince: 0, lastFail: 0, endpoint: ep });
  }
  const transform = new TransformStream({
    transform: send
      ? (frame, ctl) => encryptFrame(frame, ctl, o)
      : (frame, ctl) => decryptFrame(frame, ctl, o, ep),
  });
  readable
    .pipeThrough(transform)
    .pipeTo(writable)
    .catch(() => {})
    .finally(() => {
      st.videoSenders.delete(ep);
      if (!send && o.mid != null && st.recv.get(String(o.mid))?.endpoint === ep) st.recv.delete(String(o.mid));
    });
}

/**
 * @param {any} frame RTCEncodedAudioFrame or RTCEncodedVideoFrame
 * @param {TransformStreamDefaultController} ctl
 * @param {Options} o
 */
async function encryptFrame(frame, ctl, o) {
  // No key yet: nothing leaves this page in clear.
  if (!st.ready) return;
  const data = new Uint8Array(frame.data);
  if (!data.length) {
    ctl.enqueue(frame);
    return;
  }
  const epoch = st.epoch;
  const e = st.epochs.get(epoch);
  if (!e) return;
  const kid = sf.makeKid(epoch, st.sender);
  const ctr = st.ctr++;
  try {
    const sk = await keyFor(kid, e.secret);
    frame.data = (await sf.seal(sk, kid, ctr, data, sf.clearBytes(o.kind, frame.type))).buffer;
  } catch {
    return; // dropped, never sent in clear
  }
  st.encrypted++;
  ctl.enqueue(frame);
}

/**
 * @param {any} frame
 * @param {TransformStreamDefaultController} ctl
 * @param {Options} o
 * @param {Endpoint} ep
 */
async function decryptFrame(frame, ctl, o, ep) {
  const data = new Uint8Array(frame.data);
  if (!data.length) {
    ctl.enqueue(frame);
    return;
  }
  const out = st.ready ? await openFrame(data, sf.clearBytes(o.kind, frame.type)) : null;
  const now = Date.now();
  const r = o.mid != null ? st.recv.get(String(o.mid)) : undefined;
  if (out === REPLAYED) return; // dropped: played once already
  if (!out) {
    // Dropped: a frame that does not authenticate never reaches the decoder.
    st.failures++;
    if (r) {
      if (!r.failSince) r.failSince = now;
      r.lastFail = now;
    }
    return;
  }
  st.decrypted++;
  if (r) {
    const wasFailing = r.failSince && now - r.failSince > 300;
    r.lastOk = now;
    r.failSince = 0;
    if (wasFailing && o.kind === 'video' && ep.sendKeyFrameRequest) ep.sendKeyFrameRequest().catch(() => {});
  }
  frame.data = out.buffer;
  ctl.enqueue(frame);
}

/** What openFrame returns for a frame that authenticates but was opened before: dropped, and not a failure. */
const REPLAYED = 'replayed';

/**
 * Opens a protected frame with the key of the epoch its key id names: the current one, a
 * recent one, or (catching up) a later one; a frame already opened once is REPLAYED.
 * @param {Uint8Array} data
 * @param {number} clear
 * @returns {Promise<Uint8Array<ArrayBuffer> | null | typeof REPLAYED>}
 */
async function openFrame(data, clear) {
  const p = sf.parse(data, clear);
  if (!p) return null;
  const out = await openParsed(p);
  if (out && !st.replay.accept(p.kid, p.ctr)) {
    st.replayed++;
    return REPLAYED;
  }
  return out;
}

/**
 * @param {{kid: bigint, ctr: bigint, head: Uint8Array, header: Uint8Array, body: Uint8Array}} p
 * @returns {Promise<Uint8Array<ArrayBuffer> | null>}
 */
async function openParsed(p) {
  const { epoch } = sf.splitKid(p.kid);
  const known = st.epochs.get(epoch);
  if (known) {
    if (known.until < Date.now()) return null;
    try {
      const out = await sf.open(await keyFor(p.kid, known.secret), p);
      st.seen = true;
      return out;
    } catch {
      return null;
    }
  }
  if (epoch <= st.epoch || epoch - st.epoch > MAX_CATCH_UP) return null;
  // A later epoch: ratchet a copy forward and adopt it only if the frame authenticates,
  // so a frame under another passphrase can never move the epoch.
  return catchUp(epoch, p);
}

/**
 * @param {number} epoch
 * @param {{kid: bigint, ctr: bigint, head: Uint8Array, header: Uint8Array, body: Uint8Array}} p
 * @returns {Promise<Uint8Array<ArrayBuffer> | null>}
 */
function catchUp(epoch, p) {
  /** @type {Promise<Uint8Array<ArrayBuffer> | null>} */
  const job = st.chain.then(async () => {
    if (epoch <= st.epoch) {
      const e = st.epochs.get(epoch);
      if (!e) return null;
      try {
        return await sf.open(await keyFor(p.kid, e.secret), p);
      } catch {
        return null;
      }
    }
    const cur = st.epochs.get(st.epoch);
    if (!cur) return null;
    // Derived once per epoch however many frames name it (until the epoch changes).
    const secrets = st.ahead;
    let secret = cur.secret;
    for (let e = st.epoch + 1; e <= epoch; e++) {
      let next = secrets.get(e);
      if (!next) {
        next = await sf.ratchet(secret);
        secrets.set(e, next);
      }
      secret = next;
    }
    let out;
    try {
      out = await sf.open(await sf.senderKey(secret, p.kid), p);
    } catch {
      return null;
    }
    await advance(epoch - st.epoch, true, secrets);
    st.seen = true;
    return out;
  });
  st.chain = job.then(() => {}, () => {});
  return job;
}

/** @returns {string[]} mids whose frames have failed for over FAILING_AFTER_MS */
function failing() {
  const now = Date.now();
  /** @type {string[]} */
  const out = [];
  for (const [mid, r] of st.recv) {
    if (r.failSince && r.lastFail - r.failSince >= FAILING_AFTER_MS && now - r.lastFail < 1500) out.push(mid);
  }
  return out;
}

function postStatus() {
  scope.postMessage({
    type: 'status',
    ready: st.ready,
    epoch: st.epoch,
    encryptedFrames: st.encrypted,
    decryptedFrames: st.decrypted,
    decryptFailures: st.failures,
    replayedFrames: st.replayed,
    failing: failing(),
  });
}

setInterval(() => {
  prune();
  postStatus();
}, 500);
