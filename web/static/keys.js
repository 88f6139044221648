// The participant's signing key: an Ed25519 key pair made with WebCrypto, its private half
// non-extractable, kept in IndexedDB so the same browser keeps the same key for the same
// identity across meetings. Its public half travels as `key` in `join`; with it the browser
// countersigns the checkpoints of a recorded meeting (docs/protocol.md, "Recording"), so the
// participant's side can later prove the record was not rewritten.
//
// Beside them, in an end-to-end encrypted meeting that is recorded, the media secrets this
// browser held (its own and those sent to it) while the record ran: what opens the record's
// media afterwards (docs/e2ee.md, "Reading the record"). The encryption worker writes them;
// they leave the browser only when the participant saves them.

const DB_NAME = 'parley';
// 1: keys, meta; 2: receipts; 3: media-keys. An upgrade only adds the stores it lacks:
// every store of an older version, and what it holds, survives.
const DB_VERSION = 3;
const KEYS = 'keys';
const META = 'meta';
const RECEIPTS = 'receipts';
const MEDIA_KEYS = 'media-keys';
const BROWSER_ID = 'browser-id';

/**
 * @typedef {Object} ParticipantKey
 * @property {CryptoKeyPair} pair
 * @property {string} publicKey    base64url (no padding) of the raw 32-byte public key
 * @property {string} fingerprint  the first 16 characters of publicKey
 * @property {boolean} stored      whether the key is kept in IndexedDB (false: this page only)
 */

/**
 * Why there is no key: `problem` in English (for the console), `reason` for a page to say it in
 * its own language (i18n.js key.REASON), with `error` the browser's own message when it failed.
 * @typedef {'noIdentity' | 'insecure' | 'noEd25519' | 'failed'} KeyProblem
 * @typedef {{key: ParticipantKey, problem: null} | {key: null, problem: string, reason?: KeyProblem, error?: string}} KeyResult
 */

/**
 * base64url without padding.
 * @param {ArrayBuffer | Uint8Array} buf
 * @returns {string}
 */
export function base64url(buf) {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @returns {Promise<IDBDatabase>} */
function openDB() {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('IndexedDB is not available'));
      return;
    }
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
      if (!db.objectStoreNames.contains(RECEIPTS)) db.createObjectStore(RECEIPTS);
      if (!db.objectStoreNames.contains(MEDIA_KEYS)) db.createObjectStore(MEDIA_KEYS);
    };
    req.onsuccess = () => {
      // Connections are short; one left open must not hold up another tab's upgrade.
      req.result.onversionchange = () => req.result.close();
      resolve(req.result);
    };
    req.onerror = () => reject(req.error || new Error('IndexedDB could not be opened'));
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

/**
 * Reads one value.
 * @param {IDBDatabase} db
 * @param {string} store
 * @param {string} key
 * @returns {Promise<any>}
 */
function get(db, store, key) {
  return new Promise((resolve, reject) => {
    const req = db.transaction(store, 'readonly').objectStore(store).get(key);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Stores a value unless the key already holds one (another tab may have been first).
 * @param {IDBDatabase} db
 * @param {string} store
 * @param {string} key
 * @param {any} value
 * @returns {Promise<boolean>} whether this value was stored
 */
function addIfAbsent(db, store, key, value) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readwrite');
    const req = tx.objectStore(store).add(value, key);
    req.onerror = (ev) => {
      if (req.error && req.error.name === 'ConstraintError') {
        ev.preventDefault(); // keep the transaction from aborting noisily
        resolve(false);
      } else {
        reject(req.error);
      }
    };
    tx.oncomplete = () => resolve(true);
    tx.onabort = () => {
      if (!req.error || req.error.name !== 'ConstraintError') reject(tx.error || new Error('IndexedDB write failed'));
    };
  });
}

/**
 * Gets a value, or stores the one `make` returns when there is none.
 * @template T
 * @param {IDBDatabase} db
 * @param {string} store
 * @param {string} key
 * @param {(v: any) => boolean} valid
 * @param {() => Promise<T>} make
 * @returns {Promise<T>}
 */
async function getOrAdd(db, store, key, valid, make) {
  const have = await get(db, store, key);
  if (valid(have)) return have;
  const fresh = await make();
  if (!valid(have) && have !== undefined) {
    // A value we cannot use (another format): replace it.
    await new Promise((resolve, reject) => {
      const req = db.transaction(store, 'readwrite').objectStore(store).put(fresh, key);
      req.onsuccess = () => resolve(undefined);
      req.onerror = () => reject(req.error);
    });
    return fresh;
  }
  if (await addIfAbsent(db, store, key, fresh)) return fresh;
  const won = await get(db, store, key);
  return valid(won) ? won : fresh;
}

