// Decrypting an end-to-end encrypted record in the browser, for the record player: a recorded
// WebM file holds each frame as the sender's browser sealed it (SFrame, sframe.js), and the
// media keys a participant's browser kept (keys.js, format parley-media-keys-v1) open them.
// Nothing here talks to the server: the keys never leave the browser.
//
// The file is re-muxed, not patched: decrypted frames are 16 bytes and an SFrame header
// shorter, so every block and cluster changes size. The copy has the source's EBML header,
// Info (with a Duration added), Tracks and other top-level elements, and its clusters with
// the frames that opened; SeekHead and Cues (whose byte offsets no longer hold) and frames
// with no key or that fail to authenticate are left out. `parley record decrypt` does the
// same in Go (recordcrypt).

import * as sf from '../sframe.js';
import { loadMediaKeys, MEDIA_KEYS_FORMAT } from '../keys.js';

/**
 * @typedef {import('../keys.js').MediaKeys} MediaKeys
 * @typedef {{data: ArrayBuffer, decrypted: number, missing: number, failed: number, replayed: number, truncated: boolean}} Decrypted
 *   decrypted: frames that opened; missing: frames under a key id no key was given for;
 *   failed: frames that did not authenticate with the key of their key id (or are not SFrame);
 *   replayed: frames that opened but whose key id and counter came before (a copy written
 *   into the file): left out, as the live call drops them; truncated: the file ends inside an
 *   element (a record whose writing stopped), and the copy holds what came before
 */

// EBML and Matroska element ids (with their length marker bits, as written).
const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  ReferenceBlock: 0xfb,
  Cues: 0x1c53bb6b,
  Void: 0xec,
  Tags: 0x1254c367,
  Chapters: 0x1043a770,
  Attachments: 0x1941a469,
};
/** Elements that sit directly in a Segment: one of them ends a cluster of unknown size. */
const TOP = new Set([ID.SeekHead, ID.Info, ID.Tracks, ID.Cluster, ID.Cues, ID.Tags, ID.Chapters, ID.Attachments]);
const UNKNOWN = -1;

/** Refuses what is not a WebM file as a recorder writes it. */
class FormatError extends Error {
  /** @param {string} why */
  constructor(why) {
    super(`not a recorded WebM file: ${why}`);
  }
}

/**
 * @typedef {{id: number, start: number, data: number, end: number, unknown: boolean, cut?: boolean}} Element
 *   start: its first byte; data: its content's; end: one past its last (for an unknown size,
 *   the end of its parent, until the caller finds where it stops); cut: it runs past the end
 *   of the file, which ends it
 */

/**
 * Reads an element's header at pos.
 * @param {Uint8Array} b
 * @param {number} pos
 * @param {number} limit the end of the parent
 * @param {boolean} [atEnd] limit is the end of the file: an element running past it is cut
 *   short (a recording the server stopped writing mid-frame), not malformed
 * @returns {Element}
 */
function header(b, pos, limit, atEnd = false) {
  if (pos >= limit) throw new FormatError('the file ends inside an element');
  const first = b[pos];
  const idLen = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
  if (!idLen || pos + idLen > limit) throw new FormatError(`no element id at byte ${pos}`);
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + b[pos + i];
  let p = pos + idLen;
  if (p >= limit) throw new FormatError(`no element size at byte ${p}`);
  const s0 = b[p];
  let len = 1;
  while (len <= 8 && !(s0 & (0x100 >> len))) len++;
  if (len > 8 || p + len > limit) throw new FormatError(`a bad element size at byte ${p}`);
  let size = s0 & (0xff >> len);
  let allOnes = size === 0xff >> len;
  for (let i = 1; i < len; i++) {
    const v = b[p + i];
    if (v !== 0xff) allOnes = false;
    size = size * 256 + v;
  }
  p += len;
  if (allOnes) return { id, start: pos, data: p, end: limit, unknown: true };
  if (atEnd && Number.isSafeInteger(size) && p + size > limit) return { id, start: pos, data: p, end: limit, unknown: false, cut: true };
  if (!Number.isSafeInteger(size) || p + size > limit) throw new FormatError(`an element at byte ${pos} runs past its parent`);
  return { id, start: pos, data: p, end: p + size, unknown: false };
}

