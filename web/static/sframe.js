// End-to-end media encryption, the cryptographic core: the admission secret from the meeting
// passphrase, the key exchange's primitives, and SFrame (RFC 9605) frame protection. Pure
// functions over WebCrypto; no DOM, no WebRTC. The worker (e2ee-worker.js) runs the exchange
// and every encoded frame through it; docs/e2ee.md is the specification.
//
// Keys
//   master    = PBKDF2-SHA-256(passphrase (NFC, trimmed), "parley e2ee v2 room " + room, 600 000 iterations, 256 bits)
//   admission = HKDF-SHA-256(master, salt "", info "parley e2ee v2 admission", 32 bytes)
//     Known to everyone with the passphrase, never to the server: it MACs every key exchange
//     message and salts every key wrap, so without the passphrase no one takes part.
//   Each sender draws a random 32-byte media secret, and a new one whenever someone leaves
//   (a generation). Its SFrame key id is KID = generation << 40 | sender, `sender` 40 random
//   bits chosen per page, and its AEAD key and salt come from the secret as RFC 9605 4.4.2
//   says for cipher suite AES_256_GCM_SHA512_128 (0x0005):
//     secret = HKDF-Extract(SHA-512, "", media secret)
//     key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || u64(KID) || u16(0x0005), 32)
//     salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || u64(KID) || u16(0x0005), 12)
//   A media secret travels to each member wrapped for them alone:
//     wrap key = HKDF-SHA-256(X25519(own, theirs), salt admission,
//                             info "parley e2ee v2 wrap\n" || room || "\n" || from id || "\n" || to id, 32 bytes)
//     box      = nonce (12 random bytes) || AES-256-GCM(wrap key, media secret,
//                             additional data "parley e2ee v2 box\n" || KID (decimal))
//
// Chat (in an end-to-end encrypted room the text of chat is encrypted too)
//   chat key  = HKDF-SHA-256(the sender's media secret, salt "", info "parley e2ee v2 chat", 32 bytes), AES-256-GCM
//   sealed    = "e2ee2:" || base64url(KID (8 bytes) || nonce (12 random bytes) || ciphertext || tag)
//   additional data = "parley chat\n" || room || "\n" || the sender's identity, so a server that
//   moves a line to another participant, or to another room, makes it fail to open; and the
//   KID must be one the named sender announced.
//
// A protected frame
//   clear codec header (N bytes) || SFrame header || AES-256-GCM(payload) || 16-byte tag
//   N = 10 for a VP8 keyframe, 3 for a VP8 delta frame, 1 for Opus (the TOC byte), as Jitsi
//   does: the SFU and the recorder still find keyframes and frame sizes there.
//   SFrame header (RFC 9605 4.3): one byte |X|K K K|Y|C C C|, then the KID and the counter
//   as big-endian integers when they do not fit in 3 bits.
//   nonce = salt XOR counter (big-endian, 12 bytes); additional data = SFrame header || clear bytes.

/** RFC 9605 cipher suite AES_256_GCM_SHA512_128. */
export const CIPHER_SUITE = 0x0005;
/** PBKDF2 iterations (OWASP's 2023 figure for PBKDF2-HMAC-SHA256); about 0.2 s in a browser. */
export const PBKDF2_ITERATIONS = 600000;
/** Bits of the key id that name the sender; the generation is above them. */
export const SENDER_BITS = 40n;
const SENDER_MASK = (1n << SENDER_BITS) - 1n;
/** The highest generation a key id can carry (KIDs are at most 8 bytes). */
export const MAX_GENERATION = 2 ** 24 - 1;
const NK = 32; // AES-256 key
const NN = 12; // GCM nonce
const NT = 16; // GCM tag

const utf8 = new TextEncoder();

/**
 * The number of bytes left in clear at the start of a frame.
 * @param {'audio' | 'video'} kind
 * @param {string | undefined} type an encoded video frame's type: 'key', 'delta' or 'empty'
 * @returns {number}
 */