/** @returns {Promise<CryptoKeyPair>} */
async function generate() {
  const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/**
 * @param {any} v
 * @returns {boolean}
 */
function isPair(v) {
  return !!v && v.privateKey instanceof CryptoKey && v.publicKey instanceof CryptoKey &&
    v.privateKey.algorithm.name === 'Ed25519';
}

/**
 * @param {unknown} err
 * @returns {string}
 */
function why(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Gets this browser's key for the identity in the token, creating it the first time.
 * @param {{sub?: string, invite: boolean} | null} claims the token's claims
 * @returns {Promise<KeyResult>}
 */
export async function participantKey(claims) {
  if (!claims || !claims.sub) return { key: null, problem: 'the link has no identity to hold a key for', reason: 'noIdentity' };
  if (typeof crypto === 'undefined' || !crypto.subtle) {
    return { key: null, problem: 'the page is not in a secure context, so there is no WebCrypto', reason: 'insecure' };
  }
  /** @type {CryptoKeyPair | null} */
  let pair = null;
  let stored = false;
  try {
    const db = await openDB();
    try {
      let id = claims.sub;
      if (claims.invite) {
        // Everyone who follows an invite link shares its `sub`; the server gives each join its
        // own identity. This browser's key for the link is the sub plus a random id of its own.
        const browser = await getOrAdd(db, META, BROWSER_ID, (v) => typeof v === 'string' && v.length >= 16,
          async () => base64url(crypto.getRandomValues(new Uint8Array(12))));
        id = `${claims.sub}-${browser}`;
      }
      pair = await getOrAdd(db, KEYS, id, isPair, generate);
      stored = true;
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NotSupportedError') {
      return { key: null, problem: 'its WebCrypto has no Ed25519', reason: 'noEd25519' };
    }
    // No IndexedDB (private mode, storage full): a key for this page only is better than none.
    console.warn('parley: the signing key cannot be stored:', why(err));
    try {
      pair = await generate();
    } catch (err2) {
      if (err2 instanceof DOMException && err2.name === 'NotSupportedError') return { key: null, problem: 'its WebCrypto has no Ed25519', reason: 'noEd25519' };
      return { key: null, problem: `the signing key could not be made (${why(err2)})`, reason: 'failed', error: why(err2) };
    }
  }
  const raw = await crypto.subtle.exportKey('raw', pair.publicKey);
  const publicKey = base64url(raw);
  return { key: { pair, publicKey, fingerprint: publicKey.slice(0, 16), stored }, problem: null };
}

const STATEMENT = /^parley checkpoint\nrecord ([^\n]+)\nentries (0|[1-9][0-9]*)\nhead ([0-9a-f]{64})\n$/;

/**
 * Whether a checkpoint statement has the shape of docs/protocol.md and names `record` and
 * checkpoint `seq` (it covers the seq-1 entries before it). The browser signs only such
 * statements (and the encryption worker only key exchange statements, which begin
 * "parley e2ee v2": docs/e2ee.md), so the key cannot be made to sign anything else (such as a
 * key change).
 * @param {string} statement
 * @param {string} record
 * @param {number} seq
 * @returns {boolean}
 */
export function isCheckpointStatement(statement, record, seq) {
  const m = STATEMENT.exec(statement);
  return !!m && m[1] === record && Number(m[2]) + 1 === seq;
}

/**
 * Signs the UTF-8 bytes of a statement.
 * @param {CryptoKey} privateKey
 * @param {string} statement
 * @returns {Promise<string>} the signature, base64url without padding
 */
export async function signStatement(privateKey, statement) {
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, new TextEncoder().encode(statement));
  return base64url(sig);
}

/**
 * @typedef {{seq: number, head: string, sig: string}} ReceiptCheckpoint
 * @typedef {{format: string, record: string, identity: string, key: string,
 *            checkpoints: ReceiptCheckpoint[]}} Receipt
 */

/**
 * The head a checkpoint statement names (call only for one isCheckpointStatement accepted).
 * @param {string} statement
 * @returns {string}
 */
export function statementHead(statement) {
  const m = STATEMENT.exec(statement);
  return m ? m[3] : '';
}

/**
 * Adds a countersigned checkpoint to this browser's receipt of a record, kept in IndexedDB
 * (docs/record.md, "Receipts"): the participant's own evidence of what they signed, which
 * `parley verify --receipt` checks the record against.
 * @param {string} record
 * @param {string} identity
 * @param {string} publicKey base64url
 * @param {ReceiptCheckpoint} checkpoint
 * @returns {Promise<Receipt>}
 */
export async function keepReceipt(record, identity, publicKey, checkpoint) {
  const db = await openDB();
  const key = `${record} ${identity}`;
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(RECEIPTS, 'readwrite');
      const store = tx.objectStore(RECEIPTS);
      /** @type {Receipt} */
      let receipt;
      const req = store.get(key);
      req.onsuccess = () => {
        const have = req.result;
        receipt = have && have.key === publicKey && Array.isArray(have.checkpoints)
          ? have
          : { format: 'parley-receipt-v1', record, identity, key: publicKey, checkpoints: [] };
        if (!receipt.checkpoints.some((c) => c.seq === checkpoint.seq)) {
          receipt.checkpoints.push(checkpoint);
          receipt.checkpoints.sort((a, b) => a.seq - b.seq);
        }
        store.put(receipt, key);
      };
      tx.oncomplete = () => resolve(receipt);
      tx.onabort = () => reject(tx.error || new Error('IndexedDB write failed'));
      tx.onerror = () => reject(tx.error || new Error('IndexedDB write failed'));
    });
  } finally {
    db.close();
  }
}