/**
 * The children of an element, in order; a child of unknown size ends where an element that
 * cannot be its child begins (RFC 8794 6.2), here a top-level one. Where `to` is the end of
 * the file, a file cut short ends the list: a Segment or Cluster cut short is kept (its
 * whole children are good), anything else cut short is left out, and tail.cut says so.
 * @param {Uint8Array} b
 * @param {number} from
 * @param {number} to
 * @param {{cut: boolean}} [tail]
 * @returns {Element[]}
 */
function children(b, from, to, tail) {
  const atEnd = !!tail && to === b.length;
  /** @type {Element[]} */
  const out = [];
  let pos = from;
  while (pos < to) {
    /** @type {Element} */
    let e;
    try {
      e = header(b, pos, to, atEnd);
    } catch (err) {
      if (!atEnd || !tail) throw err;
      tail.cut = true; // the file ends inside an element's header
      break;
    }
    if (e.unknown && e.id !== ID.Segment) {
      // A live recording's Segment runs to the end of the file; its clusters to the next one.
      if (e.id !== ID.Cluster) throw new FormatError(`an element of unknown size at byte ${pos}`);
      let q = e.data;
      while (q < to) {
        /** @type {Element} */
        let c;
        try {
          c = header(b, q, to, atEnd);
        } catch (err) {
          if (!atEnd) throw err;
          break;
        }
        if (c.cut || TOP.has(c.id)) break;
        if (c.unknown) throw new FormatError(`an element of unknown size at byte ${q}`);
        q = c.end;
      }
      e.end = q;
    }
    if (e.cut && tail) {
      tail.cut = true;
      if (e.id !== ID.Cluster && e.id !== ID.Segment) break;
    }
    out.push(e);
    pos = e.end;
  }
  return out;
}

/**
 * @param {Uint8Array} b
 * @param {Element} e
 * @returns {number} an unsigned integer element's value
 */
function uint(b, e) {
  if (e.end - e.data > 7) throw new FormatError(`an integer too large at byte ${e.start}`);
  let v = 0;
  for (let i = e.data; i < e.end; i++) v = v * 256 + b[i];
  return v;
}

/**
 * @param {number} v
 * @returns {Uint8Array} v as an EBML size in as few bytes as hold it
 */
function sizeBytes(v) {
  let len = 1;
  while (len < 8 && v >= 2 ** (7 * len) - 1) len++;
  const out = new Uint8Array(len);
  let x = v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = x % 256;
    x = Math.floor(x / 256);
  }
  out[0] |= 0x100 >> len;
  return out;
}

/**
 * @param {number} id
 * @returns {Uint8Array}
 */
function idBytes(id) {
  const out = [];
  for (let x = id; x > 0; x = Math.floor(x / 256)) out.unshift(x % 256);
  return new Uint8Array(out);
}

/**
 * An element from its id and content.
 * @param {number} id
 * @param {Uint8Array[]} parts
 * @returns {Uint8Array[]}
 */
function element(id, parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  return [idBytes(id), sizeBytes(n), ...parts];
}

/**
 * @param {Uint8Array[]} parts
 * @returns {number}
 */
