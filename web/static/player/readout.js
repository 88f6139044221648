// Readouts in the record player: writing one with citations into the record, publishing it
// signed with this browser's key, reading one (each citation plays its moment; statements
// that cite nothing are marked), and comparing two side by side on the record's timeline.
// docs/readouts.md has the format; the server and `parley readout verify` check the same rules.

import { h } from '../ui.js';
import { participantKey, signStatement } from '../keys.js';

/**
 * @typedef {{seq: number, hash: string}} Ref
 * @typedef {{channel: string, events: Ref[], quote?: string}} Rendering
 * @typedef {{id: string, from: number, to: number, channel: string, events: Ref[], quote?: string,
 *            interpretation?: Rendering}} Citation
 * @typedef {{kind?: string, record: string, end: string, author: string, title: string, published: string,
 *            language?: string, text: string, citations: Citation[]}} Body
 * @typedef {{seq: number, time: string, type: string, participant?: string, identity?: string,
 *            data?: Record<string, string>, hash: string}} LogLine
 * @typedef {{record: string, room: string, began: string, end?: string, events: LogLine[]}} RecordLog
 * @typedef {{id: string, kind?: string, author: string, title: string, published: string, citations: number}} ReadoutSummary
 * @typedef {{id: string, body: Body, footnotes: Record<string, string>, problem: string, uncited: string[]}} ReadoutView
 *
 * @typedef {Object} ReadoutContext
 * @property {RecordLog} log                      the record's log (GET /records/ID/log)
 * @property {(path: string, init?: RequestInit) => Promise<Response>} api  fetch under /records/ID, with the token
 * @property {(seconds: number, play?: boolean) => void} seek  moves playback (and plays)
 * @property {{sub?: string, invite: boolean, grants: string[]} | null} claims  null where nothing may be written
 * @property {(path: string) => void} navigate    shows another view of the player
 * @property {(editing: boolean) => void} [editing] told when the editor opens and closes (the
 *   player then offers its transcript and chat lines to cite)
 */

export const FORMAT = 'parley-readout-v1';
const PREFIX = 'parley readout\n';
const INTERP_DELAY = 15; // seconds an interpretation may run behind the floor: as the server checks

/** @param {string} s */
const normalize = (s) => s.split(/\s+/).filter(Boolean).join(' ');

/**
 * Seconds since the record began.
 * @param {RecordLog} log
 * @param {string} iso
 */
export function since(log, iso) {
  return Math.round(new Date(iso).getTime() - new Date(log.began).getTime()) / 1000;
}

/**
 * An utterance's span in the record, in seconds.
 * @param {RecordLog} log
 * @param {LogLine} line a transcript event
 * @returns {{from: number, to: number}}
 */
export function spanOf(log, line) {
  const d = line.data || {};
  const from = d.start ? since(log, d.start) : since(log, line.time);
  const to = d.end ? since(log, d.end) : from;
  return to >= from ? { from, to } : { from: since(log, line.time), to: since(log, line.time) };
}

/**
 * The whole words of `text` that `selected` covers: a quote is a run of whole words, never a
 * part of one (the server refuses those).
 * @param {string} text
 * @param {string} selected
 * @returns {string}
 */
export function wholeWords(text, selected) {
  const words = normalize(text).split(' ');
  const want = normalize(selected);
  if (!want) return '';
  const joined = words.join(' ');
  const at = joined.indexOf(want);
  if (at < 0) return joined;
  let start = joined.lastIndexOf(' ', at) + 1;
  let end = joined.indexOf(' ', at + want.length);
  if (end < 0) end = joined.length;
  return joined.slice(start, end);
}

/**
 * A citation of a transcript event, quoting the selected words, with the same moment in the
 * interpretation channel when one was transcribed there.
 * @param {RecordLog} log
 * @param {LogLine} line
 * @param {string} selected
 * @param {string} [interpChannel] the channel whose interpretation to add
 * @returns {Omit<Citation, 'id'>}
 */