/**
 * This browser's receipt of a record for an identity, or null.
 * @param {string} record
 * @param {string} identity
 * @returns {Promise<Receipt | null>}
 */
export async function loadReceipt(record, identity) {
  const db = await openDB();
  try {
    const r = await get(db, RECEIPTS, `${record} ${identity}`);
    return r && Array.isArray(r.checkpoints) ? r : null;
  } finally {
    db.close();
  }
}

/** The format name of a media keys file (docs/e2ee.md, "Reading the record"). */
export const MEDIA_KEYS_FORMAT = 'parley-media-keys-v1';

/**
 * @typedef {{participant: string, identity: string}} KeySender
 * @typedef {{kid: string, sender: KeySender, secret: string}} MediaKeyEntry
 *   kid: the SFrame key id in decimal; secret: the 32-byte media secret, base64url
 * @typedef {{format: string, record: string, identity: string, keys: MediaKeyEntry[]}} MediaKeys
 */

/** The most media secrets kept for one record and identity: a renewal per departure, per sender. */
export const MAX_MEDIA_KEYS = 4096;

/**
 * @param {any} k
 * @returns {k is MediaKeyEntry}
 */
function isMediaKey(k) {
  return !!k && typeof k.kid === 'string' && /^[0-9]{1,20}$/.test(k.kid) && typeof k.secret === 'string' &&
    /^[A-Za-z0-9_-]{43}$/.test(k.secret) && !!k.sender && typeof k.sender.participant === 'string' &&
    typeof k.sender.identity === 'string';
}

/**
 * Adds media secrets to what this browser keeps for a record and identity. It only ever
 * appends: a renewal, a reconnection or a late key never takes away one kept before.
 * @param {string} record
 * @param {string} identity this browser's in the meeting
 * @param {MediaKeyEntry[]} keys
 * @returns {Promise<number>} how many were new
 */
export async function keepMediaKeys(record, identity, keys) {
  if (!record || !identity) throw new Error('media keys are kept for a record and an identity');
  const db = await openDB();
  const key = `${record} ${identity}`;
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(MEDIA_KEYS, 'readwrite');
      const store = tx.objectStore(MEDIA_KEYS);
      let added = 0;
      const req = store.get(key);
      req.onsuccess = () => {
        const have = req.result;
        /** @type {MediaKeys} */
        const doc = have && have.format === MEDIA_KEYS_FORMAT && Array.isArray(have.keys)
          ? have
          : { format: MEDIA_KEYS_FORMAT, record, identity, keys: [] };
        const seen = new Set(doc.keys.map((k) => `${k.kid} ${k.secret}`));
        for (const k of keys) {
          if (!isMediaKey(k) || seen.has(`${k.kid} ${k.secret}`) || doc.keys.length >= MAX_MEDIA_KEYS) continue;
          seen.add(`${k.kid} ${k.secret}`);
          doc.keys.push({ kid: k.kid, sender: { participant: k.sender.participant, identity: k.sender.identity }, secret: k.secret });
          added++;
        }
        if (added) store.put(doc, key);
      };
      tx.oncomplete = () => resolve(added);
      tx.onabort = () => reject(tx.error || new Error('IndexedDB write failed'));
      tx.onerror = () => reject(tx.error || new Error('IndexedDB write failed'));
    });
  } finally {
    db.close();
  }
}

/**
 * The media secrets this browser kept for a record: for one identity, or (identity omitted)
 * for every identity it was in that record, merged. Null when it kept none.
 * @param {string} record
 * @param {string} [identity]
 * @returns {Promise<MediaKeys | null>}
 */
export async function loadMediaKeys(record, identity) {
  const db = await openDB();
  try {
    /** @type {any[]} */
    const docs = await new Promise((resolve, reject) => {
      const store = db.transaction(MEDIA_KEYS, 'readonly').objectStore(MEDIA_KEYS);
      // Keys are "RECORD IDENTITY"; identities have no space, so this range is one record's.
      const req = identity !== undefined
        ? store.getAll(`${record} ${identity}`)
        : store.getAll(IDBKeyRange.bound(`${record} `, `${record} \uffff`));
      req.onsuccess = () => resolve(req.result || []);
      req.onerror = () => reject(req.error);
    });
    const mine = docs.filter((d) => d && d.format === MEDIA_KEYS_FORMAT && d.record === record && Array.isArray(d.keys));
    if (!mine.length) return null;
    if (mine.length === 1) return mine[0];
    /** @type {MediaKeys} */
    const merged = { format: MEDIA_KEYS_FORMAT, record, identity: mine.map((d) => d.identity).join(' '), keys: [] };
    const seen = new Set();
    for (const d of mine) {
      for (const k of d.keys) {
        if (seen.has(`${k.kid} ${k.secret}`)) continue;
        seen.add(`${k.kid} ${k.secret}`);
        merged.keys.push(k);
      }
    }
    return merged;
  } finally {
    db.close();
  }
}
