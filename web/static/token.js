// Access-token helpers. The token is a JWT minted by `parley token`; the client only
// reads its payload to shape the lobby (name, grants). It never verifies the signature:
// the server does that on `join`.

/**
 * @typedef {Object} TokenClaims
 * @property {string} [sub]      identity
 * @property {string} [room]
 * @property {string} [name]
 * @property {string[]} grants
 * @property {boolean} invite
 * @property {number} [exp]      seconds since the epoch
 * @property {number} [nbf]
 */

/**
 * Decodes a base64url string to text (UTF-8).
 * @param {string} s
 * @returns {string}
 */
function base64UrlDecode(s) {
  let b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4) b64 += '=';
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/**
 * Reads the claims of a JWT without verifying it.
 * @param {string} token
 * @returns {TokenClaims | null} null when the token is not a readable JWT
 */
export function decodeToken(token) {
  if (!token) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(base64UrlDecode(parts[1]));
    if (!payload || typeof payload !== 'object') return null;
    return {
      sub: typeof payload.sub === 'string' ? payload.sub : undefined,
      room: typeof payload.room === 'string' ? payload.room : undefined,
      name: typeof payload.name === 'string' ? payload.name : undefined,
      grants: Array.isArray(payload.grants) ? payload.grants.filter((/** @type {unknown} */ g) => typeof g === 'string') : [],
      invite: payload.invite === true,
      exp: typeof payload.exp === 'number' ? payload.exp : undefined,
      nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
    };
  } catch {
    return null;
  }
}
