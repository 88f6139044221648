// The verification badge and its panel: what `parley verify`'s code (record.Verify, run by
// the server that serves this page) says of the record, who attests which part of it, what
// rests on the server's word alone, and the command that checks it without trusting this page.

import { clock } from './model.js';
import { setIcon } from './icons.js';

/**
 * @typedef {import('./model.js').Model} Model
 *
 * @typedef {Object} Attestation
 * @property {string} identity
 * @property {string[]} keys fingerprints
 * @property {boolean} given
 * @property {number} upTo
 * @property {number} needed
 * @property {Array<{seq: number, type: string, identity?: string}>} gap
 *
 * @typedef {Object} VerifyAnswer
 * @property {'intact' | 'incomplete' | 'altered'} status
 * @property {string} [problem]
 * @property {{entry?: number, file?: string, from?: number, to?: number, reason: string, incomplete?: boolean}} [failure]
 * @property {{record: string, room: string, entries: number, sealed: boolean, ended: boolean, participants: string[],
 *   files: Record<string, number>, attested: Attestation[], checkpoints: number, lastSigned: number, unsigned: number,
 *   warnings: string[], serverKey: string}} report
 * @property {'server' | 'record'} keySource
 * @property {string} howto
 * @property {string} [download]
 */

/**
 * @param {string} tag
 * @param {string} cls
 * @param {string} [text]
 */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** @type {Record<string, string>} */
const HEADLINE = {
  intact: 'Intact',
  incomplete: 'Incomplete',
  altered: 'Altered',
};

/**
 * Shows the badge while the server verifies.
 * @param {HTMLElement} badge
 */
export function badgePending(badge) {
  badge.hidden = false;
  badge.dataset.status = 'pending';
  setBadge(badge, 'shield', 'Verifying…');
}

/**
 * @param {HTMLElement} badge
 * @param {string} icon
 * @param {string} text
 */
function setBadge(badge, icon, text) {
  const dot = /** @type {HTMLElement} */ (badge.querySelector('.pl-badge-dot'));
  setIcon(dot, icon);
  /** @type {HTMLElement} */ (badge.querySelector('#pl-badge-text')).textContent = text;
}

/**
 * @param {HTMLElement} badge
 * @param {string} message
 */
export function badgeFailed(badge, message) {
  badge.hidden = false;
  badge.dataset.status = 'unknown';
  setBadge(badge, 'shieldAlert', 'Not verified');
  badge.title = message;
}

/**
 * Fills the badge and the verification panel.
 * @param {HTMLElement} badge
 * @param {HTMLElement} panel
 * @param {VerifyAnswer} v
 * @param {Model} m
 * @param {(t: number) => void} seek
 */
