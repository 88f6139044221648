// Parley's icon set: 24x24 line icons drawn for this client, inlined as SVG so the
// pages need nothing from the network. Only these constant strings ever reach innerHTML.

const SLASH = '<path d="M3.5 3.5l17 17"/>';

/** @type {Record<string, string>} */
const PATHS = {
  mic: '<rect x="9" y="2.5" width="6" height="12" rx="3"/><path d="M18.5 11.5a6.5 6.5 0 0 1-13 0"/><path d="M12 18v3.5"/>',
  micOff: '<path d="M15 10V5.5a3 3 0 0 0-5.6-1.5"/><path d="M9 9v2.5a3 3 0 0 0 4.9 2.3"/><path d="M18.5 11.5a6.4 6.4 0 0 1-.9 3.3M15.9 16.7A6.5 6.5 0 0 1 5.5 11.5"/><path d="M12 18v3.5"/>' + SLASH,
  camera: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="M15.5 10.2 21.5 7v10l-6-3.2"/>',
  cameraOff: '<path d="M9 6h4a2.5 2.5 0 0 1 2.5 2.5v3.5"/><path d="M15.5 18H5a2.5 2.5 0 0 1-2.5-2.5v-7A2.5 2.5 0 0 1 4.4 6.1"/><path d="M15.5 10.2 21.5 7v10l-3.5-1.9"/>' + SLASH,
  screen: '<rect x="2.5" y="3.5" width="19" height="13.5" rx="2"/><path d="M8 21h8M12 17v4"/><path d="M12 13.5V7.5M9.2 10.2 12 7.4l2.8 2.8"/>',
  screenStop: '<rect x="2.5" y="3.5" width="19" height="13.5" rx="2"/><path d="M8 21h8M12 17v4"/><path d="M9.5 8l5 5M14.5 8l-5 5"/>',
  chat: '<path d="M20.5 14.5a2 2 0 0 1-2 2H8l-4.5 4V5.5a2 2 0 0 1 2-2h13a2 2 0 0 1 2 2z"/><path d="M8 8.5h8M8 12h5"/>',
  people: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M15.5 4.7a3.5 3.5 0 0 1 0 6.6M18 14.2a6.5 6.5 0 0 1 3.5 5.8"/>',
  leave: '<path d="M12 9.5c-3.5 0-6.6 1-8.8 2.9-.6.5-.7 1.4-.2 2l1.3 1.6c.4.5 1.1.7 1.7.4l2.6-1.1c.5-.2.8-.7.8-1.2v-1.7a13 13 0 0 1 5.2 0v1.7c0 .5.3 1 .8 1.2l2.6 1.1c.6.3 1.3.1 1.7-.4l1.3-1.6c.5-.6.4-1.5-.2-2C18.6 10.5 15.5 9.5 12 9.5z"/>',
  close: '<path d="M6 6l12 12M18 6 6 18"/>',
  send: '<path d="M4 11.5 20.5 4 14 20.5l-3-6.5z"/><path d="M11 14 20.5 4"/>',
  speaker: '<path d="M4 9.5v5h3.5l5 4v-13l-5 4z"/><path d="M16 9a4.5 4.5 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11"/>',
  removeUser: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M17 8.5l4 4M21 8.5l-4 4"/>',
  alert: '<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/>',
  wave: '<path d="M7 12.5V6.8a1.4 1.4 0 0 1 2.8 0V11"/><path d="M9.8 11V5.2a1.4 1.4 0 0 1 2.8 0V11"/><path d="M12.6 11V6.2a1.4 1.4 0 0 1 2.8 0V12"/><path d="M15.4 12V9.2a1.4 1.4 0 0 1 2.8 0v4.3a7 7 0 0 1-7 7h-.6a6.8 6.8 0 0 1-5.2-2.5L3 15.1a1.4 1.4 0 0 1 2.1-1.8L7 15"/>',
  key: '<circle cx="7.5" cy="15.5" r="4"/><path d="M10.4 12.6 20 3M15.5 7.5l3 3M13 10l2 2"/>',
  lock: '<rect x="4.5" y="10.5" width="15" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3"/>',
  lockOff: '<path d="M19.5 16.5v-4a2 2 0 0 0-2-2h-4M8 10.5H6.5a2 2 0 0 0-2 2v6a2 2 0 0 0 2 2h11a2 2 0 0 0 1.7-.9"/><path d="M8.3 5.8A4 4 0 0 1 16 7.5v3"/>' + SLASH,
  eye: '<path d="M2.5 12s3.5-6.5 9.5-6.5 9.5 6.5 9.5 6.5-3.5 6.5-9.5 6.5S2.5 12 2.5 12z"/><circle cx="12" cy="12" r="3"/>',
  eyeOff: '<path d="M10.6 5.6A9.5 9.5 0 0 1 12 5.5c6 0 9.5 6.5 9.5 6.5a16 16 0 0 1-2.6 3.4M6.4 6.9C3.9 8.6 2.5 12 2.5 12s3.5 6.5 9.5 6.5a9 9 0 0 0 4.3-1.1"/><path d="M9.9 9.9a3 3 0 0 0 4.2 4.2"/>' + SLASH,
  rejoin: '<path d="M20 12a8 8 0 1 1-2.3-5.7"/><path d="M20 4v4.5h-4.5"/>',
  home: '<path d="M3.5 11 12 4l8.5 7"/><path d="M5.5 9.5V20h13V9.5"/>',
  translate: '<path d="M3.5 5.5h10M8.5 3.5v2M6 5.5c.9 3.2 3 5.8 6 7.5M11 5.5c-1 3.3-3.4 6.2-7 8"/><path d="M12.5 20.5l4-9.5 4 9.5M14 17h5"/>',
  check: '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
  captions: '<rect x="2.5" y="5" width="19" height="14" rx="2.5"/><path d="M10.6 10.1a2.3 2.3 0 1 0 0 3.8M17.1 10.1a2.3 2.3 0 1 0 0 3.8"/>',
  more: '<circle cx="12" cy="5.5" r="1.3" fill="currentColor"/><circle cx="12" cy="12" r="1.3" fill="currentColor"/><circle cx="12" cy="18.5" r="1.3" fill="currentColor"/>',
  record: '<circle cx="12" cy="12" r="8.5"/><circle cx="12" cy="12" r="4" fill="currentColor" stroke="none"/>',
  recordStop: '<circle cx="12" cy="12" r="8.5"/><rect x="8.6" y="8.6" width="6.8" height="6.8" rx="1.3" fill="currentColor" stroke="none"/>',
  download: '<path d="M12 3.5v11M7.5 10l4.5 4.5 4.5-4.5"/><path d="M4 16.5v2a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-2"/>',
  copy: '<rect x="8.5" y="8.5" width="12" height="12" rx="2"/><path d="M15.5 8.5V5.5a2 2 0 0 0-2-2h-8a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h3"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M19.4 14.7a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5v.2a2 2 0 0 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1h-.2a2 2 0 0 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3h.1a1.7 1.7 0 0 0 1-1.5v-.2a2 2 0 0 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8v.1a1.7 1.7 0 0 0 1.5 1h.2a2 2 0 0 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>',
};

