// The landing page and the not-found page: the logo, the icons, and their text in the
// interface language.
import { hydrateIcons, LOGO } from './icons.js';
import { startI18n } from './i18n.js';

startI18n();
for (const el of document.querySelectorAll('[data-logo]')) el.innerHTML = LOGO; // constant markup
hydrateIcons(document);
