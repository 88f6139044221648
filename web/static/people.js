// The people panel: participants with their roles, keys and moderator buttons, and the WHEP
// viewers a moderator can end.

import { icon } from './icons.js';
import { toast, avatar, h } from './ui.js';
import { $, media, st, canModerate, others, displayName, published, update } from './store.js';
import { langName } from './interpretation.js';
import { t, clockTime } from './i18n.js';

/**
 * @typedef {import('./store.js').Participant} Participant
 * @typedef {import('./store.js').Viewer} Viewer
 */

export function renderPeople() {
  if (!st.self) return;
  const list = [st.self, ...others()];
  $('people-count').textContent = t('people.inMeeting', { count: list.length });
  $('people-badge').textContent = String(list.length);
  const ul = $('people-list');
  const focused = /** @type {HTMLElement | null} */ (document.activeElement);
  const focusKey = focused && ul.contains(focused) ? focused.dataset.focusKey : undefined;
  const mod = canModerate();
  replaceRows(ul, list.map((p) => personRow(p, p === st.self, mod)));
  const viewers = mod ? st.viewers : [];
  $('viewers-count').textContent = t('people.outside', { count: viewers.length });
  $('viewers-section').hidden = viewers.length === 0;
  replaceRows($('viewers-list'), viewers.map(viewerRow));
  if (focusKey) {
    const again = /** @type {HTMLElement | null} */ (ul.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`));
    if (again) again.focus();
  }
}

/**
 * Puts rows in a list unless it shows the same already. The panel is redrawn whenever anyone's
 * state changes; a row replaced between a mouse press and its release loses the click (a
 * moderator's mute or remove did nothing, now and then).
 * @param {HTMLElement} list
 * @param {HTMLElement[]} rows
 */
export function replaceRows(list, rows) {
  const same = list.children.length === rows.length && rows.every((r, i) => r.outerHTML === list.children[i].outerHTML);
  if (!same) list.replaceChildren(...rows);
}

/**
 * A key fingerprint as people read it aloud: the first 16 characters of the key, as
 * `parley verify` prints it, in groups of four.
 * @param {string | undefined} key base64url public key
 * @returns {string}
 */
export function fingerprintText(key) {
  if (!key) return '';
  return (key.slice(0, 16).match(/.{1,4}/g) || []).join(' ');
}

/**
 * @param {Participant} p
 * @param {boolean} isSelf
 * @returns {string | undefined}
 */
export function keyOf(p, isSelf) {
  if (isSelf) return st.key && st.key.key ? st.key.key.publicKey : undefined;
  return p.key;
}

/**
 * A WHEP player, for moderators: who opened it, whom it shows, and a button to end it.
 * @param {Viewer} v
 * @returns {HTMLElement}
 */
export function viewerRow(v) {
  const watched = others().find((p) => p.identity === v.watched);
  const label = t('people.watches', { watcher: v.watcher || t('people.aToken'), watched: watched ? displayName(watched) : v.watched });
  const end = h('button', {
    class: 'icon-btn person-btn danger',
    attrs: { type: 'button', 'aria-label': t('people.endViewer', { label }), title: t('people.endViewerTitle'), 'data-focus-key': `viewer:${v.id}` },
  }, [icon('removeUser')]);
  end.addEventListener('click', () => {
    if (st.sig) st.sig.send({ type: 'moderate', action: 'remove-viewer', target: v.id, ban: true });
  });
  return h('li', { class: 'person', attrs: { 'data-viewer': v.id } }, [
    avatar(v.watcher || '?', v.id),
    h('div', { class: 'person-text' }, [
      h('span', { class: 'person-name', text: v.watcher || t('people.viewer') }),
      h('span', { class: 'person-sub', text: t('people.watching', { name: watched ? displayName(watched) : v.watched, time: clockTime(new Date(v.since)) }) }),
    ]),
    h('div', { class: 'person-actions' }, [end]),
  ]);
}

/**
 * @param {Participant} p
 * @param {boolean} isSelf
 * @param {boolean} mod
 * @returns {HTMLElement}
 */
export function personRow(p, isSelf, mod) {
  const name = displayName(p);
  const mic = published(p, 'mic');
  const micOff = isSelf ? !st.micOn || !media.mic : !mic || mic.muted;
  const presenting = isSelf ? st.sharing : !!published(p, 'screen');
  /** @type {string[]} */
  const notes = [];
  if ((p.grants || []).includes('moderate')) notes.push(t('people.moderator'));
  if (presenting) notes.push(t('people.presenting'));
  if (!isSelf && st.undecryptable.has(p.id)) notes.push(t('people.cantDecrypt'));
  else if (!isSelf && st.e2ee && st.phase === 'joined') notes.push(t(st.e2ee.status.keyed.includes(p.id) ? 'people.keysSigned' : 'people.noKeys'));
  if (p.interpreter) {
    const ch = isSelf ? st.interpreting : p.interpreter.channel;
    notes.push(ch ? t('people.interpretingInto', { language: langName(ch, false) }) : t('people.interpreter'));
  } else if (!(p.grants || []).includes('publish')) {
    notes.push(t('people.listener'));
  }
  const li = h('li', { class: 'person', attrs: { 'data-id': p.id } }, [
    avatar(name, p.identity || p.id),
    h('div', { class: 'person-text' }, [
      h('span', { class: 'person-name', text: isSelf ? t('tile.you', { name }) : name }),
      h('span', { class: 'person-sub', text: notes.join(' · ') || p.identity }),
      ...(keyOf(p, isSelf) ? [h('span', {
        class: 'person-key',
        text: t('people.key', { fingerprint: fingerprintText(keyOf(p, isSelf)) }),
        attrs: { title: t('people.keyTitle') },
      })] : []),
    ]),
  ]);
  const state = h('span', {
    class: 'person-mic' + (micOff ? ' off' : ''),
    attrs: { role: 'img', 'aria-label': t(micOff ? 'people.micOff' : 'people.micOn'), title: t(micOff ? 'people.micOff' : 'people.micOn') },
  }, [icon(micOff ? 'micOff' : 'mic')]);
  if (!mod || isSelf) li.append(state);
  if (mod && !isSelf) {
    // The microphone state doubles as the moderator's mute button.
    const muteBtn = h('button', {
      class: 'icon-btn person-btn person-mic' + (micOff ? ' off' : ''),
      attrs: { type: 'button', 'aria-label': t(micOff ? 'people.isMuted' : 'people.mute', { name }), title: t(micOff ? 'people.isMuted' : 'people.mute', { name }), 'data-focus-key': `mute:${p.id}` },
    }, [icon(micOff ? 'micOff' : 'mic')]);
    muteBtn.disabled = micOff;
    muteBtn.addEventListener('click', () => {
      if (!st.sig) return;
      st.sig.send({ type: 'moderate', action: 'mute', target: p.id, source: 'mic' });
      toast(t('people.youMuted', { name }), { timeout: 2500 });
    });
    const confirming = st.confirmRemove === p.id;
    const removeBtn = confirming
      ? h('button', {
        class: 'btn btn-small btn-danger confirming',
        text: t('people.remove'),
        attrs: { type: 'button', 'aria-label': t('people.confirmRemove', { name }), 'data-focus-key': `remove:${p.id}` },
      })
      : h('button', {
        class: 'icon-btn person-btn danger',
        attrs: { type: 'button', 'aria-label': t('people.removeFrom', { name }), title: t('people.removeFrom', { name }), 'data-focus-key': `remove:${p.id}` },
      }, [icon('removeUser')]);
    removeBtn.addEventListener('click', () => {
      if (st.confirmRemove !== p.id) {
        update({ confirmRemove: p.id });
        renderPeople();
        setTimeout(() => {
          if (st.confirmRemove === p.id) {
            update({ confirmRemove: null });
            renderPeople();
          }
        }, 4000);
        return;
      }
      update({ confirmRemove: null });
      if (st.sig) st.sig.send({ type: 'moderate', action: 'remove', target: p.id });
      renderPeople();
    });
    li.append(h('div', { class: 'person-actions' }, [muteBtn, removeBtn]));
  }
  return li;
}
