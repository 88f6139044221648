// The end-to-end encryption worker: every encoded frame of every sender and receiver of
// both connections passes through here (RTCRtpScriptTransform, or the streams of
// createEncodedStreams() handed over by postMessage), and so does the key exchange. It holds
// the keys; the page never sees them, and nothing here is logged. docs/e2ee.md is the
// specification.
//
// Messages from the page:
//   {type: 'init', passphrase, room}     derive the admission secret; answers 'ready' or 'failed'
//   {type: 'self', pid, identity, ed, sign}   who this page is in the room (after each welcome),
//                                         with its Ed25519 identity key (`sign`, non-extractable)
//   {type: 'roster', members: [{id, identity, key, interpreter}]}   everyone else in the room
//   {type: 'owners', tracks: {mid: {participant, source}}}   who the server says sends each mid
//   {type: 'recv', from: {id, identity}, data}   another member's key exchange message
//   {type: 'streams', options, readable, writable}   the createEncodedStreams() fallback
//   {type: 'chat', id, seal, text, room, identity}   seal or open a chat line
//   {type: 'export', id}                  the media secrets known (for reading the record later)
//   {type: 'record', record}              the room's record now running ('' for none): while one
//                                         runs, every media secret this page holds or gets is kept
//                                         in IndexedDB for it (keys.js), to read the record later
//   {type: 'tap', id, count}, {type: 'try-open', id, frames}   test hooks: ciphertext as received,
//                                         and how much of some ciphertext these keys open
// To the page: {type: 'send', to, data} (a key exchange message for the server to relay), and
// twice a second {type: 'status', ...} (see postStatus).
//
// The exchange. Each page has an X25519 key pair and a random media secret of its own; it sends
// the secret to every other member, wrapped for each alone (sframe.js), in a message MACed with
// the admission secret (so only passphrase holders take part) and signed with the page's
// identity key (so no member can pass for another, and the server can pass for no one). A
// receiver binds each key id to the participant whose key signed it, and drops a frame whose
// key id belongs to someone other than the participant the server says the track is from.
// When anyone leaves, every page draws a new secret (the next generation) and sends it only to
// those still present: whoever left, passphrase or not, opens nothing sent after that.

import * as sf from './sframe.js';
import { keepMediaKeys } from './keys.js';

/** How long superseded key ids still open frames: packets in flight, late keyframes. */
const OVERLAP_MS = 10000;
/** How long after sending a new secret this page starts to encrypt with it. */
const SWITCH_MS = 300;
/** Departures this close together make one renewal. */
const RENEW_COALESCE_MS = 250;
/** Frames failing this long (and no frame opening meanwhile) mark their receiver. */
const FAILING_AFTER_MS = 2000;
/** Boxes per key message: keeps each under the server's 4096-byte limit. */
const BOXES_PER_MESSAGE = 24;
/** The least time between two answers to one member's hellos. */
const HELLO_GAP_MS = 2000;
/** Messages from participants not in the roster yet, kept for when they are. */
const MAX_EARLY = 64;
/** The owner of the interpretation track: frames there come from interpreters. */
const INTERPRETATION = '@interpretation';

/**
 * @typedef {{side: 'send' | 'recv', kind: 'audio' | 'video', mid?: string}} Options
 * @typedef {{options: Options, generateKeyFrame?: () => Promise<void>,
 *            sendKeyFrameRequest?: () => Promise<void>}} Endpoint
 * @typedef {{lastOk: number, failSince: number, lastFail: number, endpoint: Endpoint}} RecvState
 * @typedef {{gen: number, kid: bigint, secret: Uint8Array<ArrayBuffer>, sk: Promise<sf.SenderKey>}} OwnKey
 * @typedef {{kid: bigint, secret: Uint8Array<ArrayBuffer>, pid: string, identity: string, gen: number,
 *            sk: Promise<sf.SenderKey>, until: number}} PeerKey
 * @typedef {{identity: string, ed: string, interpreter: boolean, x: string, given: number,
 *            answeredAt: number, answerDue: boolean,
 *            wrap: Map<string, Promise<CryptoKey>>}} Member
 */

