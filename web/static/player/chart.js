// Speaking time per participant and per language, as bars (plain HTML and CSS): people would
// rather look than read, and the numbers stay in the text for those who read.

import { speakingTime, span } from './model.js';
import { colour } from './timeline.js';

/**
 * @typedef {import('./model.js').Model} Model
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

/**
 * @param {string} title
 * @param {Array<{key: string, label: string, seconds: number, colour: string}>} rows
 */
function chart(title, rows) {
  const sec = el('section', 'pl-chart');
  const h = el('h3', 'pl-h3', title);
  h.id = `pl-chart-${title.replace(/\W+/g, '-').toLowerCase()}`;
  sec.setAttribute('aria-labelledby', h.id);
  sec.append(h);
  const sum = rows.reduce((n, r) => n + r.seconds, 0);
  const most = Math.max(...rows.map((r) => r.seconds), 1);
  const list = el('ul', 'pl-bars');
  for (const r of rows) {
    const li = el('li', 'pl-bar-row');
    li.dataset.key = r.key;
    const share = sum ? Math.round((r.seconds / sum) * 100) : 0;
    const label = el('span', 'pl-bar-label', r.label);
    label.title = r.label;
    const bar = el('span', 'pl-bar');
    const fill = el('span', 'pl-bar-fill');
    fill.style.width = `${(r.seconds / most) * 100}%`;
    fill.style.background = r.colour;
    bar.append(fill);
    bar.setAttribute('aria-hidden', 'true');
    const val = el('span', 'pl-bar-value', `${span(r.seconds)} · ${share} %`);
    li.append(label, bar, val);
    list.append(li);
  }
  sec.append(list);
  return sec;
}

/**
 * Draws the speaking-time charts of the record into root.
 * @param {HTMLElement} root
 * @param {Model} m
 */
export function renderChart(root, m) {
  root.replaceChildren();
  const { perPerson, perLanguage } = speakingTime(m);
  const source = el('p', 'pl-note');
  if (m.speakingSource === 'none') {
    source.textContent = 'This record holds no transcript and no active-speaker changes, so it does not say who spoke when.';
    root.append(source);
    return;
  }
  source.textContent = m.speakingSource === 'transcript'
    ? 'Measured from the transcript’s speech segments: each is a stretch of one person’s voice, with its channel and language.'
    : 'From the server’s active-speaker changes: the floor counts as someone’s from the moment they became the loudest voice until someone else did (or they muted or left), pauses included. Interpreters are not counted: the record has no transcript of their channels.';
  root.append(
    chart('Per participant', perPerson.map((p) => ({ key: p.identity, label: p.name, seconds: p.seconds, colour: colour(p.index) }))),
  );
  if (m.speakingSource === 'transcript') {
    root.append(chart('Per language', perLanguage.map((l, i) => ({ key: l.key, label: l.label, seconds: l.seconds, colour: ['#8fb0ff', '#f5b94c', '#3dd68c', '#e879c6', '#4cc9f5'][i % 5] }))));
  }
  root.append(source);
}
