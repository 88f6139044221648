// The landing page only needs the logo and icons drawn.
import { hydrateIcons, LOGO } from './icons.js';

for (const el of document.querySelectorAll('[data-logo]')) el.innerHTML = LOGO; // constant markup
hydrateIcons(document);