const st = {
  ready: false,
  /** @type {Promise<void> | null} */
  init: null,
  room: '',
  /** @type {Uint8Array<ArrayBuffer> | null} */
  admit: null,
  /** @type {CryptoKey | null} */
  mac: null,
  /** @type {{pair: CryptoKeyPair, publicKey: string} | null} */
  x: null,
  /** @type {{pid: string, identity: string, ed: string, sign: CryptoKey} | null} */
  self: null,
  sender: sf.randomSender(),
  /** @type {OwnKey | null} the secret this page sends (after SWITCH_MS) and gives to members */
  own: null,
  /** @type {OwnKey | null} the one before, still used until switchAt */
  prev: null,
  switchAt: 0,
  /** the next SFrame counter; one sequence for all of this page's senders and keys */
  ctr: 0n,
  /** @type {Map<string, Member>} the other members by participant id */
  members: new Map(),
  /**
   * Keys that open frames, by KID (decimal). A list, because key ids are chosen by their
   * senders: one member announcing another's next key id must not take it from them.
   * @type {Map<string, PeerKey[]>}
   */
  keys: new Map(),
  /** @type {Map<string, {secret: Uint8Array<ArrayBuffer>, pid: string, identity: string}[]>} every secret seen, own too, for chat and the record */
  archive: new Map(),
  /** @type {Map<string, string>} mid -> participant id (or INTERPRETATION) */
  owners: new Map(),
  /** @type {Map<string, {from: {id: string, identity: string}, data: string}[]>} */
  early: new Map(),
  renewTimer: 0,
  encrypted: 0,
  decrypted: 0,
  failures: 0,
  /** frames that authenticated but were opened before: replayed (by the server, or on the way) */
  replayed: 0,
  /** frames under a key id of someone other than the track's announced sender */
  misattributed: 0,
  /** key exchange messages that did not verify (another passphrase, or forged) */
  refused: 0,
  replay: new sf.ReplayWindow(),
  /** @type {Map<string, RecvState>} receivers by mid */
  recv: new Map(),
  /** @type {Set<Endpoint>} video senders, asked for a keyframe when the key changes */
  videoSenders: new Set(),
  /** @type {{id: number, count: number, frames: {mid: string, kind: string, clear: number, data: string}[]} | null} */
  tap: null,
  /** the record running in the room, '' when none: the secrets that open it are kept for it */
  record: '',
  /** @type {Set<string>} "record kid secret" already handed to IndexedDB */
  kept: new Set(),
  /** keeping runs one write at a time, in order */
  keeping: Promise.resolve(),
};

const scope = /** @type {any} */ (self);

scope.onmessage = (/** @type {MessageEvent} */ ev) => {
  const msg = ev.data || {};
  switch (msg.type) {
    case 'init':
      if (!st.init) st.init = start(String(msg.passphrase || ''), String(msg.room || ''));
      break;
    case 'self':
      after(() => setSelf(msg));
      break;
    case 'roster':
      after(() => setRoster(Array.isArray(msg.members) ? msg.members : []));
      break;
    case 'owners':
      setOwners(msg.tracks || {});
      break;
    case 'recv':
      after(() => receive(msg.from || {}, String(msg.data || '')));
      break;
    case 'streams':
      pipe({ options: msg.options }, msg.readable, msg.writable);
      break;
    case 'chat':
      // In line with the exchange: a line sealed after a renewal leaves after the key that opens it.
      chain = chain.then(() => chat(msg)).catch(() => {});
      break;
    case 'export':
      scope.postMessage({ type: 'export', id: msg.id, keys: exportKeys() });
      break;
    case 'record':
      after(() => setRecord(typeof msg.record === 'string' ? msg.record : ''));
      break;
    case 'tap':
      st.tap = { id: msg.id, count: Math.max(1, Math.min(500, Number(msg.count) || 1)), frames: [] };
      break;
    case 'try-open':
      tryOpen(Array.isArray(msg.frames) ? msg.frames : []).then((opened) => scope.postMessage({ type: 'try-open', id: msg.id, opened }));
      break;
  }
};

/** The exchange's steps run one at a time, in the order the page sent them. */
let chain = Promise.resolve();

