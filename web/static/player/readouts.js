// Readouts of the record: the list, writing one (Markdown, citations taken from the
// transcript, the chat or a span of the timeline, signed with this browser's key) and
// comparing two side by side on the record's timeline. The player mounts this module into
// its Readouts panel; today it lists what the server keeps.

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
 * @property {() => number} now where playback is
 * @property {string} [readout] the readout id of the address, when the page is /records/ID/readouts/RID
 */

/**
 * @typedef {Object} ReadoutSummary
 * @property {string} id
 * @property {string} author
 * @property {string} title
 * @property {string} published
 * @property {number} citations
 */

/**
 * Fills the Readouts panel.
 * @param {HTMLElement} root
 * @param {ReadoutsContext} ctx
 */
export async function mountReadouts(root, ctx) {
  root.replaceChildren();
  const h = document.createElement('h3');
  h.className = 'pl-h3';
  h.textContent = 'Readouts';
  const intro = document.createElement('p');
  intro.className = 'pl-note';
  intro.textContent = 'Each side’s signed account of the meeting, every claim pointing at its moment in this record.';
  const list = document.createElement('ul');
  list.className = 'pl-readouts';
  root.append(h, intro, list);
  /** @type {ReadoutSummary[]} */
  let items = [];
  try {
    const resp = await ctx.fetch(`/records/${encodeURIComponent(ctx.record)}/readouts`);
    items = await resp.json();
  } catch {
    items = [];
  }
  if (!Array.isArray(items) || !items.length) {
    const none = document.createElement('li');
    none.className = 'pl-note';
    none.textContent = 'No readout of this record has been published.';
    list.append(none);
    return;
  }
  for (const r of items) {
    const li = document.createElement('li');
    li.className = 'pl-readout-row';
    const title = document.createElement('strong');
    title.textContent = r.title || '(untitled)';
    const by = document.createElement('span');
    by.className = 'pl-note';
    by.textContent = ` by ${r.author}, ${r.published}, ${r.citations} citation${r.citations === 1 ? '' : 's'}`;
    li.append(title, by);
    li.dataset.readout = r.id;
    list.append(li);
  }
}
