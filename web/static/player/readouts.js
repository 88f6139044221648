// The player's Readouts panel: it hands the record to readout.js (the list, the editor, a
// readout, the compare view) and, while a readout is being written, offers every transcript
// and chat line of the player to cite, and a span of the timeline (mark in, mark out).

import { decodeToken } from '../token.js';
import { Readouts, citeUtterance, citeChat, citeRange, spanOf, clock, publishCorrection } from './readout.js';
import { h } from '../ui.js';

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
      if (line.type === 'transcript' && panel.canWrite) li.append(correctButton(/** @type {HTMLElement} */ (li), line));
    }
    showCorrections();
  }

  /**
   * A line's Correct button: a small form under the line for the words heard wrong (the
   * selection, or all of it) and what was said, signed and published as a correction.
   * @param {HTMLElement} li
   * @param {import('./readout.js').LogLine} line
   * @returns {HTMLElement}
   */
  function correctButton(li, line) {
    const b = h('button', { class: 'pl-correct', text: 'Correct', attrs: { type: 'button', 'aria-label': 'Correct what the recogniser wrote for this line' } });
    b.addEventListener('mousedown', (e) => e.preventDefault()); // keep the selection
    b.addEventListener('click', () => {
      const open = li.querySelector('.pl-correct-form');
      if (open) {
        open.remove();
        return;
      }
      const sel = document.getSelection();
      const picked = sel && !sel.isCollapsed && li.contains(sel.anchorNode) ? sel.toString() : '';
      const heard = h('input', { attrs: { type: 'text', value: picked.trim() || (line.data && line.data.text) || '', 'aria-label': 'Words heard wrong' } });
      const said = h('input', { attrs: { type: 'text', placeholder: 'What was said', 'aria-label': 'What was said' } });
      const status = h('p', { class: 'pl-correct-status', attrs: { role: 'status' } });
      const send = h('button', { class: 'btn btn-primary', text: 'Sign and publish', attrs: { type: 'submit' } });
      const cancel = h('button', { class: 'btn', text: 'Cancel', attrs: { type: 'button' } });
      const form = h('form', { class: 'pl-correct-form' }, [
        h('label', {}, [h('span', { text: 'Heard' }), heard]),
        h('label', {}, [h('span', { text: 'Said' }), said]),
        h('div', { class: 'ro-actions' }, [send, cancel]), status,
        h('p', { class: 'ro-note', text: 'The line stays as recorded; your correction stands beside it, signed with your key, for anyone holding the record to check.' }),
      ]);
      cancel.addEventListener('click', () => form.remove());
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        send.setAttribute('disabled', '');
        status.textContent = 'Signing…';
        try {
          await publishCorrection(panel.ctx, line, /** @type {HTMLInputElement} */ (heard).value, /** @type {HTMLInputElement} */ (said).value);
          form.remove();
          await showCorrections();
        } catch (err) {
          status.textContent = `Not published: ${err instanceof Error ? err.message : err}`;
          send.removeAttribute('disabled');
        }
      });
      li.append(form);
      /** @type {HTMLInputElement} */ (said).focus();
    });
    return b;
  }

  /** Shows the corrections published for this record under the lines they correct. */
  async function showCorrections() {
    if (!transcript) return;
    /** @type {import('./readout.js').ReadoutSummary[]} */
    let items = [];
    try {
      const resp = await panel.ctx.api('/readouts');
      if (!resp.ok) return;
      items = (/** @type {import('./readout.js').ReadoutSummary[]} */ (await resp.json())).filter((it) => it.kind === 'correction');
    } catch {
      return; // the transcript reads the same without them
    }
    const views = await Promise.all(items.map((it) => panel.fetchReadout(it.id).catch(() => null)));
    for (const el of transcript.querySelectorAll('.pl-correction')) el.remove();
    for (const v of views) {
      const c = v && v.body.citations[0];
      const li = c && c.events.length ? transcript.querySelector(`li[data-seq="${c.events[0].seq}"]`) : null;
      if (!v || !c || !li) continue;
      const note = h('p', { class: 'pl-correction' + (v.problem ? ' bad' : ''), attrs: { 'data-correction': v.id } }, [
        h('span', { class: 'pl-correction-by', text: `${v.body.author} corrects` }), ' “', h('s', { text: c.quote || '' }), '” ',
        h('span', { text: `“${v.body.text}”` }),
      ]);
      if (v.problem) note.append(h('span', { class: 'pl-correction-bad', text: ` (does not check against the record: ${v.problem})` }));
      const form = li.querySelector('.pl-correct-form');
      if (form) form.before(note);
      else li.append(note);
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
