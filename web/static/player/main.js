// The record player: /records/ID on a node (with a token holding the record or readout
// grant) or under `parley open` (a folder on this computer, no token). The page holds no
// data of the record; this script fetches the log, the media and the verification.

import { hydrateIcons, LOGO } from '../icons.js';
import { takeToken, setToken, currentToken, authFetch, getJSON, playerConfig, mediaAccess, HTTPError } from './api.js';
import { buildModel, clock, onAir } from './model.js';
import { configureMedia, loadMedia, EncryptedMediaError, mediaKeys, useMediaKeys } from './media.js';
import { Clock, Sync, SPEEDS } from './playback.js';
import { Timeline, colour } from './timeline.js';
import { renderChart } from './chart.js';
import { TranscriptView } from './transcript.js';
import { badgePending, badgeFailed, renderVerification } from './verify.js';
import { mountReadouts } from './readouts.js';
import { setIcon } from './icons.js';

/**
 * @typedef {import('./model.js').Model} Model
 * @typedef {import('./model.js').Log} Log
 * @typedef {import('./model.js').MediaFile} MediaFile
 * @typedef {import('./playback.js').Follower} Follower
 */

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
const $ = (id) => {
  const e = document.getElementById(id);
  if (!e) throw new Error('no element #' + id);
  return e;
};

/** What the address names: /records/ID, or /records/ID/readouts/RID. */
function route() {
  const m = /^\/records\/([^/]+)(?:\/readouts\/([^/]+))?\/?$/.exec(location.pathname);
  return { record: m ? decodeURIComponent(m[1]) : '', readout: m && m[2] ? decodeURIComponent(m[2]) : '' };
}

/** @param {'loading' | 'token' | 'error' | 'ready'} state */
function setState(state) {
  document.body.dataset.state = state;
  $('pl-loading').hidden = state !== 'loading';
  $('pl-token-form').hidden = state !== 'token';
  $('pl-error').hidden = state !== 'error';
  $('pl-gate').hidden = state === 'ready';
  $('pl-app').hidden = state !== 'ready';
}

/**
 * @param {string} title
 * @param {string} text
 */
function showError(title, text) {
  $('pl-error-title').textContent = title;
  $('pl-error-text').textContent = text;
  setState('error');
}

/** @param {string} [problem] why the token did not do */
function askToken(problem) {
  setState('token');
  const err = $('pl-token-error');
  err.hidden = !problem;
  err.textContent = problem || '';
  const input = /** @type {HTMLTextAreaElement} */ ($('pl-token-input'));
  input.focus();
}

async function boot() {
  for (const e of document.querySelectorAll('[data-logo]')) e.innerHTML = LOGO; // constant markup
  hydrateIcons(document);
  const cfg = await playerConfig();
  const where = route();
  const record = cfg.mode === 'open' && cfg.record ? cfg.record : where.record;
  if (!record) {
    showError('There is no record at this address', 'A record’s address is /records/ followed by its id.');
    return;
  }
  if (cfg.token) takeToken(record);
  $('pl-token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = /** @type {HTMLTextAreaElement} */ ($('pl-token-input'));
    setToken(record, input.value);
    setState('loading');
    open(record, cfg, where.readout);
  });
  if (cfg.token && !currentToken()) {
    askToken();
    return;
  }
  open(record, cfg, where.readout);
}

/**
 * Loads the record and shows it, or asks again for a token the server refused.
 * @param {string} record
 * @param {import('./api.js').PlayerConfig} cfg
 * @param {string} readout
 */
async function open(record, cfg, readout) {
  /** @type {Log} */
  let log;
  try {
    log = await getJSON(`/records/${encodeURIComponent(record)}/log?without=chunk`);
    if (cfg.token) await mediaAccess(record);
  } catch (err) {
    if (err instanceof HTTPError && (err.status === 401 || err.status === 403) && cfg.token) {
      setToken(record, '');
      askToken(`The server refused this token: ${err.message}`);
      return;
    }
    if (err instanceof HTTPError && err.status === 404) {
      showError('There is no such record', 'This server has no record with this id. Check the link you were given.');
      return;
    }
    showError('The record cannot be opened', err instanceof Error ? err.message : String(err));
    return;
  }
  const model = buildModel(log);
  setState('ready');
  new Player(model, log, cfg, readout);
}