/** @param {() => Promise<void> | void} fn */
function after(fn) {
  chain = chain.then(async () => {
    if (st.init) await st.init;
    if (st.ready) await fn();
  }).catch(() => {});
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
    st.room = room;
    st.admit = await sf.admission(passphrase, room);
    st.mac = await sf.macKey(st.admit);
    st.x = await sf.exchangeKey();
    st.own = ownKey(0);
    st.ready = true;
    scope.postMessage({ type: 'ready', epoch: 0 });
  } catch (err) {
    scope.postMessage({ type: 'failed', message: err instanceof Error ? err.name : 'error' });
  }
}

/**
 * A fresh media secret of this page for generation gen.
 * @param {number} gen
 * @returns {OwnKey}
 */
function ownKey(gen) {
  const secret = sf.randomSecret();
  const kid = sf.makeKid(gen, st.sender);
  st.archive.set(kid.toString(), [{ secret, pid: st.self ? st.self.pid : '', identity: st.self ? st.self.identity : '' }]);
  keepForRecord([{ kid, secret, pid: st.self ? st.self.pid : '', identity: st.self ? st.self.identity : '' }]);
  return { gen, kid, secret, sk: sf.senderKey(secret, kid) };
}

/**
 * Who this page is (after every welcome): announces its exchange key to everyone, who answer
 * with their secrets. A reconnection may have missed renewals, so it always asks again.
 * @param {any} msg
 */
async function setSelf(msg) {
  if (typeof msg.pid !== 'string' || !(msg.sign instanceof CryptoKey) || typeof msg.ed !== 'string') return;
  const seat = !st.self || st.self.pid !== msg.pid;
  st.self = { pid: msg.pid, identity: String(msg.identity || ''), ed: msg.ed, sign: msg.sign };
  for (const list of st.archive.values()) {
    for (const v of list) {
      if (!v.pid) {
        v.pid = st.self.pid;
        v.identity = st.self.identity;
      }
    }
  }
  if (seat) for (const m of st.members.values()) m.given = -1;
  keepForRecord(liveKeys());
  // A hello carries no boxes; its wire form has always been `"boxes":[]`, which the MAC and the
  // signature cover, so it stays an empty array.
  await sendExchange('hello', '*', /** @type {Record<string, string>} */ (/** @type {unknown} */ ([])));
}

/**
 * The room's other members as the server lists them. Someone gone means a renewal.
 * @param {any[]} list
 */
async function setRoster(list) {
  /** @type {Map<string, Member>} */
  const next = new Map();
  for (const p of list) {
    if (!p || typeof p.id !== 'string' || (st.self && p.id === st.self.pid)) continue;
    const old = st.members.get(p.id);
    const ed = typeof p.key === 'string' ? p.key : '';
    if (old && old.ed === ed) {
      old.identity = String(p.identity || '');
      old.interpreter = !!p.interpreter;
      next.set(p.id, old);
    } else {
      next.set(p.id, { identity: String(p.identity || ''), ed, interpreter: !!p.interpreter, x: '', given: -1, answeredAt: 0, answerDue: false, wrap: new Map() });
    }
  }
  let gone = false;
  for (const [pid, m] of st.members) {
    const now = next.get(pid);
    if (!now || now !== m) gone = true;
  }
  st.members = next;
  if (gone) scheduleRenewal();
  for (const [pid, early] of st.early) {
    if (!next.has(pid)) continue;
    st.early.delete(pid);
    for (const e of early) await receive(e.from, e.data);
  }
}

function scheduleRenewal() {
  if (st.renewTimer) return;
  st.renewTimer = setTimeout(() => {
    st.renewTimer = 0;
    after(renew);
  }, RENEW_COALESCE_MS);
}

/** A new secret, given to those present only; frames use it SWITCH_MS later. */
async function renew() {
  if (!st.own || st.own.gen >= sf.MAX_GENERATION) return;
  const now = Date.now();
  st.prev = now < st.switchAt && st.prev ? st.prev : st.own;
  st.own = ownKey(st.own.gen + 1);
  st.switchAt = now + SWITCH_MS;
  const to = [...st.members].filter(([, m]) => m.x).map(([pid]) => pid);
  await give(to);
  setTimeout(() => {
    // Receivers that dropped frames meanwhile get a fresh start.
    for (const ep of st.videoSenders) if (ep.generateKeyFrame) ep.generateKeyFrame().catch(() => {});
    postStatus();
  }, SWITCH_MS + 50);
}