export function citeUtterance(log, line, selected, interpChannel) {
  const { from, to } = spanOf(log, line);
  /** @type {Omit<Citation, 'id'>} */
  const c = {
    from, to, channel: (line.data && line.data.channel) || 'floor',
    events: [{ seq: line.seq, hash: line.hash }],
    quote: wholeWords((line.data && line.data.text) || '', selected),
  };
  if (interpChannel && interpChannel !== c.channel) {
    const lines = log.events.filter((l) => l.type === 'transcript' && l.data && l.data.channel === interpChannel).filter((l) => {
      const s = spanOf(log, l);
      return s.to >= from - 0.5 && s.from <= to + INTERP_DELAY;
    });
    if (lines.length) {
      c.interpretation = {
        channel: interpChannel,
        events: lines.map((l) => ({ seq: l.seq, hash: l.hash })),
        quote: normalize(lines.map((l) => (l.data && l.data.text) || '').join(' ')),
      };
    }
  }
  return c;
}

/**
 * A citation of a chat line, quoting all of it.
 * @param {RecordLog} log
 * @param {LogLine} line
 * @returns {Omit<Citation, 'id'>}
 */
export function citeChat(log, line) {
  const t = since(log, line.time);
  return { from: t, to: t, channel: 'chat', events: [{ seq: line.seq, hash: line.hash }], quote: normalize((line.data && line.data.text) || '') };
}

/**
 * A citation of a bare time range on a channel.
 * @param {number} from
 * @param {number} to
 * @param {string} channel
 * @returns {Omit<Citation, 'id'>}
 */
export function citeRange(from, to, channel) {
  return { from: Math.max(0, Math.min(from, to)), to: Math.max(from, to), channel: channel || 'floor', events: [] };
}

/**
 * Signs and publishes a readout.
 * @param {ReadoutContext} ctx
 * @param {{title: string, text: string, citations: Citation[]}} draft
 * @returns {Promise<{id: string, url: string}>}
 */
export async function publish(ctx, draft) {
  if (!ctx.claims || !ctx.claims.sub) throw new Error('this link names nobody to sign as');
  if (!ctx.log.end) throw new Error('the record has not ended: a readout binds to an ended record');
  return signAndPost(ctx, {
    record: ctx.log.record, end: ctx.log.end, author: ctx.claims.sub, title: draft.title.trim(),
    published: new Date().toISOString(), text: draft.text, citations: draft.citations,
  });
}

/**
 * Signs and publishes a correction of one transcript line: the words heard wrong (whole words
 * of the line) and what was said instead. The line stays as recorded; the correction stands
 * beside it, signed, as docs/transcripts.md says.
 * @param {ReadoutContext} ctx
 * @param {LogLine} line
 * @param {string} quote
 * @param {string} said
 * @returns {Promise<{id: string, url: string}>}
 */
export async function publishCorrection(ctx, line, quote, said) {
  if (!ctx.claims || !ctx.claims.sub) throw new Error('this link names nobody to sign as');
  if (!ctx.log.end) throw new Error('the record has not ended: a correction binds to an ended record');
  const heard = normalize((line.data && line.data.text) || '');
  if (!normalize(quote) || !heard.includes(normalize(quote))) throw new Error('the words to correct must be words of the line');
  const words = wholeWords(heard, quote);
  if (!normalize(said)) throw new Error('say what was said instead');
  const c = citeUtterance(ctx.log, line, words);
  return signAndPost(ctx, {
    kind: 'correction', record: ctx.log.record, end: ctx.log.end, author: ctx.claims.sub, title: '',
    published: new Date().toISOString(), text: normalize(said), citations: [{ id: 'c', ...c }],
  });
}

/**
 * Signs body with this browser's key (the one it countersigned the record with) and posts it.
 * @param {ReadoutContext} ctx
 * @param {Body} body
 * @returns {Promise<{id: string, url: string}>}
 */
async function signAndPost(ctx, body) {
  const { key, problem } = await participantKey(/** @type {any} */ (ctx.claims));
  if (!key) throw new Error(`this browser cannot sign: ${problem}`);
  const text = JSON.stringify(body);
  const sig = await signStatement(key.pair.privateKey, PREFIX + text);
  const resp = await ctx.api('/readouts', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ format: FORMAT, body: text, key: key.publicKey, sig }),
  });
  if (!resp.ok) throw new Error((await resp.text()).trim() || `the server answered ${resp.status}`);
  return resp.json();
}

const MARKER = /\[\^([A-Za-z0-9_-]{1,32})\]/g;

/**
 * The sentences of a paragraph, each with the markers it carries: the statements a reader
 * checks (the same cut as the Go side's readout.Statements).
 * @param {string} p
 * @returns {string[]}
 */
