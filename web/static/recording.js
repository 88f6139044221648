// The record: the Record button, the pill and its popover, countersigning checkpoints with this
// browser's key, and the receipt.

import { Signaling } from './signaling.js';
import { toast, keepOnScreen } from './ui.js';
import { signStatement, isCheckpointStatement, statementHead, keepReceipt, loadReceipt, loadMediaKeys } from './keys.js';
import { $, st, token, displayName, errText, isRecording, canRecord, keyProblem, update } from './store.js';
import { setToggle, renderMoreMenu } from './controls.js';
import { t, clockTime } from './i18n.js';

/**
 * @typedef {import('./store.js').Recording} Recording
 */

/**
 * Toasts a change of the room's recording.
 * @param {Recording | null} before
 * @param {Recording | null} after
 * @param {boolean} [joining] the room was just entered (welcome)
 */
export function announceRecording(before, after, joining = false) {
  const was = !!(before && before.active);
  const is = !!(after && after.active);
  const sameRecord = was && is && before && after && before.record === after.record;
  // The encryption worker keeps the media secrets of the running record (docs/e2ee.md).
  if (st.e2ee) st.e2ee.setRecord(is && after && typeof after.record === 'string' ? after.record : '');
  if (is && after && after.record) update({ lastRecord: after.record });
  if (is && !sameRecord) setRecordPending(false);
  if (!is && was) setRecordPending(false);
  if (is && !sameRecord) {
    const by = after && after.by;
    const name = by && typeof by === 'object' ? displayName(by) : typeof by === 'string' ? by : '';
    const text = joining && !was ? t('rec.beingRecorded') : name ? t('rec.startedBy', { name }) : t('rec.started');
    toast(text, { iconName: 'record', timeout: 6000, group: 'recording', kind: 'recording' });
  } else if (was && !is) {
    toast(t('rec.stopped'), { iconName: 'recordStop', timeout: 6000, group: 'recording' });
  }
  renderRecording();
}

/**
 * @param {boolean} on
 */
export function setRecordPending(on) {
  update({ recordPending: on });
  clearTimeout(st.recordPendingTimer);
  if (on) update({ recordPendingTimer: window.setTimeout(() => setRecordPending(false), 8000) });
  renderRecording();
}

/**
 * Asks the server to start or stop (and seal) the room's record.
 * @param {boolean} on
 * @returns {boolean} whether the request went out
 */
export function sendRecord(on) {
  if (!st.sig || st.phase !== 'joined') return false;
  const sent = st.sig.send({ type: 'record', on });
  if (sent) setRecordPending(true);
  return sent;
}

/** The Record button: starts at once; stopping asks first, since it seals the record. */
export function onRecordButton() {
  if (st.recordPending) return;
  if (!isRecording()) {
    sendRecord(true);
    return;
  }
  const dlg = /** @type {HTMLDialogElement} */ ($('rec-confirm'));
  if (!dlg.open) dlg.showModal();
  $('rec-confirm-cancel').focus();
}

export function closeRecordConfirm() {
  const dlg = document.getElementById('rec-confirm');
  if (dlg instanceof HTMLDialogElement && dlg.open) dlg.close();
}

/** What the pill and its popover say about this browser's countersignatures. */
export function countersignText() {
  const k = st.key;
  if (!k) return t('rec.preparingKey');
  if (!k.key) return t('rec.noCountersign', { problem: keyProblem(k) });
  return t('rec.countersigned', { count: st.countersigned, fingerprint: k.key.fingerprint });
}

/** The record this meeting made last (or is making): its player stays a click away after it stops. */
let lastRecord = '';

/**
 * The record player's address for a record, with this call's token in the fragment: the
 * browser never sends a fragment to the server, and the player moves it to the tab's storage.
 * @param {string} record
 */
export function recordPlayerURL(record) {
  return `/records/${encodeURIComponent(record)}#token=${encodeURIComponent(token)}`;
}

/** "Open the record", for holders of the record grant, in the popover and the More menu. */
function renderRecordLink() {
  const show = canRecord() && !!lastRecord;
  for (const id of ['rec-open', 'more-open-record']) {
    const a = /** @type {HTMLAnchorElement | null} */ (document.getElementById(id));
    if (!a) continue;
    if (show) a.href = recordPlayerURL(lastRecord);
    else a.removeAttribute('href');
  }
  const row = document.getElementById('rec-open-row');
  if (row) row.hidden = !show;
  const item = document.getElementById('more-open-record');
  if (item) item.hidden = !show;
}

