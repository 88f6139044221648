// The meeting page: lobby, meeting and end screens, wired to the signaling channel
// (signaling.js), the media connections (session.js) and local capture (media.js).
// The page is /r/ROOM?token=JWT[&autojoin=1][&quality=low|medium|high][&sound=original][#e2ee=PASSPHRASE].
//
// It is split along its sections, each a module around the state in store.js:
// lobby.js, encryption.js, call.js (join and leave), layout.js, controls.js, chat.js,
// people.js, interpretation.js, recording.js and testhooks.js. This module wires the page's
// events and starts it.

import { hydrateIcons, LOGO } from './icons.js';
import { keepOnScreen } from './ui.js';
import { autojoin, fragmentPassphrase, DUCK_KEY, joinError, $, media, st, audioEls, stage, chatLog, initStage, setPhase, setView, isRecording, update } from './store.js';
import { initLobby, linkProblem, startLocalMedia, renderLobbyTexts, renderLobbyMedia, renderDevices } from './lobby.js';
import { startE2EE, joinWhenKeysReady, toggleE2EEPopover, closeE2EEPopover, renderLobbyE2EE, renderE2EE } from './encryption.js';
import { leave, end, rejoin, showConnecting, joiningText, renderEndTexts } from './call.js';
import { scheduleLayoutReport, renderMedia } from './layout.js';
import { openSettings, toggleMic, toggleCam, toggleScreen, stopScreen, toggleMoreMenu, closeMoreMenu, tickClock, updateControls, renderLanguageSetting } from './controls.js';
import { togglePanel, openPanel, closePanel, sendChat, autosize, updateChatCount, renderPanelTitle } from './chat.js';
import { applyVolumes, toggleLangMenu, closeLangMenu, renderLanguage } from './interpretation.js';
import { toggleCaptionsMenu, closeCaptionsMenu, setCaptionsOn, captions, renderCaptions, relabelCaptions } from './captions.js';
import { sendRecord, onRecordButton, closeRecordConfirm, toggleRecordPopover, closeRecordPopover, copyPublicKey, downloadReceipt, saveMediaKeys, renderRecording } from './recording.js';
import { renderPeople } from './people.js';
import { startI18n, onLanguageChange, setLanguage, t } from './i18n.js';


