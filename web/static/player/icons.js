// The player's own icons (transport controls), drawn like the client's (icons.js): 24x24
// line icons inlined as SVG. Only these constant strings ever reach innerHTML.

import { iconSVG } from '../icons.js';

/** @type {Record<string, string>} */
const PATHS = {
  play: '<path d="M7.5 4.8v14.4a.8.8 0 0 0 1.2.7l11.4-7.2a.8.8 0 0 0 0-1.4L8.7 4.1a.8.8 0 0 0-1.2.7z" fill="currentColor"/>',
  pause: '<rect x="6" y="4.5" width="4" height="15" rx="1.2" fill="currentColor" stroke="none"/><rect x="14" y="4.5" width="4" height="15" rx="1.2" fill="currentColor" stroke="none"/>',
  back: '<path d="M11.5 6.5 6 12l5.5 5.5"/><path d="M18 6.5 12.5 12l5.5 5.5"/>',
  forward: '<path d="M12.5 6.5 18 12l-5.5 5.5"/><path d="M6 6.5l5.5 5.5L6 17.5"/>',
  volume: '<path d="M4 9.5v5h3.5l5 4v-13l-5 4z"/><path d="M16 9a4.5 4.5 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11"/>',
  volumeOff: '<path d="M4 9.5v5h3.5l5 4v-13l-5 4z"/><path d="M16.5 9.5l5 5M21.5 9.5l-5 5"/>',
  keyboard: '<rect x="2.5" y="6" width="19" height="12" rx="2"/><path d="M6 9.5h.01M9.3 9.5h.01M12.6 9.5h.01M15.9 9.5h.01M18 9.5h.01M6 12.5h.01M18 12.5h.01M8.5 15h7"/>',
  shield: '<path d="M12 3 4.5 6v5.5c0 4.6 3.2 8.2 7.5 9.5 4.3-1.3 7.5-4.9 7.5-9.5V6z"/>',
  shieldCheck: '<path d="M12 3 4.5 6v5.5c0 4.6 3.2 8.2 7.5 9.5 4.3-1.3 7.5-4.9 7.5-9.5V6z"/><path d="M8.5 12l2.5 2.5 4.5-5"/>',
  shieldAlert: '<path d="M12 3 4.5 6v5.5c0 4.6 3.2 8.2 7.5 9.5 4.3-1.3 7.5-4.9 7.5-9.5V6z"/><path d="M12 8v4.5M12 15.5v.01"/>',
};

/**
 * The SVG markup of a player icon, or of one of the client's.
 * @param {string} name
 * @returns {string}
 */
export function svg(name) {
  const body = PATHS[name];
  if (!body) return iconSVG(name);
  return `<svg class="icon icon-${name}" viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none"` +
    ` stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
}

/**
 * Sets an element's only child to an icon.
 * @param {Element} el
 * @param {string} name
 */
export function setIcon(el, name) {
  const t = document.createElement('template');
  t.innerHTML = svg(name);
  el.replaceChildren(/** @type {Node} */ (t.content.firstElementChild));
}