/** The recording pill, its popover and the Record button. */
export function renderRecording() {
  const pill = document.getElementById('rec-pill');
  if (!pill) return;
  const on = isRecording() && (st.phase === 'joined' || st.phase === 'joining');
  $('rec-anchor').hidden = !on;
  if (!on) closeRecordPopover();
  pill.title = t('rec.pillTitle', { detail: countersignText() });
  const rec = st.room.recording;
  const since = rec && rec.since ? new Date(rec.since) : null;
  $('rec-since').textContent = since && !isNaN(since.getTime())
    ? t('rec.since', { time: clockTime(since) })
    : '';
  const k = st.key && st.key.key;
  $('rec-count').textContent = String(st.countersigned);
  $('rec-fingerprint').textContent = k ? k.fingerprint : '—';
  for (const row of document.querySelectorAll('#rec-pop [data-key-row]')) /** @type {HTMLElement} */ (row).hidden = !k;
  $('rec-copy-row').hidden = !k;
  $('rec-media-keys').hidden = !st.e2ee;
  $('rec-pop-e2ee').hidden = !st.e2ee;
  $('rec-pop-you').hidden = !k;
  const problem = $('rec-problem');
  problem.hidden = !!k;
  problem.textContent = k ? '' : countersignText();
  $('rec-record-id').textContent = rec && rec.record ? rec.record : '';
  $('rec-record-row').hidden = !(rec && rec.record);
  if (rec && rec.record) lastRecord = rec.record;
  renderRecordLink();

  const btn = /** @type {HTMLButtonElement} */ ($('btn-record'));
  btn.hidden = !canRecord();
  const recording = isRecording();
  setToggle('btn-record', recording, 'recordStop', 'record', t('controls.stopRecording'), t('controls.record'), false);
  btn.classList.toggle('recording', recording);
  btn.disabled = st.recordPending || st.phase !== 'joined';
  renderMoreMenu();
}

export function toggleRecordPopover() {
  const pop = $('rec-pop');
  if (!pop.hidden) {
    closeRecordPopover();
    return;
  }
  renderRecording();
  pop.hidden = false;
  keepOnScreen(pop);
  $('rec-pill').setAttribute('aria-expanded', 'true');
}

export function closeRecordPopover() {
  const pop = document.getElementById('rec-pop');
  if (!pop || pop.hidden) return;
  pop.hidden = true;
  $('rec-pill').setAttribute('aria-expanded', 'false');
  $('rec-copy-status').textContent = '';
  $('rec-key-full').hidden = true;
}

/** Copies the public key; where the clipboard is closed, shows it selected instead. */
export async function copyPublicKey() {
  const k = st.key && st.key.key;
  if (!k) return;
  const status = $('rec-copy-status');
  try {
    await navigator.clipboard.writeText(k.publicKey);
    status.textContent = t('rec.copied');
    toast(t('rec.copiedToast'), { iconName: 'check', timeout: 2500, group: 'copy' });
  } catch {
    const full = /** @type {HTMLInputElement} */ ($('rec-key-full'));
    full.value = k.publicKey;
    full.hidden = false;
    full.focus();
    full.select();
    status.textContent = t('rec.pressCtrlC');
  }
}

/**
 * Countersigns a checkpoint of the record with this browser's key, on the socket it came on.
 * @param {Signaling} sig
 * @param {any} msg
 */
export async function countersign(sig, msg) {
  const k = st.key && st.key.key;
  if (!k) return;
  const { record, seq, statement } = msg;
  if (typeof record !== 'string' || typeof seq !== 'number' || typeof statement !== 'string') return;
  if (!isCheckpointStatement(statement, record, seq)) {
    console.warn('parley: not countersigning a checkpoint statement of an unexpected shape');
    return;
  }
  let signature;
  try {
    signature = await signStatement(k.pair.privateKey, statement);
  } catch (err) {
    console.warn('parley: countersigning failed:', errText(err));
    return;
  }
  // Kept before it is sent: a receipt that lacks a signature the record has is harmless, one
  // that lacks what the server got is the evidence lost.
  const identity = st.self ? st.self.identity : '';
  try {
    update({ receipt: await keepReceipt(record, identity, k.publicKey, { seq, head: statementHead(statement), sig: signature }) });
  } catch (err) {
    console.warn('parley: the receipt could not be kept:', errText(err));
  }
  if (sig.send({ type: 'countersign', record, seq, sig: signature })) {
    update({ countersigned: st.countersigned + 1 });
    renderRecording();
  }
}

/** Saves this browser's receipt of the current (or last) record as a file. */
export async function downloadReceipt() {
  const rec = st.room && st.room.recording && st.room.recording.record;
  const identity = st.receipt ? st.receipt.identity : st.self ? st.self.identity : '';
  const record = rec || (st.receipt && st.receipt.record);
  let receipt = st.receipt && st.receipt.record === record ? st.receipt : null;
  if (!receipt && record) {
    try {
      receipt = await loadReceipt(record, identity);
    } catch (err) {
      console.warn('parley: the receipt could not be read:', errText(err));
    }
  }
  if (!receipt || receipt.checkpoints.length === 0) {
    toast(t('rec.noReceipt'), { iconName: 'alert', timeout: 3000, group: 'receipt' });
    return;
  }
  const blob = new Blob([JSON.stringify(receipt, null, 2) + '\n'], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `receipt-${receipt.record}-${receipt.identity}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Saves the media keys this browser kept for the current (or last) record as a file (parley-media-keys-v1). */
export async function saveMediaKeys() {
  const rec = st.room && st.room.recording && st.room.recording.record;
  const record = rec || st.lastRecord;
  const identity = st.self ? st.self.identity : '';
  let keys = null;
  if (record && identity) {
    try {
      keys = await loadMediaKeys(record, identity);
    } catch (err) {
      console.warn('parley: the media keys could not be read:', errText(err));
    }
  }
  if (!keys || keys.keys.length === 0) {
    toast(t('rec.noMediaKeys'), { iconName: 'alert', timeout: 3000, group: 'media-keys' });
    return;
  }
  const blob = new Blob([JSON.stringify(keys, null, 2) + '\n'], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `media-keys-${keys.record}-${keys.identity}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  toast(t('rec.mediaKeysSaved'), { iconName: 'key', timeout: 5000, group: 'media-keys' });
}
