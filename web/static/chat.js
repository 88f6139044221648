// Chat (sealed end to end in an encrypted room) and the side panel that shows it or the people.

import { toast } from './ui.js';
import { CHAT_PREFIX } from './sframe.js';
import { $, st, stage, chatLog, displayName, update } from './store.js';
import { updateControls } from './controls.js';
import { renderPeople } from './people.js';
import { t } from './i18n.js';


/** Chat lines in the order they came, while sealed ones are opened. */
export let chatOrder = Promise.resolve();

/** @param {any} msg */
export function onChat(msg) {
  chatOrder = chatOrder.then(() => openChat(msg)).then(showChat, () => {});
}

/**
 * In an end-to-end encrypted room, opens a sealed line with the meeting key (bound to the
 * sender's identity: a line the server gave to someone else does not open).
 * @param {any} msg
 * @returns {Promise<any>}
 */
export async function openChat(msg) {
  const text = String(msg.text || '');
  if (!text.startsWith(CHAT_PREFIX)) return msg;
  const open = st.e2ee && msg.from ? await st.e2ee.openChat(text, String(msg.from.identity || '')) : null;
  return { ...msg, text: open !== null ? open : t('chat.noKey') };
}

/** @param {any} msg */
export function showChat(msg) {
  if (!st.self) return;
  chatLog.add(msg, st.self.id);
  const mine = msg.from && msg.from.id === st.self.id;
  if (!mine && st.panel !== 'chat') {
    update({ unread: st.unread + 1 });
    updateControls();
    const text = String(msg.text || '');
    toast(`${displayName(msg.from)}: ${text.length > 90 ? text.slice(0, 90) + '…' : text}`, { iconName: 'chat', timeout: 5000, group: 'chat' });
  }
}

/** @param {'chat' | 'people'} which */
export function togglePanel(which) {
  if (st.panel === which) closePanel();
  else openPanel(which);
}

/** @param {'chat' | 'people'} which */
export function openPanel(which) {
  update({ panel: which });
  $('panel').hidden = false;
  $('chat-panel').hidden = which !== 'chat';
  $('people-panel').hidden = which !== 'people';
  renderPanelTitle();
  document.body.classList.add('panel-open');
  if (which === 'chat') {
    update({ unread: 0 });
    const log = $('chat-log');
    log.scrollTop = log.scrollHeight;
    $('chat-input').focus();
  } else {
    renderPeople();
  }
  updateControls();
  stage.scheduleLayout();
}

/** The side panel's title, for what it shows. */
export function renderPanelTitle() {
  if (st.panel) $('panel-title').textContent = t(st.panel === 'chat' ? 'panel.chat' : 'panel.people');
}

export function closePanel() {
  const was = st.panel;
  update({ panel: null });
  $('panel').hidden = true;
  document.body.classList.remove('panel-open');
  updateControls();
  if (stage) stage.scheduleLayout();
  if (was) $(was === 'chat' ? 'btn-chat' : 'btn-people').focus();
}

/** A line is being sealed: Enter again must not send it twice. */
export let sealingChat = false;

export async function sendChat() {
  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  const text = input.value.trim();
  if (!text || !st.sig || sealingChat) return;
  if (Array.from(text).length > st.maxChat) {
    toast(t('chat.tooLong', { count: st.maxChat }), { kind: 'error' });
    return;
  }
  let wire = text;
  if (st.e2ee) {
    // End to end: the server, and the record, see only ciphertext.
    sealingChat = true;
    const sealed = st.self ? await st.e2ee.sealChat(text, st.self.identity).finally(() => { sealingChat = false; }) : null;
    if (sealed === null) {
      toast(t('chat.notReady'), { kind: 'error' });
      return;
    }
    if (sealed.length > st.maxChat) {
      toast(t('chat.tooLongSealed'), { kind: 'error' });
      return;
    }
    wire = sealed;
  }
  if (!st.sig || !st.sig.send({ type: 'chat', text: wire })) return;
  input.value = '';
  autosize(input);
  updateChatCount();
}

/** @param {HTMLTextAreaElement} ta */
export function autosize(ta) {
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 140)}px`;
}

export function updateChatCount() {
  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  const left = st.maxChat - input.value.length;
  $('chat-count').textContent = left <= 200 ? String(left) : '';
}