export function clearBytes(kind, type) {
  if (kind === 'audio') return 1; // Opus TOC
  return type === 'key' ? 10 : 3; // VP8 payload header (RFC 6386 9.1)
}

/**
 * @param {...Uint8Array} parts
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * @param {bigint} v
 * @param {number} len
 * @returns {Uint8Array<ArrayBuffer>} v as a big-endian integer of len bytes
 */
function bigEndian(v, len) {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * @param {bigint} v a positive integer
 * @returns {Uint8Array<ArrayBuffer>} v in as few big-endian bytes as hold it
 */
function minimalBigEndian(v) {
  let len = 1;
  while (len < 8 && v >> BigInt(8 * len) > 0n) len++;
  return bigEndian(v, len);
}

/**
 * @param {Uint8Array<ArrayBuffer>} ikm
 * @param {Uint8Array<ArrayBuffer>} info
 * @param {number} len bytes
 * @param {'SHA-256' | 'SHA-512'} hash
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
async function hkdf(ikm, info, len, hash) {
  const k = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash, salt: new Uint8Array(0), info }, k, len * 8);
  return new Uint8Array(bits);
}

/**
 * The admission secret, from the meeting passphrase and the room name.
 * @param {string} passphrase
 * @param {string} room
 * @param {number} [iterations]
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function admission(passphrase, room, iterations = PBKDF2_ITERATIONS) {
  const pass = utf8.encode(normalizePassphrase(passphrase));
  const base = await crypto.subtle.importKey('raw', pass, 'PBKDF2', false, ['deriveBits']);
  const master = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: utf8.encode(`parley e2ee v2 room ${room}`), iterations },
    base,
    256,
  );
  return hkdf(new Uint8Array(master), utf8.encode('parley e2ee v2 admission'), 32, 'SHA-256');
}

/**
 * How a typed passphrase is compared: Unicode NFC, without surrounding white space.
 * @param {string} passphrase
 * @returns {string}
 */
export function normalizePassphrase(passphrase) {
  return passphrase.normalize('NFC').trim();
}

/** @returns {Uint8Array<ArrayBuffer>} a fresh media secret */
export function randomSecret() {
  return crypto.getRandomValues(new Uint8Array(32));
}

/**
 * The key that MACs key exchange messages.
 * @param {Uint8Array<ArrayBuffer>} admit the admission secret
 * @returns {Promise<CryptoKey>}
 */
export function macKey(admit) {
  return crypto.subtle.importKey('raw', admit, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/**
 * @param {CryptoKey} key from macKey
 * @param {string} text
 * @returns {Promise<string>} base64url
 */
export async function mac(key, text) {
  return b64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(text))));
}

/**
 * @param {CryptoKey} key from macKey
 * @param {string} text
 * @param {string} tag base64url
 * @returns {Promise<boolean>}
 */
export async function macOK(key, text, tag) {
  const t = unb64url(tag);
  return !!t && crypto.subtle.verify('HMAC', key, t, utf8.encode(text));
}

/**
 * A page's key exchange pair: X25519, the private half never leaves the worker.
 * @returns {Promise<{pair: CryptoKeyPair, publicKey: string}>} publicKey in base64url
 */
export async function exchangeKey() {
  const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']));
  return { pair, publicKey: b64url(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))) };
}

/**
 * The key that wraps media secrets from `from` to `to` (the same on both ends).
 * @param {CryptoKey} own this page's X25519 private key
 * @param {string} theirs the other end's X25519 public key, base64url
 * @param {Uint8Array<ArrayBuffer>} admit
 * @param {string} room
 * @param {string} from the sender's participant id
 * @param {string} to the receiver's participant id
 * @returns {Promise<CryptoKey>}
 */