class Player {
  /**
   * @param {Model} model
   * @param {Log} log
   * @param {import('./api.js').PlayerConfig} cfg
   * @param {string} readout
   */
  constructor(model, log, cfg, readout) {
    this.m = model;
    this.clock = new Clock(model.duration);
    this.sync = new Sync(this.clock);
    /** @type {Array<{file: MediaFile, el: HTMLMediaElement, f: Follower}>} */
    this.media = [];
    this.channel = 'floor';
    this.muted = false;
    /** @type {boolean | null} the play state the controls show */
    this.shownPlaying = null;
    /** whether an encrypted record's media decrypt in this page */
    this.decrypting = false;
    /** @type {import('./verify.js').VerifyAnswer | null} */
    this.verified = null;
    const seek = (/** @type {number} */ t) => this.seek(t);

    document.title = `Record of ${model.room} · Parley`;
    $('pl-title').textContent = `Record of ${model.room}`;
    const date = model.began.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    $('pl-sub').textContent = `${date} · ${clock(model.duration)} · ${model.people.length} participant${model.people.length === 1 ? '' : 's'}` +
      (cfg.mode === 'open' ? ' · opened from a folder on this computer, read-only' : '');
    $('pl-dur').textContent = clock(model.duration);

    this.timeline = new Timeline($('pl-tl'), $('pl-legend'), model, seek);
    this.transcript = new TranscriptView(/** @type {HTMLOListElement} */ ($('pl-tr')), /** @type {HTMLSelectElement} */ ($('pl-tr-filter')),
      /** @type {HTMLInputElement} */ ($('pl-tr-follow')), $('pl-tr-note'), model, seek);
    renderChart($('pl-chart'), model);
    this.tabs();
    this.transport();
    this.keyboard();
    this.stage();
    this.verify(seek);
    this.readouts = mountReadouts($('pl-readouts'), {
      record: model.record, log, model, mode: cfg.mode, token: currentToken, fetch: authFetch, seek, now: () => this.clock.now(),
      play: () => this.clock.play(), channel: () => this.channel, readout: readout || undefined,
    });
    if (readout || new URLSearchParams(location.search).has('compare')) this.selectTab('pl-tab-readouts');

    this.clock.onChange(() => this.render());
    this.sync.start();
    const frame = () => {
      this.render();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    this.render();
    /** @type {any} */ (window).parleyPlayer = this.testHook();
  }

  /** @param {number} t */
  seek(t) {
    this.clock.seek(t);
  }

  render() {
    const t = this.clock.now();
    $('pl-now').textContent = clock(t);
    this.timeline.setTime(t);
    this.transcript.setTime(t);
    const playing = this.clock.playing;
    if (this.shownPlaying !== playing) {
      this.shownPlaying = playing;
      const play = $('pl-play');
      setIcon(play, playing ? 'pause' : 'play');
      play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
      $('pl-bigplay').hidden = playing || (this.m.encrypted && !this.decrypting);
    }
    $('pl-stage').classList.toggle('pl-waiting', this.clock.stalled && playing);
  }

  /** The video grid and the sound: every file of the record on the one clock. */
  stage() {
    const m = this.m;
    const grid = $('pl-grid');
    configureMedia({ record: m.record, encrypted: m.encrypted });
    if (m.encrypted) {
      $('pl-encrypted').hidden = false;
      $('pl-encrypted-why').textContent = m.encryptedWhy ? `The log says ${m.encryptedWhy}.` : '';
      mediaKeys().then((k) => this.keysReady(!!k));
      const pick = /** @type {HTMLInputElement} */ ($('pl-keys-file'));
      pick.addEventListener('change', async () => {
        const f = pick.files && pick.files[0];
        if (!f) return;
        try {
          useMediaKeys(JSON.parse(await f.text()));
          this.keysReady(true);
          for (const { file, el, f: follower } of this.media) this.load(file, el, follower);
        } catch (err) {
          $('pl-encrypted-why').textContent = `That file cannot open this record: ${err instanceof Error ? err.message : err}.`;
        }
      });
    }
    /** @type {Map<string, {tile: HTMLElement, placeholder: HTMLElement, files: number}>} */
    const tiles = new Map();
    const people = new Map(m.people.map((p) => [p.identity, p]));
    const videos = m.files.filter((f) => f.kind === 'video');
    for (const f of videos) {
      const key = `${f.identity}\n${f.source}`;
      let t = tiles.get(key);
      if (!t) {
        const p = people.get(f.identity);
        const tile = document.createElement('figure');
        tile.className = 'pl-tile';
        tile.style.setProperty('--who', colour(p ? p.index : 0));
        const placeholder = document.createElement('div');
        placeholder.className = 'pl-tile-off';
        const av = document.createElement('span');
        av.className = 'pl-avatar';
        av.textContent = initials(p ? p.name : f.identity);
        const off = document.createElement('span');
        off.className = 'pl-tile-offtext';
        off.textContent = f.source === 'screen' ? 'Not sharing' : 'Camera off';
        placeholder.append(av, off);
        const cap = document.createElement('figcaption');
        cap.className = 'pl-tile-label';
        cap.textContent = (p ? p.name : f.identity) + (f.source === 'screen' ? ' (screen)' : '');
        tile.append(placeholder, cap);
        grid.append(tile);
        t = { tile, placeholder, files: 0 };
        tiles.set(key, t);
      }
      const v = document.createElement('video');
      v.muted = true;
      v.playsInline = true;
      v.hidden = true;
      v.dataset.file = f.file;
      v.setAttribute('aria-label', `${f.identity}’s ${f.source}`);
      t.tile.insertBefore(v, t.placeholder);
      const tt = t;
      this.follow(f, v, () => 1, (active) => {
        v.hidden = !active;
        tt.files += active ? 1 : -1;
        tt.placeholder.hidden = tt.files > 0;
      });
    }
    grid.dataset.count = String(tiles.size);
    if (!tiles.size) {
      const none = document.createElement('p');
      none.className = 'pl-novideo';
      none.textContent = m.files.length ? 'This record has sound and no video.' : 'This record holds no media.';
      grid.append(none);
    }
    const sound = document.createElement('div');
    sound.hidden = true;
    document.body.append(sound);
    for (const f of m.files.filter((x) => x.kind === 'audio')) {
      const a = document.createElement('audio');
      a.dataset.file = f.file;
      sound.append(a);
      const p = people.get(f.identity);
      const interpreter = !!(p && p.interpreter) && f.source === 'mic';
      // An interpreter is heard only in the channel they spoke into, while they were in it;
      // the floor is lowered under an interpretation, as in the meeting.
      const volume = interpreter
        ? (/** @type {number} */ t) => (this.channel !== 'floor' && onAir(m, this.channel, t, f.identity) ? 1 : 0)
        : (/** @type {number} */ t) => (this.channel !== 'floor' && onAir(m, this.channel, t) ? 0.2 : 1);
      this.follow(f, a, volume);
    }
  }

  /**
   * @param {MediaFile} file
   * @param {HTMLMediaElement} el
   * @param {(t: number) => number} volume
   * @param {(active: boolean) => void} [shown]
   */
  follow(file, el, volume, shown) {
    /** @type {Follower} */
    const f = { el, offset: file.offset, duration: file.duration, volume, shown };
    this.sync.add(f);
    this.media.push({ file, el, f });
    this.load(file, el, f);
  }

  /**
   * Loads one file into its element (again, once keys arrive).
   * @param {MediaFile} file
   * @param {HTMLMediaElement} el
   * @param {Follower} f
   */
  load(file, el, f) {
    loadMedia(file.file).then((url) => {
      el.src = url;
      f.ready = true;
      this.sync.tick(true);
      // A connection the server closed (a paused element stops reading, and the server cuts a
      // response nobody reads) is a network error: load the file again; the clock's next tick
      // puts it back in place.
      let retries = 0;
      el.addEventListener('error', () => {
        const e = el.error;
        if (!e || e.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED || retries >= 20) {
          f.ready = false;
          console.warn('parley player: cannot play', file.file, e ? e.message : '');
          return;
        }
        retries++;
        setTimeout(() => {
          el.src = url;
          el.load();
        }, Math.min(500 * retries, 5000));
      });
    }, (err) => {
      if (!(err instanceof EncryptedMediaError)) console.warn('parley player:', file.file, err);
    });
  }

  /**
   * Says whether an encrypted record plays here: decrypted in this page with the media keys
   * this browser kept (or a keys file), or not at all.
   * @param {boolean} have
   */
  keysReady(have) {
    this.decrypting = have;
    $('pl-encrypted').classList.toggle('pl-decrypted', have);
    $('pl-encrypted-what').textContent = have
      ? 'It plays decrypted in this page with the media keys your browser kept during the meeting; the server never sees them.'
      : 'The server holds only ciphertext, so nothing plays here without the media keys a participant’s browser kept. The timeline, transcript and verification below come from the log.';
    $('pl-keys-pick').hidden = have;
    this.shownPlaying = null;
    this.render();
  }

  transport() {
    const back = $('pl-back');
    const fwd = $('pl-fwd');
    setIcon(back, 'back');
    setIcon(fwd, 'forward');
    setIcon($('pl-keys'), 'keyboard');
    setIcon($('pl-bigplay'), 'play');
    back.addEventListener('click', () => this.seek(this.clock.now() - 5));
    fwd.addEventListener('click', () => this.seek(this.clock.now() + 5));
    $('pl-play').addEventListener('click', () => this.clock.toggle());
    $('pl-bigplay').addEventListener('click', () => this.clock.play());
    const speed = /** @type {HTMLSelectElement} */ ($('pl-speed'));
    for (const s of SPEEDS) {
      const o = document.createElement('option');
      o.value = String(s);
      o.textContent = `${s}×`;
      o.selected = s === 1;
      speed.append(o);
    }
    speed.addEventListener('change', () => this.clock.setRate(Number(speed.value)));
    this.clock.onChange(() => {
      if (speed.value !== String(this.clock.rate)) speed.value = String(this.clock.rate);
    });
    const ch = /** @type {HTMLSelectElement} */ ($('pl-channel'));
    for (const c of this.m.channels) {
      const o = document.createElement('option');
      o.value = c;
      o.textContent = `${c.toUpperCase()} interpretation`;
      ch.append(o);
    }
    ch.disabled = !this.m.channels.length;
    ch.closest('label')?.setAttribute('title', this.m.channels.length ? 'What you hear: the floor, or an interpretation channel (with the floor lowered)' : 'Nobody interpreted in this record');
    ch.addEventListener('change', () => {
      this.channel = ch.value;
      this.sync.tick(false);
    });
    const mute = $('pl-mute');
    setIcon(mute, 'volume');
    mute.addEventListener('click', () => this.toggleMute());
    const dlg = /** @type {HTMLDialogElement} */ ($('pl-keys-dlg'));
    $('pl-keys').addEventListener('click', () => dlg.showModal());
    $('pl-keys-close').addEventListener('click', () => dlg.close());
    $('pl-badge').addEventListener('click', () => {
      this.selectTab('pl-tab-verify');
      $('pl-tab-verify').focus();
    });
  }

  toggleMute() {
    this.muted = !this.muted;
    this.sync.setMuted(this.muted);
    const b = $('pl-mute');
    setIcon(b, this.muted ? 'volumeOff' : 'volume');
    b.setAttribute('aria-pressed', String(this.muted));
    b.setAttribute('aria-label', this.muted ? 'Unmute' : 'Mute');
  }

  /** @param {number} d */
  speedStep(d) {
    const i = SPEEDS.indexOf(this.clock.rate);
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? 1 : i) + d))];
    this.clock.setRate(next);
  }

  keyboard() {
    document.addEventListener('keydown', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
      const target = /** @type {HTMLElement} */ (ev.target);
      if (target.closest('input, textarea, select, [contenteditable], dialog[open]')) return;
      const onButton = !!target.closest('button, a, [role="tab"], [role="slider"]');
      const t = this.clock.now();
      switch (ev.key) {
        case ' ':
          if (onButton) return; // the button's own action
          this.clock.toggle();
          break;
        case 'k':
        case 'K':
          this.clock.toggle();
          break;
        case 'ArrowLeft':
          if (target.closest('[role="tab"]')) return;
          this.seek(t - 5);
          break;
        case 'ArrowRight':
          if (target.closest('[role="tab"]')) return;
          this.seek(t + 5);
          break;
        case 'j':
        case 'J':
          this.seek(t - 10);
          break;
        case 'l':
        case 'L':
          this.seek(t + 10);
          break;
        case ',':
        case '.': {
          const n = this.timeline.neighbour(t, ev.key === '.' ? 1 : -1);
          if (n !== null) this.seek(n);
          break;
        }
        case '<':
          this.speedStep(-1);
          break;
        case '>':
          this.speedStep(1);
          break;
        case 'Home':
          this.seek(0);
          break;
        case 'End':
          this.seek(this.m.duration);
          break;
        case 'm':
        case 'M':
          this.toggleMute();
          break;
        case '?':
          /** @type {HTMLDialogElement} */ ($('pl-keys-dlg')).showModal();
          break;
        default:
          if (/^[0-9]$/.test(ev.key)) {
            this.seek((Number(ev.key) / 10) * this.m.duration);
            break;
          }
          return;
      }
      ev.preventDefault();
    });
  }

  tabs() {
    const tabs = /** @type {HTMLElement[]} */ ([...document.querySelectorAll('.pl-tab')]);
    for (const tab of tabs) {
      tab.addEventListener('click', () => this.selectTab(tab.id));
      tab.addEventListener('keydown', (ev) => {
        const i = tabs.indexOf(tab);
        let j = -1;
        if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
        if (ev.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
        if (ev.key === 'Home') j = 0;
        if (ev.key === 'End') j = tabs.length - 1;
        if (j < 0) return;
        ev.preventDefault();
        this.selectTab(tabs[j].id);
        tabs[j].focus();
      });
    }
  }

  /** @param {string} id */
  selectTab(id) {
    for (const tab of document.querySelectorAll('.pl-tab')) {
      const on = tab.id === id;
      tab.setAttribute('aria-selected', String(on));
      /** @type {HTMLElement} */ (tab).tabIndex = on ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute('aria-controls') || '');
      if (panel) panel.hidden = !on;
    }
  }

  /** @param {(t: number) => void} seek */
  async verify(seek) {
    const badge = $('pl-badge');
    badgePending(badge);
    try {
      /** @type {import('./verify.js').VerifyAnswer} */
      const v = await getJSON(`/records/${encodeURIComponent(this.m.record)}/verify`);
      renderVerification(badge, $('pl-verify'), v, this.m, seek);
      this.timeline.showAttested(v.report.attested);
      this.verified = v;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      badgeFailed(badge, msg);
      $('pl-verify').textContent = `The server could not verify the record: ${msg}`;
    }
  }

  /** What tests (and the curious) can read of the player, and do with it. */
  testHook() {
    return {
      ready: true,
      now: () => this.clock.now(),
      playing: () => this.clock.playing,
      stalled: () => this.clock.stalled,
      duration: this.m.duration,
      seek: (/** @type {number} */ t) => this.seek(t),
      play: () => this.clock.play(),
      pause: () => this.clock.pause(),
      channel: () => this.channel,
      verified: () => this.verified,
      media: () => this.media.map(({ file, el, f }) => ({
        file: file.file, kind: file.kind, identity: file.identity, offset: file.offset, duration: file.duration,
        active: !!f.active, ready: !!f.ready, paused: el.paused, currentTime: el.currentTime, volume: el.volume,
        frames: el instanceof HTMLVideoElement ? el.getVideoPlaybackQuality().totalVideoFrames : 0,
      })),
    };
  }
}

/** @param {string} name */
function initials(name) {
  const parts = name.replace(/[-_.]+/g, ' ').trim().split(/\s+/);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : parts[0].slice(0, 2);
  return s.toUpperCase();
}

boot().catch((err) => showError('The record cannot be opened', err instanceof Error ? err.message : String(err)));