export function sentences(p) {
  /** @type {string[]} */
  const out = [];
  let start = 0;
  for (let i = 0; i < p.length; i++) {
    if (!'.!?'.includes(p[i])) continue;
    let j = i + 1;
    for (;;) {
      const m = /^\[\^[A-Za-z0-9_-]{1,32}\]/.exec(p.slice(j));
      if (!m) break;
      j += m[0].length;
    }
    if (j === p.length || p[j] === ' ') {
      out.push(p.slice(start, j).trim());
      start = j;
      i = j;
    }
  }
  const rest = p.slice(start).trim();
  if (rest) out.push(rest);
  // A marker alone after a stop belongs to the sentence before it.
  /** @type {string[]} */
  const merged = [];
  for (const s of out) {
    if (merged.length && s.replace(MARKER, '').trim() === '') merged[merged.length - 1] += ' ' + s;
    else merged.push(s);
  }
  return merged;
}

/**
 * Renders a readout's Markdown as DOM (text only: headings, paragraphs, list items and
 * citation markers; nothing the author wrote becomes markup). Each statement is a span; one
 * that cites nothing is marked.
 * @param {string} text
 * @param {(id: string) => Node} marker builds a marker's element
 * @returns {DocumentFragment}
 */
export function renderText(text, marker) {
  const frag = document.createDocumentFragment();
  /** @type {HTMLUListElement | null} */
  let list = null;
  for (let line of text.replace(/\r\n/g, '\n').split('\n')) {
    line = line.trim();
    if (!line || line.startsWith('```') || line === '---') {
      list = null;
      continue;
    }
    /** @type {HTMLElement} */
    let block;
    let claims = true;
    if (line.startsWith('#')) {
      block = h(line.startsWith('##') ? 'h4' : 'h3');
      line = line.replace(/^#+\s*/, '');
      claims = false;
      list = null;
    } else if (/^[-*] /.test(line)) {
      if (!list) {
        list = h('ul');
        frag.append(list);
      }
      block = h('li');
      list.append(block);
      line = line.slice(2);
    } else {
      block = h('p');
      list = null;
    }
    for (const s of claims ? sentences(line) : [line]) {
      const span = h('span', { class: 'ro-stmt' });
      const cites = [...s.matchAll(MARKER)];
      if (claims && cites.length === 0) {
        span.classList.add('ro-uncited');
        span.title = 'Cites nothing: the record does not back this';
      }
      let last = 0;
      for (const m of cites) {
        span.append(s.slice(last, m.index));
        span.append(marker(m[1]));
        last = (m.index || 0) + m[0].length;
      }
      span.append(s.slice(last));
      block.append(span, ' ');
    }
    if (block.tagName !== 'LI') frag.append(block);
  }
  return frag;
}

/** @param {number} s */
export function clock(s) {
  const t = Math.max(0, Math.floor(s));
  const hh = Math.floor(t / 3600), mm = Math.floor(t / 60) % 60, ss = t % 60;
  return `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
}

/**
 * Fetches a response body as a file download (exports need the token in a header, which a
 * plain link cannot carry).
 * @param {Response} resp
 * @param {string} name
 */
async function download(resp, name) {
  if (!resp.ok) throw new Error(`the server answered ${resp.status}`);
  const url = URL.createObjectURL(await resp.blob());
  const a = h('a', { attrs: { href: url, download: name } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * The readouts panel: a list, the editor (for holders of the readout grant), a readout, or
 * the compare view.
 */
export class Readouts {
  /**
   * @param {HTMLElement} root
   * @param {ReadoutContext} ctx
   */
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    /** @type {Citation[]} */
    this.citations = [];
    this.next = 1;
    this.root.classList.add('readouts');
    /** @type {HTMLTextAreaElement | null} */
    this.textArea = null;
  }

  /** Whether this viewer may write a readout. */
  get canWrite() {
    const c = this.ctx.claims;
    return !!(c && c.sub && c.grants.includes('readout') && this.ctx.log.end);
  }

  /** @param {string} msg */
  problem(msg) {
    return h('p', { class: 'ro-problem', text: msg, attrs: { role: 'alert' } });
  }

  /** Shows the list of readouts, with the editor's button. */
  async showList() {
    const r = this.root;
    r.replaceChildren(h('h2', { class: 'ro-heading', text: 'Readouts' }));
    if (this.canWrite) {
      const write = h('button', { class: 'btn btn-primary', text: 'Write a readout', attrs: { type: 'button', 'data-action': 'write' } });
      write.addEventListener('click', () => this.showEditor());
      r.append(write);
    }
    /** @type {ReadoutSummary[]} */
    let items = [];
    try {
      const resp = await this.ctx.api('/readouts');
      if (!resp.ok) throw new Error(`the server answered ${resp.status}`);
      // Corrections are shown beside the transcript lines they correct, not as readouts.
      items = (/** @type {ReadoutSummary[]} */ (await resp.json())).filter((it) => it.kind !== 'correction');
    } catch (err) {
      r.append(this.problem(`The readouts cannot be read: ${err instanceof Error ? err.message : err}`));
      return;
    }
    if (!items.length) {
      r.append(h('p', { class: 'ro-empty', text: 'Nobody has published a readout of this meeting yet. A readout is an account whose every claim cites this record, signed by its author.' }));
      return;
    }
    const list = h('ul', { class: 'ro-list' });
    /** @type {Set<string>} */
    const picked = new Set();
    const compare = h('button', { class: 'btn', text: 'Compare two', attrs: { type: 'button', disabled: '', 'data-action': 'compare' } });
    compare.addEventListener('click', () => {
      const [a, b] = [...picked];
      this.ctx.navigate(`/records/${encodeURIComponent(this.ctx.log.record)}?compare=${a},${b}`);
    });
    for (const it of items) {
      const box = h('input', { attrs: { type: 'checkbox', 'aria-label': `Compare “${it.title || it.id}”` } });
      box.addEventListener('change', () => {
        if (box.checked) picked.add(it.id);
        else picked.delete(it.id);
        compare.toggleAttribute('disabled', picked.size !== 2);
      });
      const open = h('a', { class: 'ro-title', text: it.title || '(untitled)', attrs: { href: `/records/${encodeURIComponent(this.ctx.log.record)}/readouts/${it.id}` } });
      open.addEventListener('click', (e) => {
        e.preventDefault();
        this.ctx.navigate(open.getAttribute('href') || '');
      });
      list.append(h('li', { class: 'ro-item', attrs: { 'data-readout': it.id } }, [
        box, h('div', {}, [open, h('div', { class: 'ro-meta', text: `${it.author} · ${new Date(it.published).toLocaleString()} · ${it.citations} citation${it.citations === 1 ? '' : 's'}` })]),
      ]));
    }
    r.append(list, compare);
  }

  /** Shows the editor. */
  showEditor() {
    const r = this.root;
    const title = h('input', { class: 'ro-input', attrs: { type: 'text', maxlength: '300', placeholder: 'Title', 'aria-label': 'Title' } });
    const text = h('textarea', {
      class: 'ro-text', attrs: {
        rows: '10', 'aria-label': 'Readout text (Markdown)',
        placeholder: 'What was said, in your words. To cite, press Cite beside a line in the Transcript tab (select words in it to quote only those), or mark a span of the timeline below: a marker like [^1] goes where the cursor is.',
      },
    });
    this.textArea = text;
    const cites = h('ol', { class: 'ro-cites', attrs: { 'aria-label': 'Citations' } });
    const status = h('p', { class: 'ro-status', attrs: { role: 'status' } });
    const publishBtn = h('button', { class: 'btn btn-primary', text: 'Sign and publish', attrs: { type: 'button', 'data-action': 'publish' } });
    const cancel = h('button', { class: 'btn', text: 'Cancel', attrs: { type: 'button' } });
    cancel.addEventListener('click', () => {
      this.textArea = null;
      if (this.ctx.editing) this.ctx.editing(false);
      this.showList();
    });
    publishBtn.addEventListener('click', async () => {
      const used = new Set([...text.value.matchAll(MARKER)].map((m) => m[1]));
      const citations = this.citations.filter((c) => used.has(c.id));
      publishBtn.setAttribute('disabled', '');
      status.textContent = 'Signing with your key and checking against the record…';
      try {
        const made = await publish(this.ctx, { title: title.value, text: text.value, citations });
        this.citations = [];
        this.textArea = null;
        if (this.ctx.editing) this.ctx.editing(false);
        this.ctx.navigate(made.url);
      } catch (err) {
        status.textContent = '';
        status.append(this.problem(`Not published: ${err instanceof Error ? err.message : err}`));
        publishBtn.removeAttribute('disabled');
      }
    });
    this.renderCites = () => {
      cites.replaceChildren(...this.citations.map((c) => {
        const play = h('button', { class: 'ro-cite-play', text: `[${c.id}] ${clock(c.from)}`, attrs: { type: 'button', 'aria-label': `Play citation ${c.id}` } });
        play.addEventListener('click', () => this.ctx.seek(c.from, true));
        return h('li', {}, [play, h('span', { text: ` ${c.channel}${c.quote ? ` — “${c.quote}”` : ''}${c.interpretation ? ` / ${c.interpretation.channel}: “${c.interpretation.quote || ''}”` : ''}` })]);
      }));
    };
    this.renderCites();
    r.replaceChildren(h('h2', { class: 'ro-heading', text: 'Write a readout' }), title, text,
      h('h3', { class: 'ro-sub', text: 'Citations' }), cites, h('div', { class: 'ro-actions' }, [publishBtn, cancel]), status,
      h('p', { class: 'ro-note', text: 'Publishing signs the text and its citations with the key your browser countersigned the record with. Anyone holding the record can check every citation with parley readout verify.' }));
    if (this.ctx.editing) this.ctx.editing(true);
    title.focus();
  }

  /** @type {() => void} */
  renderCites = () => {};

  /**
   * Adds a citation at the editor's cursor (opening the editor if it is closed).
   * @param {Omit<Citation, 'id'>} c
   * @returns {string | null} the citation's id, or null when this viewer cannot write
   */
  cite(c) {
    if (!this.canWrite) return null;
    if (!this.textArea) this.showEditor();
    const ta = /** @type {HTMLTextAreaElement} */ (this.textArea);
    const id = String(this.next++);
    this.citations.push({ id, ...c });
    const at = ta.selectionEnd ?? ta.value.length;
    const mark = `[^${id}]`;
    ta.value = ta.value.slice(0, at) + mark + ta.value.slice(at);
    ta.selectionStart = ta.selectionEnd = at + mark.length;
    this.renderCites();
    return id;
  }

  /**
   * Fetches one readout and its check.
   * @param {string} id
   * @returns {Promise<ReadoutView>}
   */
  async fetchReadout(id) {
    const resp = await this.ctx.api(`/readouts/${encodeURIComponent(id)}`);
    if (!resp.ok) throw new Error((await resp.text()).trim() || `the server answered ${resp.status}`);
    return resp.json();
  }

  /**
   * One readout as a column: its title, author, check, text with playable markers, footnotes.
   * @param {ReadoutView} v
   * @returns {HTMLElement}
   */
  column(v) {
    const byId = new Map(v.body.citations.map((c) => [c.id, c]));
    const text = renderText(v.body.text, (id) => {
      const c = byId.get(id);
      const b = h('button', { class: 'ro-marker', text: id, attrs: { type: 'button', 'data-cite': id, 'aria-label': c ? `Citation ${id}: play ${clock(c.from)}` : `Citation ${id}` } });
      if (c) b.addEventListener('click', () => this.ctx.seek(c.from, true));
      return h('sup', {}, [b]);
    });
    const check = v.problem
      ? h('p', { class: 'ro-check bad', text: `Does not check against the record: ${v.problem}` })
      : h('p', { class: 'ro-check ok', text: `Every citation resolves in the record and every quote is its text. ${v.uncited.length ? `${v.uncited.length} statement${v.uncited.length === 1 ? '' : 's'} cite${v.uncited.length === 1 ? 's' : ''} nothing (marked).` : ''}` });
    const notes = h('ol', { class: 'ro-notes' }, v.body.citations.map((c) => {
      const play = h('button', { class: 'ro-cite-play', text: clock(c.from), attrs: { type: 'button' } });
      play.addEventListener('click', () => this.ctx.seek(c.from, true));
      return h('li', { attrs: { id: `fn-${v.id}-${c.id}`, value: c.id.replace(/\D/g, '') || '0' } }, [play, ' ', v.footnotes[c.id] || '']);
    }));
    return h('article', { class: 'ro-doc', attrs: { 'data-readout': v.id } }, [
      h('h2', { class: 'ro-heading', text: v.body.title || '(untitled)' }),
      h('p', { class: 'ro-meta', text: `By ${v.body.author}, ${new Date(v.body.published).toLocaleString()}` }),
      check, h('div', { class: 'ro-body' }, [text]), h('h3', { class: 'ro-sub', text: 'Citations' }), notes,
    ]);
  }

  /**
   * Shows one readout, with its exports.
   * @param {string} id
   */
  async showReadout(id) {
    const r = this.root;
    r.replaceChildren(h('p', { class: 'ro-status', text: 'Loading the readout…' }));
    let v;
    try {
      v = await this.fetchReadout(id);
    } catch (err) {
      r.replaceChildren(this.problem(`The readout cannot be shown: ${err instanceof Error ? err.message : err}`));
      return;
    }
    const back = h('button', { class: 'btn', text: 'All readouts', attrs: { type: 'button' } });
    back.addEventListener('click', () => this.ctx.navigate(`/records/${encodeURIComponent(this.ctx.log.record)}`));
    const exports = h('div', { class: 'ro-actions' }, [back, ...[['md', 'Markdown'], ['html', 'HTML'], ['file', 'Signed file']].map(([f, label]) => {
      const b = h('button', { class: 'btn', text: label, attrs: { type: 'button', 'data-export': f } });
      b.addEventListener('click', async () => {
        const ext = f === 'file' ? 'json' : f;
        try {
          await download(await this.ctx.api(`/readouts/${id}?format=${f}`), `readout-${id}.${ext}`);
        } catch (err) {
          b.after(this.problem(`The export failed: ${err instanceof Error ? err.message : err}`));
        }
      });
      return b;
    })]);
    r.replaceChildren(this.column(v), exports);
  }

  /**
   * Shows two readouts side by side over the record's timeline: which moments each cites, and
   * what one cites that the other leaves out.
   * @param {string} a
   * @param {string} b
   * @param {number} duration the record's length in seconds
   */
  async showCompare(a, b, duration) {
    const r = this.root;
    r.replaceChildren(h('p', { class: 'ro-status', text: 'Loading the readouts…' }));
    let va, vb;
    try {
      [va, vb] = await Promise.all([this.fetchReadout(a), this.fetchReadout(b)]);
    } catch (err) {
      r.replaceChildren(this.problem(`The readouts cannot be compared: ${err instanceof Error ? err.message : err}`));
      return;
    }
    /** @param {Citation} c @param {Citation[]} others */
    const shared = (c, others) => others.some((o) => o.from <= c.to + 2 && c.from <= o.to + 2);
    const lane = (/** @type {ReadoutView} */ v, /** @type {ReadoutView} */ other, /** @type {string} */ cls) => {
      const row = h('div', { class: `ro-lane ${cls}`, attrs: { role: 'list', 'aria-label': `Moments ${v.body.author} cites` } });
      for (const c of v.body.citations) {
        const only = !shared(c, other.body.citations);
        const left = duration > 0 ? (100 * c.from) / duration : 0;
        const width = duration > 0 ? Math.max(0.8, (100 * (c.to - c.from)) / duration) : 1;
        const mark = h('button', {
          class: `ro-moment${only ? ' only' : ''}`,
          attrs: { type: 'button', role: 'listitem', style: `left:${left}%;width:${width}%`, 'data-cite': c.id, 'data-only': String(only),
            title: `${v.body.author} [${c.id}] ${clock(c.from)}${only ? ' — only this readout cites it' : ''}` },
        });
        mark.addEventListener('click', () => this.ctx.seek(c.from, true));
        row.append(mark);
      }
      return row;
    };
    const onlyA = va.body.citations.filter((c) => !shared(c, vb.body.citations)).length;
    const onlyB = vb.body.citations.filter((c) => !shared(c, va.body.citations)).length;
    const back = h('button', { class: 'btn', text: 'All readouts', attrs: { type: 'button' } });
    back.addEventListener('click', () => this.ctx.navigate(`/records/${encodeURIComponent(this.ctx.log.record)}`));
    r.replaceChildren(
      h('h2', { class: 'ro-heading', text: 'Two readouts of one record' }),
      h('div', { class: 'ro-compare-timeline' }, [
        h('div', { class: 'ro-lane-label', text: va.body.author }), lane(va, vb, 'a'),
        h('div', { class: 'ro-lane-label', text: vb.body.author }), lane(vb, va, 'b'),
      ]),
      h('p', { class: 'ro-meta', attrs: { 'data-summary': '' }, text: `${va.body.author} cites ${onlyA} moment${onlyA === 1 ? '' : 's'} that ${vb.body.author} leaves out; ${vb.body.author} cites ${onlyB} that ${va.body.author} leaves out. Outlined marks are cited by one side only.` }),
      h('div', { class: 'ro-compare' }, [this.column(va), this.column(vb)]),
      h('div', { class: 'ro-actions' }, [back]),
    );
  }
}
