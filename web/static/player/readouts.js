// The player's Readouts panel: it hands the record to readout.js (the list, the editor, a
// readout, the compare view) and, while a readout is being written, offers every transcript
// and chat line of the player to cite, and a span of the timeline (mark in, mark out).

import { decodeToken } from '../token.js';
import { Readouts, citeUtterance, citeChat, citeRange, spanOf, clock } from './readout.js';

/**
 * What the player gives the readouts panel.
 * @typedef {Object} ReadoutsContext
 * @property {string} record the record's id
 * @property {import('./model.js').Log} log the log as GET /records/ID/log?without=chunk returned it (every line with its hash)
 * @property {import('./model.js').Model} model
 * @property {'node' | 'open'} mode a node (writing needs the readout grant) or `parley open` (read-only)
 * @property {() => string} token the bearer token in use ('' in open mode)
 * @property {(url: string, init?: RequestInit) => Promise<Response>} fetch a fetch that carries the token and throws on a refusal
 * @property {(t: number) => void} seek moves playback to t seconds since the record began
 * @property {() => void} play starts playback
 * @property {() => number} now where playback is
 * @property {() => string} channel the channel being listened to ('floor' or an interpretation)
 * @property {string} [readout] the readout id of the address, when the page is /records/ID/readouts/RID
 */

/**
 * Fills the Readouts panel.
 * @param {HTMLElement} root
 * @param {ReadoutsContext} ctx
 * @returns {Readouts}
 */
export function mountReadouts(root, ctx) {
  const log = /** @type {import('./readout.js').RecordLog} */ (/** @type {unknown} */ (ctx.log));
  const claims = ctx.mode === 'node' ? decodeToken(ctx.token()) : null;
  const transcript = document.getElementById('pl-tr');
  /** @type {Readouts} */
  const panel = new Readouts(root, {
    log,
    api: (path, init) => ctx.fetch(`/records/${encodeURIComponent(ctx.record)}${path}`, init),
    seek: (t, play) => {
      ctx.seek(t);
      if (play) ctx.play();
    },
    claims: claims ? { sub: claims.sub, invite: claims.invite, grants: claims.grants } : null,
    navigate: (path) => location.assign(path),
    editing: (on) => {
      if (transcript) {
        transcript.classList.toggle('pl-citing', on);
        for (const b of transcript.querySelectorAll('.pl-cite')) b.textContent = 'Cite';
      }
      range.hidden = !on;
    },
  });
  const bySeq = new Map(log.events.map((l) => [l.seq, l]));

  // Each transcript and chat line gets a Cite button, shown while the editor is open. A
  // selection inside the line quotes those words (whole words); otherwise all of it.
  if (transcript) {
    for (const li of transcript.querySelectorAll('li[data-seq]')) {
      const line = bySeq.get(Number(/** @type {HTMLElement} */ (li).dataset.seq));
      if (!line) continue;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'pl-cite';
      b.textContent = 'Cite';
      b.setAttribute('aria-label', `Cite this line in the readout`);
      b.addEventListener('mousedown', (e) => e.preventDefault()); // keep the selection
      b.addEventListener('click', () => {
        const sel = document.getSelection();
        const picked = sel && !sel.isCollapsed && li.contains(sel.anchorNode) ? sel.toString() : '';
        const id = line.type === 'chat'
          ? panel.cite(citeChat(log, line))
          : panel.cite(citeUtterance(log, line, picked || (line.data && line.data.text) || '', interpretationFor(line)));
        // The editor is in another tab: say here what happened.
        if (id) b.textContent = `Cited [${id}]`;
      });
      li.append(b);
    }
  }

  /**
   * The interpretation channel whose transcript to pair with a floor utterance: the one
   * being listened to, else the first transcribed at that moment.
   * @param {import('./readout.js').LogLine} line
   * @returns {string | undefined}
   */
  function interpretationFor(line) {
    if (!line.data || line.data.channel !== 'floor') return undefined;
    const { from, to } = spanOf(log, line);
    const listened = ctx.channel();
    const candidates = log.events.filter((l) => l.type === 'transcript' && l.data && l.data.channel !== 'floor').filter((l) => {
      const s = spanOf(log, l);
      return s.to >= from - 0.5 && s.from <= to + 15;
    }).map((l) => /** @type {Record<string, string>} */ (l.data).channel);
    if (candidates.includes(listened)) return listened;
    return candidates[0];
  }

  // A span of the timeline: mark where it begins, then where it ends, at the playhead.
  const range = document.createElement('div');
  range.className = 'ro-actions pl-cite-range';
  range.hidden = true;
  const markIn = document.createElement('button');
  markIn.type = 'button';
  markIn.className = 'btn';
  markIn.textContent = 'Mark in';
  const markOut = document.createElement('button');
  markOut.type = 'button';
  markOut.className = 'btn';
  markOut.textContent = 'Mark out and cite';
  markOut.disabled = true;
  /** @type {number | null} */
  let from = null;
  markIn.addEventListener('click', () => {
    from = ctx.now();
    markIn.textContent = `In at ${clock(from)}`;
    markOut.disabled = false;
  });
  markOut.addEventListener('click', () => {
    if (from == null) return;
    panel.cite(citeRange(from, ctx.now(), ctx.channel()));
    from = null;
    markIn.textContent = 'Mark in';
    markOut.disabled = true;
  });
  range.append(markIn, markOut);
  root.before(range);

  const compare = new URLSearchParams(location.search).get('compare');
  const pair = compare ? compare.split(',') : [];
  if (ctx.readout) panel.showReadout(ctx.readout);
  else if (pair.length === 2) panel.showCompare(pair[0], pair[1], ctx.model.duration);
  else panel.showList();
  return panel;
}