/**
 * Sends this page's current secret to members, each in a box of their own.
 * @param {string[]} pids
 */
async function give(pids) {
  if (!st.own || !st.x || !st.admit || !st.self) return;
  const own = st.own;
  for (let i = 0; i < pids.length; i += BOXES_PER_MESSAGE) {
    /** @type {Record<string, string>} */
    const boxes = {};
    for (const pid of pids.slice(i, i + BOXES_PER_MESSAGE)) {
      const m = st.members.get(pid);
      if (!m || !m.x) continue;
      try {
        boxes[pid] = await sf.sealSecret(await wrapFor(pid, m), own.secret, own.kid);
        m.given = own.gen;
      } catch {
        /* an exchange key that does not import: that member gets nothing */
      }
    }
    const n = Object.keys(boxes).length;
    if (n) await sendExchange('key', n === 1 ? Object.keys(boxes)[0] : '*', boxes);
  }
}

/**
 * The wrap key between this page and a member (the same both ways round, per direction).
 * @param {string} pid
 * @param {Member} m
 * @param {boolean} [incoming] for a box from them to us
 * @returns {Promise<CryptoKey>}
 */
function wrapFor(pid, m, incoming = false) {
  if (!st.x || !st.admit || !st.self) return Promise.reject(new Error('not ready'));
  const dir = `${incoming ? 'in' : 'out'} ${m.x}`;
  let k = m.wrap.get(dir);
  if (!k) {
    k = incoming
      ? sf.wrapKey(st.x.pair.privateKey, m.x, st.admit, st.room, pid, st.self.pid)
      : sf.wrapKey(st.x.pair.privateKey, m.x, st.admit, st.room, st.self.pid, pid);
    m.wrap.set(dir, k);
    k.catch(() => m.wrap.delete(dir));
  }
  return k;
}

/**
 * @param {'hello' | 'key'} t
 * @param {string} to a participant id, or '*'
 * @param {Record<string, string>} boxes
 */
async function sendExchange(t, to, boxes) {
  if (!st.self || !st.x || !st.mac || !st.own) return;
  /** @type {sf.ExchangeBody} */
  const body = {
    t, room: st.room, pid: st.self.pid, id: st.self.identity, ed: st.self.ed, x: st.x.publicKey,
    to, gen: st.own.gen, kid: st.own.kid.toString(), boxes,
  };
  const text = sf.exchangeStatement(body);
  const mac = await sf.mac(st.mac, text);
  const sig = sf.b64url(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, st.self.sign, new TextEncoder().encode(text))));
  scope.postMessage({ type: 'send', to: to === '*' ? '' : to, data: JSON.stringify({ v: 2, ...body, mac, sig }) });
}

/**
 * Another member's message, as the server relayed it: checked against the roster's identity
 * key, the admission MAC and the signature before anything in it is believed.
 * @param {{id?: string, identity?: string}} from
 * @param {string} data
 */