export async function wrapKey(own, theirs, admit, room, from, to) {
  const raw = unb64url(theirs);
  if (!raw || raw.length !== 32) throw new Error('not an X25519 public key');
  const pub = await crypto.subtle.importKey('raw', raw, { name: 'X25519' }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pub }, own, 256));
  const k = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: admit, info: utf8.encode(`parley e2ee v2 wrap\n${room}\n${from}\n${to}`) },
    k,
    NK * 8,
  );
  return crypto.subtle.importKey('raw', bits, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/**
 * @param {CryptoKey} key from wrapKey
 * @param {Uint8Array<ArrayBuffer>} secret a media secret
 * @param {bigint} kid the key id it is for
 * @returns {Promise<string>} the box, base64url
 */
export async function sealSecret(key, secret, kid) {
  const iv = crypto.getRandomValues(new Uint8Array(NN));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8.encode(`parley e2ee v2 box\n${kid}`), tagLength: NT * 8 }, key, secret);
  return b64url(concat(iv, new Uint8Array(ct)));
}

/**
 * @param {CryptoKey} key from wrapKey
 * @param {string} box
 * @param {bigint} kid
 * @returns {Promise<Uint8Array<ArrayBuffer> | null>} the media secret, or null when the box does not open
 */
export async function openSecret(key, box, kid) {
  const b = unb64url(box);
  if (!b || b.length !== NN + 32 + NT) return null;
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: b.slice(0, NN), additionalData: utf8.encode(`parley e2ee v2 box\n${kid}`), tagLength: NT * 8 }, key, b.slice(NN));
    return new Uint8Array(pt);
  } catch {
    return null;
  }
}

/**
 * @typedef {{t: 'hello' | 'key', room: string, pid: string, id: string, ed: string, x: string,
 *            to: string, gen: number, kid: string, boxes: Record<string, string>}} ExchangeBody
 */

/**
 * The exact text a key exchange message's MAC and signature cover: one field a line, boxes
 * sorted by addressee. It begins "parley e2ee v2", which no record statement does, so an
 * identity key's signature on it can never pass for a checkpoint countersignature.
 * @param {ExchangeBody} m
 * @returns {string}
 */
export function exchangeStatement(m) {
  let s = `parley e2ee v2 ${m.t}\nroom ${m.room}\nfrom ${m.pid} ${m.id}\ned ${m.ed}\nx ${m.x}\nto ${m.to}\ngen ${m.gen}\nkid ${m.kid}\n`;
  for (const to of Object.keys(m.boxes).sort()) s += `box ${to} ${m.boxes[to]}\n`;
  return s;
}

/**
 * @param {number} gen
 * @param {bigint} sender
 * @returns {bigint}
 */
export function makeKid(gen, sender) {
  return (BigInt(gen) << SENDER_BITS) | (sender & SENDER_MASK);
}

/**
 * @param {bigint} kid
 * @returns {{gen: number, sender: bigint}}
 */
export function splitKid(kid) {
  return { gen: Number(kid >> SENDER_BITS), sender: kid & SENDER_MASK };
}

/** @returns {bigint} 40 random bits naming this page as a sender */
export function randomSender() {
  const b = crypto.getRandomValues(new Uint8Array(5));
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v === 0n ? 1n : v;
}

/**
 * @typedef {{key: CryptoKey, salt: Uint8Array<ArrayBuffer>}} SenderKey
 */

/**
 * One sender's AEAD key and salt for a key id (RFC 9605 4.4.2).
 * @param {Uint8Array<ArrayBuffer>} mediaSecret the sender's media secret
 * @param {bigint} kid
 * @returns {Promise<SenderKey>}
 */
export async function senderKey(mediaSecret, kid) {
  const tail = concat(bigEndian(kid, 8), bigEndian(BigInt(CIPHER_SUITE), 2));
  const prk = await crypto.subtle.importKey('raw', mediaSecret, 'HKDF', false, ['deriveBits']);
  /** @param {string} label @param {number} len */
  const expand = async (label, len) =>
    new Uint8Array(await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-512', salt: new Uint8Array(0), info: concat(utf8.encode(label), tail) },
      prk,
      len * 8,
    ));
  const raw = await expand('SFrame 1.0 Secret key ', NK);
  const salt = await expand('SFrame 1.0 Secret salt ', NN);
  const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  return { key, salt };
}