function length(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * The media keys given, by key id.
 * @param {MediaKeys | MediaKeys[]} keys
 * @returns {Map<bigint, Uint8Array<ArrayBuffer>[]>}
 */
function keyTable(keys) {
  /** @type {Map<bigint, Uint8Array<ArrayBuffer>[]>} */
  const table = new Map();
  for (const doc of Array.isArray(keys) ? keys : [keys]) {
    if (!doc || doc.format !== MEDIA_KEYS_FORMAT || !Array.isArray(doc.keys)) {
      throw new Error(`not a ${MEDIA_KEYS_FORMAT} object`);
    }
    for (const k of doc.keys) {
      if (!k || typeof k.kid !== 'string' || !/^[0-9]{1,20}$/.test(k.kid) || BigInt(k.kid) >= 2n ** 64n) continue;
      const secret = sf.unb64url(k.secret);
      if (!secret || secret.length !== 32) continue;
      const kid = BigInt(k.kid);
      const list = table.get(kid) || [];
      if (!list.some((s) => s.every((v, i) => v === secret[i]))) list.push(secret);
      table.set(kid, list);
    }
  }
  return table;
}

/**
 * Decrypts a recorded, end-to-end encrypted WebM file with media keys, into a WebM file that
 * plays. Throws on a file that is not WebM (or holds a codec Parley does not encrypt).
 * @param {ArrayBuffer} buf
 * @param {MediaKeys | MediaKeys[]} keys parley-media-keys-v1, one or several
 * @returns {Promise<Decrypted>}
 */
export async function decryptWebM(buf, keys) {
  const b = new Uint8Array(buf);
  const table = keyTable(keys);
  /** @type {Map<string, Promise<sf.SenderKey>>} */
  const derived = new Map();
  /**
   * @param {Uint8Array<ArrayBuffer>} secret
   * @param {bigint} kid
   */
  const senderKey = (secret, kid) => {
    const tag = `${kid} ${sf.b64url(secret)}`;
    let k = derived.get(tag);
    if (!k) {
      k = sf.senderKey(secret, kid);
      derived.set(tag, k);
    }
    return k;
  };
  let decrypted = 0;
  let missing = 0;
  let failed = 0;
  let replayed = 0;
  /** @type {Set<string>} "kid ctr" of the frames opened */
  const seen = new Set();

  /** whether the file is cut short: what follows its last whole frame is lost */
  const tail = { cut: false };
  const top = children(b, 0, b.length, tail);
  if (!top.length || top[0].id !== ID.EBML) throw new FormatError('no EBML header');
  const seg = top.find((e) => e.id === ID.Segment);
  if (!seg) throw new FormatError('no Segment');
  const parts = children(b, seg.data, seg.end, tail);

  // The tracks first: how many bytes of each track's frames are in clear.
  /** @type {Map<number, 'audio' | 'video'>} */
  const kinds = new Map();
  for (const e of parts) {
    if (e.id !== ID.Tracks) continue;
    for (const t of children(b, e.data, e.end)) {
      if (t.id !== ID.TrackEntry) continue;
      let num = 0;
      let codec = '';
      for (const c of children(b, t.data, t.end)) {
        if (c.id === ID.TrackNumber) num = uint(b, c);
        if (c.id === ID.CodecID) codec = new TextDecoder().decode(b.subarray(c.data, c.end)).replace(/\0+$/, '');
      }
      if (codec === 'V_VP8') kinds.set(num, 'video');
      else if (codec === 'A_OPUS') kinds.set(num, 'audio');
      else throw new FormatError(`track ${num} is ${codec || 'of no codec'}, which Parley does not encrypt end to end`);
    }
  }
  if (!kinds.size) throw new FormatError('the file has no tracks');

  /**
   * Opens one frame, or says why not.
   * @param {Uint8Array} data
   * @param {'audio' | 'video'} kind
   * @returns {Promise<Uint8Array | null>}
   */
  const open = async (data, kind) => {
    // As sframe.js's clearBytes: the Opus TOC; VP8's frame tag, and a keyframe's start code and size.
    const clear = kind === 'audio' ? 1 : data.length && !(data[0] & 1) ? 10 : 3;
    const p = sf.parse(data, clear);
    if (!p) {
      failed++;
      return null;
    }
    const secrets = table.get(p.kid);
    if (!secrets) {
      missing++;
      return null;
    }
    for (const s of secrets) {
      try {
        const out = await sf.open(await senderKey(s, p.kid), p);
        if (seen.has(`${p.kid} ${p.ctr}`)) {
          replayed++;
          return null;
        }
        seen.add(`${p.kid} ${p.ctr}`);
        decrypted++;
        return out;
      } catch {
        /* not under this secret */
      }
    }
    failed++;
    return null;
  };

  /** @type {Uint8Array[]} the Segment's new content */
  const body = [];
  let last = 0;
  for (const e of parts) {
    if (e.id === ID.SeekHead || e.id === ID.Cues || e.id === ID.Void || e.id === ID.Info) continue;
    if (e.id !== ID.Cluster) {
      body.push(b.subarray(e.start, e.end));
      continue;
    }
    /** @type {Uint8Array[]} */
    const kept = [];
    let timecode = 0;
    let blocks = 0;
    for (const c of children(b, e.data, e.end, tail)) {
      if (c.id === ID.Timecode) {
        timecode = uint(b, c);
        kept.push(b.subarray(c.start, c.end));
        continue;
      }
      /** @type {Element | null} */
      let block = null;
      let key = false;
      if (c.id === ID.SimpleBlock) {
        block = c;
      } else if (c.id === ID.BlockGroup) {
        key = true;
        for (const g of children(b, c.data, c.end)) {
          if (g.id === ID.Block) block = g;
          if (g.id === ID.ReferenceBlock) key = false;
        }
      }
      if (!block) continue; // PrevSize, Position: no longer true
      const trackLen = b[block.data] >= 0x80 ? 1 : b[block.data] >= 0x40 ? 2 : 0;
      if (!trackLen || block.data + trackLen + 3 > block.end) throw new FormatError(`a bad block at byte ${block.start}`);
      const track = trackLen === 1 ? b[block.data] & 0x7f : ((b[block.data] & 0x3f) << 8) | b[block.data + 1];
      const kind = kinds.get(track);
      if (!kind) throw new FormatError(`a block of track ${track}, which the file does not declare`);
      const at = block.data + trackLen;
      const rel = ((b[at] << 24) >> 16) | b[at + 1]; // int16
      let flags = b[at + 2];
      if (flags & 0x06) throw new FormatError(`a laced block at byte ${block.start}: Parley's recorder never laces`);
      if (c.id === ID.BlockGroup) flags = (flags & 0x08) | (key ? 0x80 : 0); // a Block's flags have no keyframe bit
      const out = await open(b.subarray(at + 3, block.end), kind);
      if (!out) continue;
      const head = new Uint8Array(b.subarray(block.data, at + 3));
      head[trackLen + 2] = flags;
      kept.push(...element(ID.SimpleBlock, [head, out]));
      blocks++;
      last = Math.max(last, timecode + rel);
    }
    if (blocks) body.push(...element(ID.Cluster, kept));
  }

  // Info, with the Duration players show and seek by (in the timecode scale's units).
  const info = parts.find((e) => e.id === ID.Info);
  /** @type {Uint8Array[]} */
  const infoParts = [];
  if (info) for (const c of children(b, info.data, info.end)) if (c.id !== ID.Duration) infoParts.push(b.subarray(c.start, c.end));
  const dur = new Uint8Array(8);
  new DataView(dur.buffer).setFloat64(0, last);
  infoParts.push(...element(ID.Duration, [dur]));
  if (!info) infoParts.push(...element(ID.TimecodeScale, [new Uint8Array([0x0f, 0x42, 0x40])]));
  const segment = element(ID.Segment, [...element(ID.Info, infoParts), ...body]);
  const all = [b.subarray(top[0].start, top[0].end), ...segment];
  const data = new Uint8Array(length(all));
  let off = 0;
  for (const p of all) {
    data.set(p, off);
    off += p.length;
  }
  return { data: data.buffer, decrypted, missing, failed, replayed, truncated: tail.cut };
}

/**
 * The media keys this browser kept for a record, for every identity it was in it (merged),
 * or null when it kept none.
 * @param {string} record
 * @returns {Promise<MediaKeys | null>}
 */
export async function storedMediaKeys(record) {
  if (typeof record !== 'string' || !record) return null;
  try {
    return await loadMediaKeys(record);
  } catch {
    return null; // no IndexedDB here (a private window): no keys
  }
}
