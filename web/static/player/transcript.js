// The transcript beside the video: what was said (the recogniser's text of each stretch of
// speech, on the floor and in each interpretation channel) and written (chat), in time
// order, following playback. Each line seeks to its moment.

import { clock } from './model.js';
import { colour } from './timeline.js';

/**
 * @typedef {import('./model.js').Model} Model
 * @typedef {import('./model.js').Utterance} Utterance
 */

export class TranscriptView {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLSelectElement} filter
   * @param {HTMLInputElement} follow
   * @param {HTMLElement} note
   * @param {Model} model
   * @param {(t: number) => void} seek
   */
  constructor(list, filter, follow, note, model, seek) {
    this.list = list;
    this.follow = follow;
    this.model = model;
    /** @type {Array<{u: Utterance, li: HTMLLIElement}>} */
    this.rows = [];
    /** @type {HTMLLIElement | null} */
    this.current = null;
    const names = new Map(model.people.map((p) => [p.identity, p]));
    const chans = [...new Set(model.utterances.filter((u) => !u.chat).map((u) => u.channel))];
    for (const c of chans) {
      const o = document.createElement('option');
      o.value = c;
      o.textContent = c === 'floor' ? 'The floor' : `${c.toUpperCase()} interpretation`;
      filter.append(o);
    }
    if (model.utterances.some((u) => u.chat)) {
      const o = document.createElement('option');
      o.value = 'chat';
      o.textContent = 'Chat';
      filter.append(o);
    }
    for (const u of model.utterances) {
      const li = document.createElement('li');
      li.className = 'pl-tr-row' + (u.chat ? ' pl-tr-chat' : '');
      li.dataset.channel = u.chat ? 'chat' : u.channel;
      li.dataset.seq = String(u.seq);
      const who = names.get(u.identity);
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'pl-tr-line';
      b.dataset.t = String(u.from);
      const time = document.createElement('span');
      time.className = 'pl-tr-time';
      time.textContent = clock(u.from);
      const head = document.createElement('span');
      head.className = 'pl-tr-who';
      const dot = document.createElement('span');
      dot.className = 'tl-dot';
      dot.style.background = colour(who ? who.index : 0);
      head.append(dot, who ? who.name : u.identity);
      const tag = document.createElement('span');
      tag.className = 'pl-tr-tag';
      tag.textContent = u.chat ? 'chat' : u.channel === 'floor' ? (u.language || 'floor').toUpperCase() : `${u.channel.toUpperCase()} interpretation`;
      head.append(tag);
      const text = document.createElement('span');
      text.className = 'pl-tr-text';
      text.textContent = u.text || (u.chat ? '' : '(nothing recognised)');
      b.append(time, head, text);
      b.setAttribute('aria-label', `${clock(u.from)}, ${who ? who.name : u.identity}${u.chat ? ' in chat' : ''}: ${u.text}`);
      li.append(b);
      list.append(li);
      this.rows.push({ u, li });
    }
    list.addEventListener('click', (ev) => {
      const b = /** @type {HTMLElement} */ (ev.target).closest('[data-t]');
      if (b instanceof HTMLElement) seek(Number(b.dataset.t));
    });
    filter.addEventListener('change', () => {
      for (const { li } of this.rows) li.hidden = !!filter.value && li.dataset.channel !== filter.value;
    });
    const speech = model.utterances.filter((u) => !u.chat).length;
    note.textContent = speech
      ? 'Machine transcription: check quotes against the media. The log’s lines chain, and the verification checks their signatures.'
      : model.utterances.length
        ? 'This record has no transcript (the server transcribed nothing); its chat is shown.'
        : 'This record has no transcript and no chat.';
  }

  /**
   * Highlights what is being said at t, and keeps it in view while following playback.
   * @param {number} t
   */
  setTime(t) {
    /** @type {HTMLLIElement | null} */
    let cur = null;
    for (const { u, li } of this.rows) {
      if (li.hidden) continue;
      if (u.chat ? t >= u.from && t < u.from + 3 : t >= u.from && t < Math.max(u.to, u.from + 1)) cur = li;
      if (u.from > t) break;
    }
    if (cur === this.current) return;
    if (this.current) {
      this.current.classList.remove('pl-tr-now');
      this.current.removeAttribute('aria-current');
    }
    this.current = cur;
    if (!cur) return;
    cur.classList.add('pl-tr-now');
    cur.setAttribute('aria-current', 'true');
    if (this.follow.checked && !this.list.closest('[hidden]')) {
      const box = this.list.getBoundingClientRect();
      const r = cur.getBoundingClientRect();
      if (r.top < box.top || r.bottom > box.bottom) this.list.scrollTop += r.top - box.top - box.height / 3;
    }
  }
}