function start() {
  startI18n();
  for (const el of document.querySelectorAll('[data-logo]')) el.innerHTML = LOGO; // constant markup
  hydrateIcons(document);
  initStage($('stage'), $('chat-log'));
  stage.onLayout = scheduleLayoutReport;
  document.addEventListener('visibilitychange', scheduleLayoutReport);

  $('btn-mic').addEventListener('click', () => toggleMic());
  $('btn-cam').addEventListener('click', () => toggleCam());
  $('btn-screen').addEventListener('click', () => toggleScreen());
  $('btn-leave').addEventListener('click', () => leave());
  $('btn-chat').addEventListener('click', () => togglePanel('chat'));
  $('btn-people').addEventListener('click', () => togglePanel('people'));
  $('panel-close').addEventListener('click', () => closePanel());
  $('btn-settings').addEventListener('click', () => openSettings());
  $('btn-lang').addEventListener('click', () => toggleLangMenu());
  $('btn-cc').addEventListener('click', () => toggleCaptionsMenu());
  $('cc-toggle').addEventListener('click', () => setCaptionsOn(!captions.on));
  $('more-cc').addEventListener('click', () => {
    closeMoreMenu();
    toggleCaptionsMenu();
  });
  $('btn-more').addEventListener('click', () => toggleMoreMenu());
  $('more-screen').addEventListener('click', () => {
    closeMoreMenu();
    toggleScreen();
  });
  $('more-record').addEventListener('click', () => {
    closeMoreMenu();
    onRecordButton();
  });
  $('more-settings').addEventListener('click', () => {
    closeMoreMenu();
    openSettings();
  });
  $('listeners-chip').addEventListener('click', () => openPanel('people'));
  window.addEventListener('resize', () => {
    for (const id of ['lang-menu', 'cc-menu', 'more-menu', 'rec-pop', 'e2ee-pop']) keepOnScreen($(id));
  });
  $('btn-record').addEventListener('click', () => onRecordButton());
  $('rec-pill').addEventListener('click', () => toggleRecordPopover());
  $('e2ee-pill').addEventListener('click', () => toggleE2EEPopover());
  $('rec-copy').addEventListener('click', () => copyPublicKey());
  $('rec-receipt').addEventListener('click', () => downloadReceipt());
  $('rec-media-keys').addEventListener('click', () => saveMediaKeys());
  $('rec-confirm-cancel').addEventListener('click', () => closeRecordConfirm());
  $('rec-confirm-stop').addEventListener('click', () => {
    closeRecordConfirm();
    if (isRecording()) sendRecord(false);
  });
  $('rec-confirm').addEventListener('close', () => $('btn-record').focus());
  document.addEventListener('pointerdown', (ev) => {
    const t = /** @type {Node} */ (ev.target);
    if (!$('lang-menu').contains(t) && !$('btn-lang').contains(t)) closeLangMenu();
    if (!$('cc-menu').contains(t) && !$('btn-cc').contains(t) && !$('more-cc').contains(t)) closeCaptionsMenu();
    if (!$('more-menu').contains(t) && !$('btn-more').contains(t)) closeMoreMenu();
    if (!$('rec-anchor').contains(t)) closeRecordPopover();
    if (!$('e2ee-anchor').contains(t)) closeE2EEPopover();
  });
  const duck = /** @type {HTMLInputElement} */ ($('duck'));
  duck.value = String(Math.round(st.duck * 100));
  $('duck-value').textContent = `${duck.value}%`;
  duck.addEventListener('input', () => {
    update({ duck: Number(duck.value) / 100 });
    $('duck-value').textContent = `${duck.value}%`;
    try {
      localStorage.setItem(DUCK_KEY, String(st.duck));
    } catch {
      /* private mode */
    }
    applyVolumes();
  });
  renderLanguageSetting();
  for (const id of ['ui-lang', 'lobby-lang']) {
    $(id).addEventListener('change', (ev) => setLanguage(/** @type {HTMLSelectElement} */ (ev.target).value));
  }
  onLanguageChange(relabel);
  $('settings-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('settings')).close());
  $('settings').addEventListener('close', () => {
    $('preview-col').append($('devices'));
    const opener = getComputedStyle($('btn-settings')).display === 'none' ? 'btn-more' : 'btn-settings';
    $(opener).focus();
  });
  $('rejoin-btn').addEventListener('click', () => rejoin());
  $('audio-unlock-btn').addEventListener('click', () => {
    for (const { el } of audioEls.values()) el.play().catch(() => {});
    $('audio-unlock').hidden = true;
  });
  media.onScreenEnded = () => {
    stopScreen();
  };

  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendChat();
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendChat();
    }
  });
  input.addEventListener('input', () => {
    autosize(input);
    updateChatCount();
  });

  document.addEventListener('keydown', (ev) => {
    if (st.phase !== 'joined' && st.phase !== 'lobby') return;
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && !ev.shiftKey && !ev.altKey && (ev.key === 'd' || ev.key === 'D')) {
      ev.preventDefault();
      toggleMic();
    } else if (mod && !ev.shiftKey && !ev.altKey && (ev.key === 'e' || ev.key === 'E')) {
      ev.preventDefault();
      toggleCam();
    } else if (ev.key === 'Escape' && !$('lang-menu').hidden) {
      closeLangMenu();
      $('btn-lang').focus();
    } else if (ev.key === 'Escape' && !$('cc-menu').hidden) {
      closeCaptionsMenu();
      $(getComputedStyle($('btn-cc')).display === 'none' ? 'btn-more' : 'btn-cc').focus();
    } else if (ev.key === 'Escape' && !$('more-menu').hidden) {
      closeMoreMenu();
      $('btn-more').focus();
    } else if (ev.key === 'Escape' && !$('rec-pop').hidden) {
      closeRecordPopover();
      $('rec-pill').focus();
    } else if (ev.key === 'Escape' && !$('e2ee-pop').hidden) {
      closeE2EEPopover();
      $('e2ee-pill').focus();
    } else if (ev.key === 'Escape' && st.panel) {
      closePanel();
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp' || ev.key === 'Home' || ev.key === 'End') {
      moveInMenu(ev);
    }
  });
  // Any gesture lets the level meter's AudioContext run.
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, () => media.resumeAudio(), { capture: true });
  window.addEventListener('pagehide', () => {
    if (st.sig && st.phase === 'joined') st.sig.send({ type: 'leave' });
  });

  tickClock();
  setInterval(tickClock, 10000);

  initLobby();
  const e2eeProblem = fragmentPassphrase !== null ? startE2EE(fragmentPassphrase) : null;
  const problem = linkProblem();
  if (autojoin && problem) {
    end('error', () => joinError(problem)?.title || '', () => joinError(problem)?.text || '', { retry: false });
  } else if (autojoin && e2eeProblem) {
    // The link asks for end-to-end encryption: never join without it.
    end('error', () => t('call.cantJoin'), e2eeProblem, { retry: false });
  } else if (autojoin) {
    showConnecting(joiningText);
    setView('connecting');
    setPhase('joining');
    startLocalMedia().then(() => joinWhenKeysReady());
  } else {
    setPhase('lobby');
    setView('lobby');
    if (!problem) startLocalMedia();
  }
}

/**
 * Writes every text the page's scripts wrote again, in the language just chosen (the static
 * ones are done): the lobby, the toolbar, the stage, the panels, the menus and the end screen.
 * Chat lines and toasts stay as they were said.
 */
function relabel() {
  renderLobbyTexts();
  renderLobbyE2EE();
  renderLobbyMedia();
  renderDevices();
  renderLanguageSetting();
  tickClock();
  chatLog.relabel();
  stage.relabel();
  renderPanelTitle();
  renderE2EE();
  renderMedia();
  renderPeople();
  renderLanguage();
  relabelCaptions();
  renderCaptions();
  renderRecording();
  updateControls();
  renderEndTexts();
}

/**
 * Arrow keys, Home and End move between the items of an open menu (Tab still leaves it).
 * @param {KeyboardEvent} ev
 */
function moveInMenu(ev) {
  const at = /** @type {HTMLElement | null} */ (document.activeElement);
  const menu = at && at.closest('.menu');
  if (!at || !menu) return;
  const items = /** @type {HTMLElement[]} */ ([...menu.querySelectorAll('.menu-item')]).filter((b) => !b.closest('[hidden]'));
  const i = items.indexOf(at);
  if (i < 0 || !items.length) return;
  ev.preventDefault();
  const n = items.length;
  const next = ev.key === 'Home' ? 0 : ev.key === 'End' ? n - 1 : (i + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
  items[next].focus();
}

start();