async function receive(from, data) {
  if (!st.self || !st.mac) return;
  /** @type {any} */
  let m;
  try {
    m = JSON.parse(data);
  } catch {
    st.refused++;
    return;
  }
  if (!m || m.v !== 2 || (m.t !== 'hello' && m.t !== 'key') || m.room !== st.room || m.pid !== from.id ||
      m.id !== from.identity || typeof m.ed !== 'string' || typeof m.x !== 'string' || typeof m.mac !== 'string' ||
      typeof m.sig !== 'string' || !Number.isInteger(m.gen) || m.gen < 0 || m.gen > sf.MAX_GENERATION ||
      typeof m.kid !== 'string' || !/^[0-9]{1,20}$/.test(m.kid) || !m.boxes || typeof m.boxes !== 'object' ||
      (m.to !== '*' && m.to !== st.self.pid)) {
    st.refused++;
    return;
  }
  const member = st.members.get(m.pid);
  if (!member) {
    // Not in the roster yet (its participant-joined is still on the way to the worker).
    const q = st.early.get(m.pid) || [];
    if (st.early.size < MAX_EARLY && q.length < 4) {
      q.push({ from: { id: String(from.id), identity: String(from.identity) }, data });
      st.early.set(m.pid, q);
    }
    return;
  }
  // The identity key must be the one the room lists for this participant (and shows, as its
  // fingerprint, in the people panel).
  if (!member.ed || m.ed !== member.ed) {
    st.refused++;
    return;
  }
  /** @type {Record<string, string>} */
  const boxes = {};
  for (const [k, v] of Object.entries(m.boxes)) if (typeof v === 'string') boxes[k] = v;
  const text = sf.exchangeStatement({ t: m.t, room: m.room, pid: m.pid, id: m.id, ed: m.ed, x: m.x, to: m.to, gen: m.gen, kid: m.kid, boxes });
  const kid = BigInt(m.kid);
  if (sf.splitKid(kid).gen !== m.gen || !(await sf.macOK(st.mac, text, m.mac)) || !(await signedBy(m.ed, text, m.sig))) {
    st.refused++;
    return;
  }
  if (member.x !== m.x) {
    member.x = m.x;
    member.given = -1; // a new page behind this seat: it needs our secret again
  }
  const box = boxes[st.self.pid];
  if (m.t === 'key' && box) {
    const secret = await sf.openSecret(await wrapFor(m.pid, member, true), box, kid);
    if (!secret) {
      st.refused++;
      return;
    }
    adoptKey(m.pid, member.identity, m.gen, kid, secret);
  }
  // A key from someone we have not given ours to gets it back; a hello asks for it again.
  if (st.own && member.given < st.own.gen) await give([m.pid]);
  else if (m.t === 'hello') answerHello(m.pid, member);
}

/**
 * Answers a member's hello with this page's secret, once per HELLO_GAP_MS at most: each hello
 * costs every member a message, and a member who sent hellos in a loop would otherwise make
 * everyone else exceed the server's message rate and be disconnected. A hello within the gap
 * is answered when it ends.
 * @param {string} pid
 * @param {Member} member
 */
async function answerHello(pid, member) {
  const wait = member.answeredAt + HELLO_GAP_MS - Date.now();
  if (wait <= 0) {
    member.answeredAt = Date.now();
    await give([pid]);
    return;
  }
  if (member.answerDue) return;
  member.answerDue = true;
  setTimeout(() => after(async () => {
    member.answerDue = false;
    if (st.members.get(pid) !== member) return; // gone, or another page behind the seat
    member.answeredAt = Date.now();
    await give([pid]);
  }), wait);
}

/**
 * @param {string} ed base64url Ed25519 public key
 * @param {string} text
 * @param {string} sig base64url
 * @returns {Promise<boolean>}
 */
async function signedBy(ed, text, sig) {
  const raw = sf.unb64url(ed);
  const s = sf.unb64url(sig);
  if (!raw || raw.length !== 32 || !s || s.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, s, new TextEncoder().encode(text));
  } catch {
    return false;
  }
}

/**
 * A member's secret for a key id: from now on it opens that member's frames (and only theirs);
 * their older key ids keep opening frames for OVERLAP_MS.
 * @param {string} pid
 * @param {string} identity
 * @param {number} gen
 * @param {bigint} kid
 * @param {Uint8Array<ArrayBuffer>} secret
 */
function adoptKey(pid, identity, gen, kid, secret) {
  const id = kid.toString();
  const list = st.keys.get(id) || [];
  if (list.some((k) => k.pid === pid)) return;
  const now = Date.now();
  for (const ks of st.keys.values()) {
    for (const k of ks) if (k.pid === pid && k.gen < gen && k.until === Infinity) k.until = now + OVERLAP_MS;
  }
  list.push({ kid, secret, pid, identity, gen, sk: sf.senderKey(secret, kid), until: Infinity });
  st.keys.set(id, list);
  st.archive.set(id, [...(st.archive.get(id) || []), { secret, pid, identity }]);
  keepForRecord([{ kid, secret, pid, identity }]);
  postStatus();
}

