// Local media: camera and microphone capture, device lists and choice, the microphone
// level, and screen capture. Knows nothing about signaling.

import { t } from './i18n.js';

/** @typedef {'low' | 'medium' | 'high'} Quality */

/** Camera capture per `quality` URL parameter. */
export const QUALITY = {
  low: { width: 320, height: 180, frameRate: 15 },
  medium: { width: 640, height: 360, frameRate: 24 },
  high: { width: 1280, height: 720, frameRate: 30 },
};

const PREFS_KEY = 'parley.devices';

/**
 * @typedef {{mic?: string, camera?: string, speaker?: string, original?: boolean}} DevicePrefs
 *   `original`: the microphone's sound as it is, without the browser's voice processing
 * @typedef {{mic: MediaDeviceInfo[], camera: MediaDeviceInfo[], speaker: MediaDeviceInfo[]}} DeviceLists
 */

/** @returns {DevicePrefs} */
function loadPrefs() {
  try {
    const v = JSON.parse(localStorage.getItem(PREFS_KEY) || '{}');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

/**
 * Explains a getUserMedia failure in a sentence, in the interface language.
 * @param {any} err
 * @param {'camera' | 'microphone' | 'both'} what  both: the camera and the microphone
 * @returns {string}
 */
export function describeMediaError(err, what) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return t(`media.blocked.${what}`);
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return t(`media.notFound.${what}`);
  if (name === 'NotReadableError' || name === 'AbortError') return t(`media.busy.${what}`);
  if (!navigator.mediaDevices) return t('media.insecure');
  return t(`media.failed.${what}`);
}

export class LocalMedia {
  /**
   * @param {Quality} quality
   * @param {boolean} [original] the page's link asks for original sound (an interpreter's booth)
   */
  constructor(quality, original) {
    this.quality = quality in QUALITY ? quality : 'high';
    /** @type {MediaStreamTrack | null} */
    this.mic = null;
    /** @type {MediaStreamTrack | null} */
    this.camera = null;
    /** @type {MediaStreamTrack | null} */
    this.screen = null;
    /** @type {MediaStreamTrack | null} */
    this.screenAudio = null;
    /** the stream the pub connection announces for mic and camera */
    this.stream = new MediaStream();
    /** the stream for a screen share */
    this.screenStream = new MediaStream();
    /** @type {DevicePrefs} */
    this.prefs = loadPrefs();
    /** the link asks for the microphone as is: for this page only, never saved as a preference
     * (a link someone sent must not change the browser's settings for every later meeting) */
    this.linkOriginal = !!original;
    /** @type {DeviceLists} */
    this.devices = { mic: [], camera: [], speaker: [] };
    /** @type {AudioContext | null} */
    this.audioCtx = null;
    /** @type {AnalyserNode | null} */
    this.analyser = null;
    /** @type {MediaStreamAudioSourceNode | null} */
    this.analyserSource = null;
    /** @type {Float32Array<ArrayBuffer> | null} */
    this.levelBuf = null;
    /** called when the screen share ends from the browser's own "Stop sharing" button */
    this.onScreenEnded = () => {};
  }

  get available() {
    return !!navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function';
  }

  /** @returns {MediaTrackConstraints} */
  videoConstraints() {
    const q = QUALITY[this.quality];
    /** @type {MediaTrackConstraints} */
    const c = { width: { ideal: q.width }, height: { ideal: q.height }, frameRate: { ideal: q.frameRate } };
    if (this.prefs.camera) c.deviceId = { ideal: this.prefs.camera };
    return c;
  }

  /** @returns {MediaTrackConstraints} */
  audioConstraints() {
    // The browser's voice processing suits a laptop's microphone and speakers. With a headset or
    // a booth microphone it only harms: the gain pumps and the noise suppressor eats soft
    // consonants, which listeners and the speech recogniser then mishear.
    const processed = !this.original;
    /** @type {MediaTrackConstraints} */
    const c = { echoCancellation: processed, noiseSuppression: processed, autoGainControl: processed };
    if (this.prefs.mic) c.deviceId = { ideal: this.prefs.mic };
    return c;
  }

  /**
   * Starts the microphone and/or camera. Failures do not throw: they come back as a notice,
   * which writes itself in the interface language of the moment.
   * @param {{audio: boolean, video: boolean}} want
   * @returns {Promise<{notice: (() => string) | null}>}
   */
  async start(want) {
    if (!this.available) {
      return { notice: () => describeMediaError(null, 'both') };
    }
    /** @type {{mic?: any, camera?: any}} */
    const failed = {};
    const wantAudio = want.audio && !this.mic;
    const wantVideo = want.video && !this.camera;
    if (wantAudio && wantVideo) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({
          audio: this.audioConstraints(),
          video: this.videoConstraints(),
        });
        this.setMic(s.getAudioTracks()[0] || null);
        this.setCamera(s.getVideoTracks()[0] || null);
      } catch {
        // Try each on its own: one device may be missing or busy.
      }
    }
    if (wantAudio && !this.mic) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints() });
        this.setMic(s.getAudioTracks()[0] || null);
      } catch (err) {
        failed.mic = err;
      }
    }
    if (wantVideo && !this.camera) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ video: this.videoConstraints() });
        this.setCamera(s.getVideoTracks()[0] || null);
      } catch (err) {
        failed.camera = err;
      }
    }
    await this.enumerate();
    /** @type {(() => string) | null} */
    let notice = null;
    if (failed.mic && failed.camera && failed.mic.name === failed.camera.name) {
      notice = () => describeMediaError(failed.mic, 'both');
    } else if (failed.mic || failed.camera) {
      notice = () => [
        failed.mic ? describeMediaError(failed.mic, 'microphone') : '',
        failed.camera ? describeMediaError(failed.camera, 'camera') : '',
      ].filter(Boolean).join(' ');
    }
    return { notice };
  }

  /** @param {MediaStreamTrack | null} track */
  setMic(track) {
    if (this.mic) {
      this.stream.removeTrack(this.mic);
      this.mic.stop();
    }
    this.mic = track;
    if (track) {
      this.stream.addTrack(track);
      const s = track.getSettings();
      if (s.deviceId) this.prefs.mic = s.deviceId;
    }
    this.connectAnalyser();
  }

  /** @param {MediaStreamTrack | null} track */
  setCamera(track) {
    if (this.camera) {
      this.stream.removeTrack(this.camera);
      this.camera.stop();
    }
    this.camera = track;
    if (track) {
      this.stream.addTrack(track);
      track.contentHint = 'motion';
      const s = track.getSettings();
      if (s.deviceId) this.prefs.camera = s.deviceId;
    }
  }

  /**
   * Starts the camera (again).
   * @returns {Promise<MediaStreamTrack>}
   */
  async startCamera() {
    const s = await navigator.mediaDevices.getUserMedia({ video: this.videoConstraints() });
    const track = s.getVideoTracks()[0];
    this.setCamera(track);
    await this.enumerate();
    return track;
  }

  /** Stops the camera so its light goes off. */
  stopCamera() {
    this.setCamera(null);
  }

  /**
   * Starts the microphone (again).
   * @returns {Promise<MediaStreamTrack>}
   */
  async startMic() {
    const s = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints() });
    const track = s.getAudioTracks()[0];
    this.setMic(track);
    await this.enumerate();
    return track;
  }

  /**
   * Chooses a device and restarts the matching capture if it runs.
   * @param {'mic' | 'camera' | 'speaker'} kind
   * @param {string} deviceId
   * @returns {Promise<MediaStreamTrack | null>} the new track, if one was started
   */
  async choose(kind, deviceId) {
    this.prefs[kind] = deviceId;
    this.savePrefs();
    if (kind === 'camera' && this.camera) {
      const enabled = this.camera.enabled;
      const s = await navigator.mediaDevices.getUserMedia({
        video: { ...this.videoConstraints(), deviceId: { exact: deviceId } },
      });
      const t = s.getVideoTracks()[0];
      t.enabled = enabled;
      this.setCamera(t);
      return t;
    }
    if (kind === 'mic' && this.mic) {
      const enabled = this.mic.enabled;
      this.mic.stop(); // some systems cannot open two microphones at once
      const s = await navigator.mediaDevices.getUserMedia({
        audio: { ...this.audioConstraints(), deviceId: { exact: deviceId } },
      });
      const t = s.getAudioTracks()[0];
      t.enabled = enabled;
      this.setMic(t);
      return t;
    }
    return null;
  }

  /** Whether the microphone is taken as is: the link asked for it, or the user chose it. */
  get original() {
    return this.linkOriginal || !!this.prefs.original;
  }

  /**
   * Turns the browser's voice processing off (original sound) or on, restarting the microphone
   * if it runs.
   * @param {boolean} on
   * @returns {Promise<MediaStreamTrack | null>} the new microphone track, if one was started
   */
  async setOriginalSound(on) {
    this.prefs.original = on;
    this.linkOriginal = false; // the user's choice now rules
    this.savePrefs();
    if (!this.mic) return null;
    const enabled = this.mic.enabled;
    this.mic.stop();
    const s = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints() });
    const t = s.getAudioTracks()[0];
    t.enabled = enabled;
    this.setMic(t);
    return t;
  }

  savePrefs() {
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify(this.prefs));
    } catch {
      /* private mode */
    }
  }

  /** Refreshes the device lists. */
  async enumerate() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    try {
      const list = await navigator.mediaDevices.enumerateDevices();
      this.devices = {
        mic: list.filter((d) => d.kind === 'audioinput' && d.deviceId),
        camera: list.filter((d) => d.kind === 'videoinput' && d.deviceId),
        speaker: list.filter((d) => d.kind === 'audiooutput' && d.deviceId),
      };
    } catch {
      /* keep the old lists */
    }
  }

  /** Whether audio output can be routed (HTMLMediaElement.setSinkId). */
  static get canChooseSpeaker() {
    return typeof (/** @type {any} */ (HTMLMediaElement.prototype).setSinkId) === 'function';
  }

  // ---- microphone level -------------------------------------------------------------

  connectAnalyser() {
    if (this.analyserSource) {
      this.analyserSource.disconnect();
      this.analyserSource = null;
    }
    if (!this.mic) return;
    try {
      if (!this.audioCtx) {
        this.audioCtx = new AudioContext();
        this.analyser = this.audioCtx.createAnalyser();
        this.analyser.fftSize = 1024;
        this.levelBuf = new Float32Array(this.analyser.fftSize);
      }
      this.analyserSource = this.audioCtx.createMediaStreamSource(new MediaStream([this.mic]));
      if (this.analyser) this.analyserSource.connect(this.analyser);
    } catch (err) {
      console.warn('parley: no audio level meter', err);
    }
  }

  /** Resumes the level meter's AudioContext after a user gesture. */
  resumeAudio() {
    if (this.audioCtx && this.audioCtx.state === 'suspended') this.audioCtx.resume().catch(() => {});
  }

  /**
   * The microphone's current level, 0..1 (RMS of the signal; 0 when muted or absent).
   * @returns {number}
   */
  level() {
    if (!this.mic || !this.mic.enabled || !this.analyser || !this.levelBuf) return 0;
    this.analyser.getFloatTimeDomainData(this.levelBuf);
    let sum = 0;
    for (let i = 0; i < this.levelBuf.length; i++) sum += this.levelBuf[i] * this.levelBuf[i];
    return Math.sqrt(sum / this.levelBuf.length);
  }

  // ---- screen -----------------------------------------------------------------------

  /**
   * Asks the user for a screen, window or tab.
   * @returns {Promise<{video: MediaStreamTrack, audio: MediaStreamTrack | null}>}
   */
  async startScreen() {
    const s = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    const video = s.getVideoTracks()[0];
    video.contentHint = 'detail';
    this.stopScreen();
    this.screen = video;
    this.screenStream = new MediaStream([video]);
    video.addEventListener('ended', () => {
      if (this.screen === video) this.onScreenEnded();
    });
    return { video, audio: null };
  }

  stopScreen() {
    for (const t of [this.screen, this.screenAudio]) if (t) t.stop();
    this.screen = null;
    this.screenAudio = null;
  }

  /** Stops every capture (leaving the meeting). */
  stopAll() {
    this.setMic(null);
    this.setCamera(null);
    this.stopScreen();
  }
}
