// Where the player's media come from: every file of a record is loaded through loadMedia, so
// that one place decides how: a URL the browser streams in ranges, or, for an end-to-end
// encrypted record, its bytes decrypted here with the media keys this browser kept (or a keys
// file its user brings) and handed over as an object URL. Keys never leave the page.

import { decryptWebM, storedMediaKeys } from './decrypt.js';

/**
 * @typedef {Object} MediaConfig
 * @property {string} record the record's id
 * @property {boolean} encrypted the record says its media were encrypted end to end
 */

/** @type {MediaConfig} */
const cfg = { record: '', encrypted: false };

/** @type {Promise<any> | null} the media keys of the record, once asked for */
let keys = null;

/**
 * The media keys this page decrypts with: those this browser kept for the record, or null.
 * @returns {Promise<any>}
 */
export function mediaKeys() {
  if (!keys) keys = storedMediaKeys(cfg.record);
  return keys;
}

/**
 * Uses a parley-media-keys-v1 file its user brought (a participant's saved keys) instead.
 * @param {any} k
 */
export function useMediaKeys(k) {
  if (!k || k.format !== 'parley-media-keys-v1' || k.record !== cfg.record || !Array.isArray(k.keys)) {
    throw new Error('this is not a media keys file of this record');
  }
  keys = Promise.resolve(k);
}

/** The media of an end-to-end encrypted record cannot be played as the server has them. */
export class EncryptedMediaError extends Error {
  /** @param {string} file */
  constructor(file) {
    super(`${file} is encrypted end to end`);
    this.name = 'EncryptedMediaError';
    this.file = file;
  }
}

/**
 * Sets what loadMedia needs to know of the record; the player calls it once, before any load.
 * @param {MediaConfig} c
 */
export function configureMedia(c) {
  cfg.record = c.record;
  cfg.encrypted = c.encrypted;
}

/**
 * The same-origin URL of one of the record's media files. The node admits it with the media
 * cookie the player obtained (POST /records/ID/media-access), `parley open` with nothing.
 * @param {string} file the file as the log names it: media/NAME.webm
 */
export function mediaURL(file) {
  const name = file.startsWith('media/') ? file.slice('media/'.length) : file;
  return `/records/${encodeURIComponent(cfg.record)}/media/${encodeURIComponent(name)}`;
}

/**
 * Loads one media file of the record for a media element.
 * @param {string} file the file as the log names it: media/NAME.webm
 * @returns {Promise<string>} a URL for the element's src: the same-origin URL (the browser
 *   reads it in ranges as it plays), or an object URL of bytes prepared in the page
 * @throws {EncryptedMediaError} for a record whose media are encrypted end to end, which the
 *   page cannot decrypt: playing the ciphertext would be noise
 */
export async function loadMedia(file) {
  if (!cfg.encrypted) return mediaURL(file);
  // The server holds only ciphertext: without keys nothing plays (never noise).
  const k = await mediaKeys();
  if (!k) throw new EncryptedMediaError(file);
  const resp = await fetch(mediaURL(file), { credentials: 'same-origin' });
  if (!resp.ok) throw new Error(`${file}: the server answered ${resp.status}`);
  const out = await decryptWebM(await resp.arrayBuffer(), k);
  if (!out.decrypted) throw new EncryptedMediaError(file);
  const type = /audio|mic/.test(file) ? 'audio/webm' : 'video/webm';
  return URL.createObjectURL(new Blob([out.data], { type }));
}