/**
 * Who the server says sends each receiver's frames.
 * @param {Record<string, any>} tracks mid -> {participant, source}
 */
function setOwners(tracks) {
  st.owners = new Map();
  for (const [mid, o] of Object.entries(tracks)) {
    if (!o) continue;
    if (o.source === 'interpretation' && !o.participant) st.owners.set(mid, INTERPRETATION);
    else if (typeof o.participant === 'string' && o.participant) st.owners.set(mid, o.participant);
  }
}

/** Forgets key ids past their overlap (their secrets stay in the archive, for chat). */
function prune() {
  const now = Date.now();
  for (const [id, list] of st.keys) {
    const keep = list.filter((k) => k.until >= now && st.members.has(k.pid));
    if (keep.length) st.keys.set(id, keep);
    else {
      st.keys.delete(id);
      for (const k of list) st.replay.senders.delete(`${k.pid} ${k.kid}`);
    }
  }
}

/**
 * Seals (msg.seal) or opens a chat message for the page; the keys stay here.
 * @param {{id: number, seal: boolean, text: string, room: string, identity: string}} msg
 */
async function chat(msg) {
  let text = null;
  try {
    if (st.init) await st.init;
    if (msg.seal) {
      if (st.own) text = await sf.sealChat(await sf.chatKey(st.own.secret), st.own.kid, String(msg.text), st.room, String(msg.identity));
    } else {
      const sealed = String(msg.text);
      const kid = sf.chatKid(sealed);
      // The line must come under a key its named sender announced.
      const k = kid !== null ? (st.archive.get(kid.toString()) || []).find((v) => v.identity === String(msg.identity)) : undefined;
      if (k) {
        text = await sf.openChat(await sf.chatKey(k.secret), sealed, st.room, String(msg.identity));
      }
    }
  } catch {
    text = null;
  }
  scope.postMessage({ type: 'chat', id: msg.id, text });
}

/**
 * The record now running in the room: from now on the secrets that open its frames are kept.
 * @param {string} record
 */
function setRecord(record) {
  if (record === st.record) return;
  st.record = record;
  keepForRecord(liveKeys());
}

/**
 * The secrets that may open frames from now on: this page's (the one it sends with, and the
 * one it is switching from) and every member's still in use. Older ones opened only frames
 * sent before, which a record starting now does not hold.
 * @returns {{kid: bigint, secret: Uint8Array<ArrayBuffer>, pid: string, identity: string}[]}
 */
function liveKeys() {
  const self = st.self;
  /** @type {{kid: bigint, secret: Uint8Array<ArrayBuffer>, pid: string, identity: string}[]} */
  const out = [];
  for (const k of [st.own, st.prev]) {
    if (k && self) out.push({ kid: k.kid, secret: k.secret, pid: self.pid, identity: self.identity });
  }
  for (const list of st.keys.values()) for (const k of list) out.push(k);
  return out;
}

/**
 * Keeps secrets for the running record, in IndexedDB beside the receipt (keys.js): appended,
 * never replacing one kept before. Nothing is kept before this page knows who it is, nor
 * without a record; a secret that cannot be kept costs the record's reading, never the call.
 * @param {{kid: bigint, secret: Uint8Array<ArrayBuffer>, pid: string, identity: string}[]} keys
 */
function keepForRecord(keys) {
  const record = st.record;
  const self = st.self;
  if (!record || !self || !self.identity) return;
  /** @type {import('./keys.js').MediaKeyEntry[]} */
  const fresh = [];
  for (const k of keys) {
    if (!k.pid) continue; // this page's own, before it knew its seat: kept again from setSelf
    const entry = { kid: k.kid.toString(), sender: { participant: k.pid, identity: k.identity }, secret: sf.b64url(k.secret) };
    const tag = `${record} ${entry.kid} ${entry.secret}`;
    if (st.kept.has(tag)) continue;
    st.kept.add(tag);
    fresh.push(entry);
  }
  if (!fresh.length) return;
  st.keeping = st.keeping
    .then(() => keepMediaKeys(record, self.identity, fresh))
    .then(() => {}, () => {
      // Not kept (no IndexedDB, storage full): let a later attempt try these again.
      for (const e of fresh) st.kept.delete(`${record} ${e.kid} ${e.secret}`);
    });
}