/**
 * The SFrame header for a key id and counter.
 * @param {bigint} kid
 * @param {bigint} ctr
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function encodeHeader(kid, ctr) {
  let first = 0;
  /** @type {Uint8Array[]} */
  const rest = [];
  if (kid < 8n) {
    first |= Number(kid) << 4;
  } else {
    const b = minimalBigEndian(kid);
    first |= 0x80 | ((b.length - 1) << 4);
    rest.push(b);
  }
  if (ctr < 8n) {
    first |= Number(ctr);
  } else {
    const b = minimalBigEndian(ctr);
    first |= 0x08 | (b.length - 1);
    rest.push(b);
  }
  return concat(new Uint8Array([first]), ...rest);
}

/**
 * Reads an SFrame header.
 * @param {Uint8Array} buf
 * @param {number} off where the header starts
 * @returns {{kid: bigint, ctr: bigint, len: number} | null} null when buf is too short
 */
export function decodeHeader(buf, off) {
  if (off >= buf.length) return null;
  const first = buf[off];
  let pos = off + 1;
  /** @param {number} n */
  const read = (n) => {
    if (pos + n > buf.length) return null;
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[pos + i]);
    pos += n;
    return v;
  };
  const k = (first >> 4) & 7;
  const c = first & 7;
  const kid = first & 0x80 ? read(k + 1) : BigInt(k);
  if (kid === null) return null;
  const ctr = first & 0x08 ? read(c + 1) : BigInt(c);
  if (ctr === null) return null;
  return { kid, ctr, len: pos - off };
}

/**
 * @param {Uint8Array} salt
 * @param {bigint} ctr
 * @returns {Uint8Array<ArrayBuffer>}
 */
function nonce(salt, ctr) {
  const n = bigEndian(ctr, NN);
  for (let i = 0; i < NN; i++) n[i] ^= salt[i];
  return n;
}

/**
 * Protects one frame.
 * @param {SenderKey} sk
 * @param {bigint} kid
 * @param {bigint} ctr never used before with this key
 * @param {Uint8Array} frame the encoded frame
 * @param {number} clear how many leading bytes stay in clear
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function seal(sk, kid, ctr, frame, clear) {
  const n = Math.min(clear, frame.length);
  const head = frame.subarray(0, n);
  const header = encodeHeader(kid, ctr);
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce(sk.salt, ctr), additionalData: concat(header, head), tagLength: NT * 8 },
    sk.key,
    frame.slice(n),
  );
  return concat(head, header, new Uint8Array(ct));
}

/**
 * Splits a protected frame into its parts, without decrypting.
 * @param {Uint8Array} data
 * @param {number} clear
 * @returns {{kid: bigint, ctr: bigint, head: Uint8Array, header: Uint8Array, body: Uint8Array} | null}
 */
export function parse(data, clear) {
  if (data.length < clear + 1 + NT) return null;
  const h = decodeHeader(data, clear);
  if (!h || data.length < clear + h.len + NT) return null;
  return {
    kid: h.kid,
    ctr: h.ctr,
    head: data.subarray(0, clear),
    header: data.subarray(clear, clear + h.len),
    body: data.subarray(clear + h.len),
  };
}

/**
 * Opens a frame parsed by parse(). Throws when it does not authenticate.
 * @param {SenderKey} sk
 * @param {{ctr: bigint, head: Uint8Array, header: Uint8Array, body: Uint8Array}} p
 * @returns {Promise<Uint8Array<ArrayBuffer>>} the frame as the encoder made it
 */
export async function open(sk, p) {
  const pt = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: nonce(sk.salt, p.ctr), additionalData: concat(p.header, p.head), tagLength: NT * 8 },
    sk.key,
    p.body.slice(),
  );
  return concat(p.head, new Uint8Array(pt));
}

/** The prefix of a sealed chat message. */
export const CHAT_PREFIX = 'e2ee2:';

/**
 * The chat key of one sender's media secret.
 * @param {Uint8Array<ArrayBuffer>} secret
 * @returns {Promise<CryptoKey>}
 */
