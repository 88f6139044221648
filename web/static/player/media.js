// Where the player's media come from: every file of a record is loaded through loadMedia, so
// that one place decides how (a URL the browser streams in ranges, or bytes turned into an
// object URL: the place for decrypting an end-to-end encrypted record in the browser).

/**
 * @typedef {Object} MediaConfig
 * @property {string} record the record's id
 * @property {boolean} encrypted the record says its media were encrypted end to end
 */

/** @type {MediaConfig} */
const cfg = { record: '', encrypted: false };

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
  if (cfg.encrypted) {
    // The server holds only ciphertext. Decrypting with the media keys this browser kept
    // (fetch the bytes, decrypt, return URL.createObjectURL of the result) belongs here.
    throw new EncryptedMediaError(file);
  }
  return mediaURL(file);
}