/** @returns {{kid: string, secret: string, participant: string, identity: string}[]} */
function exportKeys() {
  return [...st.archive].flatMap(([kid, list]) => list.map((v) => ({ kid, secret: sf.b64url(v.secret), participant: v.pid, identity: v.identity })));
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
  const k = st.prev && Date.now() < st.switchAt ? st.prev : st.own;
  if (!st.ready || !k) return;
  const data = new Uint8Array(frame.data);
  if (!data.length) {
    ctl.enqueue(frame);
    return;
  }
  const ctr = st.ctr++;
  try {
    frame.data = (await sf.seal(await k.sk, k.kid, ctr, data, sf.clearBytes(o.kind, frame.type))).buffer;
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
  const clear = sf.clearBytes(o.kind, frame.type);
  if (st.tap && st.tap.frames.length < st.tap.count) {
    st.tap.frames.push({ mid: String(o.mid), kind: o.kind, clear, data: sf.b64url(data) });
    if (st.tap.frames.length >= st.tap.count) {
      scope.postMessage({ type: 'tap', id: st.tap.id, frames: st.tap.frames });
      st.tap = null;
    }
  }
  const out = st.ready ? await openFrame(data, clear, o.mid != null ? String(o.mid) : '') : null;
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
 * Opens a protected frame with the key its key id names, if that key belongs to the track's
 * sender; a frame already opened once is REPLAYED.
 * @param {Uint8Array} data
 * @param {number} clear
 * @param {string} mid
 * @returns {Promise<Uint8Array<ArrayBuffer> | null | typeof REPLAYED>}
 */
async function openFrame(data, clear, mid) {
  const p = sf.parse(data, clear);
  if (!p) return null;
  const now = Date.now();
  const live = (st.keys.get(p.kid.toString()) || []).filter((c) => c.until >= now);
  if (!live.length) return null;
  const owner = st.owners.get(mid);
  const k = live.find((c) => (owner === INTERPRETATION ? !!st.members.get(c.pid)?.interpreter : owner === c.pid));
  if (!k) {
    // The server presents this frame as someone else's: whoever it is, it is not shown as theirs.
    st.misattributed++;
    return null;
  }
  let out;
  try {
    out = await sf.open(await k.sk, p);
  } catch {
    return null;
  }
  if (!st.replay.accept(`${k.pid} ${p.kid}`, p.ctr)) {
    st.replayed++;
    return REPLAYED;
  }
  return out;
}

/**
 * How many of some frames (as the tap gives them) these keys open; touches nothing.
 * @param {{clear: number, data: string}[]} frames
 * @returns {Promise<number>}
 */
async function tryOpen(frames) {
  let opened = 0;
  for (const f of frames) {
    const data = sf.unb64url(String(f.data));
    const p = data ? sf.parse(data, Number(f.clear) || 0) : null;
    if (!p) continue;
    for (const a of st.archive.get(p.kid.toString()) || []) {
      try {
        await sf.open(await sf.senderKey(a.secret, p.kid), p);
        opened++;
        break;
      } catch {
        /* not under this key */
      }
    }
  }
  return opened;
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

/** @returns {string[]} members whose current secret this page holds */
function keyed() {
  /** @type {Set<string>} */
  const out = new Set();
  for (const list of st.keys.values()) {
    for (const k of list) if (k.until === Infinity && st.members.has(k.pid)) out.add(k.pid);
  }
  return [...out];
}

function postStatus() {
  scope.postMessage({
    type: 'status',
    ready: st.ready,
    epoch: st.own ? st.own.gen : 0,
    encryptedFrames: st.encrypted,
    decryptedFrames: st.decrypted,
    decryptFailures: st.failures,
    replayedFrames: st.replayed,
    misattributedFrames: st.misattributed,
    refusedMessages: st.refused,
    keyed: keyed(),
    failing: failing(),
  });
}

setInterval(() => {
  prune();
  postStatus();
}, 500);
