// The player's access to the server: the token (from the address's fragment, kept in this
// tab's session storage) and fetches that carry it.

/**
 * @typedef {Object} PlayerConfig
 * @property {'node' | 'open'} mode a node (a token reads the record) or `parley open` (a folder on this computer)
 * @property {boolean} token whether a token is needed
 * @property {string} [record] open: the one record served
 */

/** An answer the server refused, with its words. */
export class HTTPError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = 'HTTPError';
    this.status = status;
  }
}

/** @param {string} record */
const tokenKey = (record) => `parley.player.token.${record}`;

let token = '';

/**
 * Takes the token from the address's fragment (#token=...) into this tab's session storage,
 * and removes it from the address bar (and so from screen shares and the history); without
 * one there, the token kept before (a reload).
 * @param {string} record
 * @returns {string} the token, or ''
 */
export function takeToken(record) {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromURL = hash.get('token');
  if (fromURL) {
    sessionStorage.setItem(tokenKey(record), fromURL);
    hash.delete('token');
    const rest = hash.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  }
  token = fromURL || sessionStorage.getItem(tokenKey(record)) || '';
  return token;
}

/**
 * @param {string} record
 * @param {string} t a token pasted into the form
 */
export function setToken(record, t) {
  token = t.trim();
  if (token) sessionStorage.setItem(tokenKey(record), token);
  else sessionStorage.removeItem(tokenKey(record));
}

/** @returns {string} the token in use, '' for none */
export function currentToken() {
  return token;
}

/**
 * Fetches with the token, and fails with the server's sentence on a refusal.
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export async function authFetch(url, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('Authorization', 'Bearer ' + token);
  const resp = await fetch(url, { ...init, headers, credentials: 'same-origin', cache: 'no-store' });
  if (!resp.ok) {
    const text = (await resp.text().catch(() => '')).trim();
    throw new HTTPError(resp.status, text || `${resp.status} ${resp.statusText}`);
  }
  return resp;
}

/**
 * @template T
 * @param {string} url
 * @returns {Promise<T>}
 */
export async function getJSON(url) {
  const resp = await authFetch(url);
  return /** @type {Promise<T>} */ (resp.json());
}

/** @returns {Promise<PlayerConfig>} */
export async function playerConfig() {
  try {
    const resp = await fetch('/player/config', { cache: 'no-store' });
    if (resp.ok) return await resp.json();
  } catch {
    // an older node: it needs a token
  }
  return { mode: 'node', token: true };
}

/**
 * Lets the media elements read the record: the node takes the token once and answers with a
 * cookie sent only with this record's media (an element cannot send an Authorization header).
 * @param {string} record
 */
export async function mediaAccess(record) {
  await authFetch(`/records/${encodeURIComponent(record)}/media-access`, { method: 'POST' });
}