export async function chatKey(secret) {
  const raw = await hkdf(secret, utf8.encode('parley e2ee v2 chat'), NK, 'SHA-256');
  return crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/**
 * @param {string} room
 * @param {string} identity the sender's
 * @returns {Uint8Array<ArrayBuffer>}
 */
function chatAAD(room, identity) {
  return utf8.encode(`parley chat\n${room}\n${identity}`);
}

/** @param {Uint8Array} b */
export function b64url(b) {
  let bin = '';
  for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * @param {string} s
 * @returns {Uint8Array<ArrayBuffer> | null}
 */
export function unb64url(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) return null;
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

/**
 * Seals a chat message.
 * @param {CryptoKey} key the sender's chat key
 * @param {bigint} kid the key id of the media secret it comes from
 * @param {string} text
 * @param {string} room
 * @param {string} identity the sender's
 * @returns {Promise<string>}
 */
export async function sealChat(key, kid, text, room, identity) {
  const iv = crypto.getRandomValues(new Uint8Array(NN));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: chatAAD(room, identity), tagLength: NT * 8 }, key, utf8.encode(text));
  return CHAT_PREFIX + b64url(concat(bigEndian(kid, 8), iv, new Uint8Array(ct)));
}

/**
 * The key id a sealed chat message names, or null when it is not one.
 * @param {string} sealed
 * @returns {bigint | null}
 */
export function chatKid(sealed) {
  if (!sealed.startsWith(CHAT_PREFIX)) return null;
  const b = unb64url(sealed.slice(CHAT_PREFIX.length));
  if (!b || b.length < 8 + NN + NT) return null;
  let kid = 0n;
  for (let i = 0; i < 8; i++) kid = (kid << 8n) | BigInt(b[i]);
  return kid;
}

/**
 * Opens a sealed chat message; null when it does not open with this key for this room
 * and sender.
 * @param {CryptoKey} key
 * @param {string} sealed
 * @param {string} room
 * @param {string} identity the sender's, as the server names them
 * @returns {Promise<string | null>}
 */
export async function openChat(key, sealed, room, identity) {
  const b = unb64url(sealed.slice(CHAT_PREFIX.length));
  if (!sealed.startsWith(CHAT_PREFIX) || !b || b.length < 8 + NN + NT) return null;
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: b.slice(8, 8 + NN), additionalData: chatAAD(room, identity), tagLength: NT * 8 }, key, b.slice(8 + NN));
    return new TextDecoder('utf-8', { fatal: true }).decode(pt);
  } catch {
    return null;
  }
}

/** Counters a replay window remembers behind the highest seen: at 50 audio and 30 video frames a second, about 12 s of one sender's frames, far more than any jitter buffer reorders. */
export const REPLAY_WINDOW = 1024n;

/**
 * A per-sender window of the SFrame counters already opened (as SRTP's replay list, RFC 3711
 * 3.3.2): a server that sends an old frame again, under a new RTP sequence number and time, has
 * it dropped instead of played twice. Checked only after a frame authenticates, so no one without
 * the key can fill the window.
 */
export class ReplayWindow {
  constructor() {
    /** @type {Map<bigint | string, {top: bigint, seen: bigint}>} by sender (a KID, or who holds it and the KID): the highest counter, and a bit per counter below it */
    this.senders = new Map();
  }

  /**
   * Records ctr for kid; false if it was seen before or is older than the window.
   * @param {bigint | string} kid
   * @param {bigint} ctr
   * @returns {boolean}
   */
  accept(kid, ctr) {
    const s = this.senders.get(kid);
    if (!s) {
      this.senders.set(kid, { top: ctr, seen: 1n });
      return true;
    }
    if (ctr > s.top) {
      const shift = ctr - s.top;
      s.seen = shift >= REPLAY_WINDOW ? 1n : ((s.seen << shift) | 1n) & ((1n << REPLAY_WINDOW) - 1n);
      s.top = ctr;
      return true;
    }
    const back = s.top - ctr;
    if (back >= REPLAY_WINDOW) return false;
    const bit = 1n << back;
    if (s.seen & bit) return false;
    s.seen |= bit;
    return true;
  }
}