export function renderVerification(badge, panel, v, m, seek) {
  const r = v.report;
  const signers = r.attested.filter((a) => a.upTo > 0).length;
  badge.hidden = false;
  badge.dataset.status = v.status;
  const badgeText = v.status === 'intact'
    ? `Intact · ${signers} of ${r.attested.length} countersign`
    : v.status === 'incomplete' ? 'Incomplete: no end marker yet' : 'Altered';
  setBadge(badge, v.status === 'altered' ? 'shieldAlert' : v.status === 'intact' ? 'shieldCheck' : 'shield', badgeText);
  badge.title = 'How the record verifies: open the Verification panel';

  panel.replaceChildren();
  const head = el('div', `pl-verdict pl-verdict-${v.status}`);
  const h = el('h3', 'pl-h3', HEADLINE[v.status] || v.status);
  head.append(h);
  const what = el('p', '');
  if (v.status === 'intact') {
    what.textContent = `Every event and every byte of media is as the server signed it, and the end marker closes the record: nothing was altered, removed or added. ${r.entries} events, ${r.checkpoints} server checkpoints, ${Object.keys(r.files).length} media files.`;
  } else if (v.status === 'incomplete') {
    what.textContent = `Intact as far as it goes, but the record has no end marker: it is still being recorded, or it was cut short. Verified up to event ${r.lastSigned}${r.unsigned ? `; the ${r.unsigned} events after it carry no signature yet` : ''}.`;
  } else {
    what.textContent = `The record was changed after it was signed. The first problem: ${v.problem || ''}`;
  }
  head.append(what);
  if (v.failure && v.failure.entry && v.status === 'altered') {
    const at = m.seqTime(v.failure.entry);
    const b = /** @type {HTMLButtonElement} */ (el('button', 'btn btn-small btn-ghost', `Go to event ${v.failure.entry} (${clock(at)})`));
    b.type = 'button';
    b.addEventListener('click', () => seek(at));
    head.append(b);
  }
  panel.append(head);

  const key = el('p', 'pl-note');
  key.textContent = v.keySource === 'server'
    ? `Signatures checked with the server key ${r.serverKey.slice(0, 16)}…, which this server holds (parley key export prints it).`
    : `Checked with the server key written in the record itself (${r.serverKey.slice(0, 16)}…): that shows the record is consistent, not who made it. Ask the server’s operator for its key and verify with --server-key.`;
  panel.append(key);

  const att = el('section', 'pl-attest');
  const ah = el('h3', 'pl-h3', 'Who attests what');
  ah.id = 'pl-attest-title';
  att.setAttribute('aria-labelledby', ah.id);
  att.append(ah);
  const intro = el('p', 'pl-note', 'Each participant’s browser countersigned the server’s checkpoints with its own key. What no countersignature covers rests on the server’s word alone.');
  att.append(intro);
  const list = el('ul', 'pl-attest-list');
  for (const a of r.attested) {
    const p = m.people.find((x) => x.identity === a.identity);
    const li = el('li', 'pl-attest-row');
    const name = el('div', 'pl-attest-name', p ? p.name : a.identity);
    const keys = el('div', 'pl-attest-keys mono', a.keys.length ? `key ${a.keys.join(', ')}` : 'no key announced');
    const upTo = a.upTo ? m.seqTime(a.upTo) : 0;
    const says = el('div', 'pl-attest-says');
    if (!a.upTo) {
      says.textContent = 'Countersigned nothing: all of it rests on the server’s word for them.';
      li.classList.add('pl-attest-none');
    } else {
      says.textContent = `Attests events 1–${a.upTo}, up to ${clock(upTo)}.`;
    }
    li.append(name, keys, says);
    if (a.needed > a.upTo) {
      const to = m.seqTime(a.needed);
      const gap = el('div', 'pl-attest-gap');
      const n = a.gap.length;
      const when = clock(upTo) === clock(to) ? `at ${clock(to)}` : `${clock(upTo)}–${clock(to)}`;
      gap.textContent = n
        ? `Events ${a.upTo + 1}–${a.needed} (${when}) rest on the server’s word alone, among them ${n} room event${n === 1 ? '' : 's'}:${a.gap.slice(0, 3).map((g) => ` ${g.type}${g.identity ? ' of ' + g.identity : ''}`).join(',')}${n > 3 ? ', …' : ''}.`
        : `Events ${a.upTo + 1}–${a.needed} (${when}), their own departure, rest on the server’s word alone.`;
      const go = /** @type {HTMLButtonElement} */ (el('button', 'btn btn-small btn-ghost', `Go to ${clock(upTo)}`));
      go.type = 'button';
      go.addEventListener('click', () => seek(upTo));
      gap.append(' ', go);
      li.append(gap);
    }
    list.append(li);
  }
  att.append(list);
  panel.append(att);

  if (r.warnings.length) {
    const w = el('section', 'pl-warnings');
    w.append(el('h3', 'pl-h3', 'Notes'));
    const ul = el('ul', '');
    for (const text of r.warnings) ul.append(el('li', '', text));
    w.append(ul);
    panel.append(w);
  }

  const how = el('section', 'pl-howto');
  how.append(el('h3', 'pl-h3', 'Check it yourself'));
  how.append(el('p', 'pl-note', 'Do not take this page’s word for it: verify the record on your own computer, with the server’s published key. Add --signer IDENTITY=KEY for each participant whose key you obtained from them, and --receipt FILE for receipts they kept.'));
  if (v.download) how.append(command('Download it', v.download));
  how.append(command('Verify it', v.howto));
  panel.append(how);
}

/**
 * A command line with a button that copies it.
 * @param {string} title
 * @param {string} cmd
 */
function command(title, cmd) {
  const box = el('div', 'pl-cmd');
  const label = el('div', 'pl-cmd-title', title);
  const code = el('code', 'pl-cmd-text mono', cmd);
  const copy = /** @type {HTMLButtonElement} */ (el('button', 'btn btn-small btn-ghost pl-cmd-copy', 'Copy'));
  copy.type = 'button';
  copy.setAttribute('aria-label', `Copy: ${title}`);
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(cmd);
      copy.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = getSelection();
      if (sel) {
        sel.removeAllRanges();
        sel.addRange(range);
      }
      copy.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => (copy.textContent = 'Copy'), 2500);
  });
  box.append(label, code, copy);
  return box;
}