/** The Parley mark: two overlapping speech bubbles, one for each side of the table. */
export const LOGO =
  '<svg class="logo-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">' +
  '<rect x="1" y="1" width="30" height="30" rx="9" fill="var(--accent)"/>' +
  '<path d="M7.5 10.5a3 3 0 0 1 3-3h7a3 3 0 0 1 3 3v4a3 3 0 0 1-3 3h-4.5L9 20.5v-3.2a3 3 0 0 1-1.5-2.6z" fill="#0d1117" opacity=".85"/>' +
  '<path d="M24.5 15.5a3 3 0 0 0-3-3h-.5v2.2a4.5 4.5 0 0 1-4.5 4.5h-3.3a3 3 0 0 0 2.8 2h3l3.5 3v-3.3a3 3 0 0 0 2-2.8z" fill="#fff" opacity=".92"/>' +
  '</svg>';

/**
 * Returns the SVG markup of a named icon.
 * @param {string} name
 * @returns {string}
 */
export function iconSVG(name) {
  const body = PATHS[name];
  if (!body) throw new Error('unknown icon ' + name);
  const filled = name === 'leave';
  return `<svg class="icon icon-${name}" viewBox="0 0 24 24" aria-hidden="true" focusable="false"` +
    ` fill="${filled ? 'currentColor' : 'none'}" stroke="currentColor" stroke-width="${filled ? 0.6 : 1.8}"` +
    ` stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
}

/**
 * Creates an icon element.
 * @param {string} name
 * @returns {SVGElement}
 */
export function icon(name) {
  const t = document.createElement('template');
  t.innerHTML = iconSVG(name);
  return /** @type {SVGElement} */ (t.content.firstElementChild);
}

/**
 * Replaces the icons inside elements marked `data-icon="name"`.
 * @param {ParentNode} root
 */
export function hydrateIcons(root) {
  for (const el of root.querySelectorAll('[data-icon]')) {
    const name = /** @type {HTMLElement} */ (el).dataset.icon || '';
    el.replaceChildren(icon(name));
  }
}
