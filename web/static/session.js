// The media session: the two RTCPeerConnections of docs/protocol.md.
//   pub  client -> server, the client offers; one sendonly transceiver per published source.
//   sub  server -> client, the server offers; its `tracks` map says whose track each mid carries.
// This module speaks SDP and ICE through a Signaling object and reports what the sub
// connection carries; it knows nothing about the DOM.

/**
 * @typedef {'mic' | 'camera' | 'screen' | 'screen-audio' | 'interpretation'} Source
 *   `interpretation` is the one sub track that carries the listener's language channel
 * @typedef {{participant: string, identity: string, source: Source}} TrackOwner
 * @typedef {{mid: string, participant: string, identity: string, source: Source,
 *            kind: string, track: MediaStreamTrack}} RemoteTrack
 * @typedef {{source: Source, kind: 'audio' | 'video', track: MediaStreamTrack | null,
 *            stream: MediaStream}} PublishEntry
 * @typedef {{participant: string, identity: string, source: string, kind: string, mid: string,
 *            bytesReceived: number, packetsReceived: number, framesDecoded: number,
 *            frameWidth: number, frameHeight: number, freezeCount: number,
 *            totalFreezesDuration: number, packetsLost: number, nackCount: number,
 *            rtxReceived: number, framesReceived: number, framesDropped: number,
 *            keyFramesDecoded: number, pliCount: number, codec: string}} InboundStat
 * @typedef {{mid: string, source: string | null, kind: string, bytesSent: number,
 *            packetsSent: number}} OutboundStat
 * @typedef {'pub' | 'sub'} PCName
 * @typedef {{pcConfig: () => Record<string, any>,
 *            attachSender: (t: RTCRtpTransceiver, kind: 'audio' | 'video') => void,
 *            attachReceiver: (t: RTCRtpTransceiver) => void,
 *            setOwners: (tracks: Record<string, TrackOwner>) => void}} FrameTransforms
 *   end-to-end encryption (e2ee.js): a transform on every sender and receiver, told who
 *   the server says sends each received mid
 */

const ANSWER_TIMEOUT_MS = 20000;

/**
 * The camera's simulcast layers, low to high: the rids the server knows (q, h, f), each
 * half the size of the next, with bitrate ceilings that keep the low layer usable on a
 * poor link. Chrome drops layers its uplink cannot carry and restores them when it can.
 */
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * Asks the server's answer for Opus DTX (silence costs almost nothing) and keeps in-band FEC
 * on: the browser sends as the receiver's description asks.
 * @param {string} sdp
 * @returns {string}
 */
export function withOpusDTX(sdp) {
  const pts = [...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]);
  let out = sdp;
  for (const pt of pts) {
    out = out.replace(new RegExp(`^(a=fmtp:${pt} )(.*)$`, 'gm'), (_, head, params) => {
      const p = params.replace(/;?\s*usedtx=\d/g, '').replace(/;?\s*useinbandfec=\d/g, '');
      return `${head}${p};useinbandfec=1;usedtx=1`.replace(' ;', ' ');
    });
  }
  return out;
}

/**
 * Puts the room's preferred video codec first on a transceiver, when the browser has it.
 * @param {RTCRtpTransceiver} t
 * @param {string} codec
 */
function preferCodec(t, codec) {
  if (typeof t.setCodecPreferences !== 'function' || typeof RTCRtpSender.getCapabilities !== 'function') return;
  const caps = RTCRtpSender.getCapabilities('video');
  if (!caps) return;
  const want = new RegExp(`^video/${codec}$`, 'i');
  const first = caps.codecs.filter((c) => want.test(c.mimeType));
  if (!first.length) return;
  try {
    t.setCodecPreferences([...first, ...caps.codecs.filter((c) => !want.test(c.mimeType))]);
  } catch {
    /* the browser's own order then */
  }
}

export class MediaSession {
  /**
   * @param {import('./signaling.js').Signaling} sig
   * @param {{iceServers?: RTCIceServer[],
   *          iceTransportPolicy?: RTCIceTransportPolicy,
   *          onRemoteTracks: (tracks: RemoteTrack[]) => void,
   *          onConnectionState?: (pc: PCName, state: RTCPeerConnectionState) => void,
   *          transforms?: FrameTransforms | null,
   *          simulcast?: boolean,
   *          videoCodec?: string}} opts
   */
  constructor(sig, opts) {
    this.sig = sig;
    this.iceServers = Array.isArray(opts.iceServers) ? opts.iceServers : [];
    /** 'relay' sends all media through the server's TURN relay (strict firewalls) */
    this.iceTransportPolicy = opts.iceTransportPolicy || 'all';
    this.onRemoteTracks = opts.onRemoteTracks;
    this.onConnectionState = opts.onConnectionState || (() => {});
    /** @type {FrameTransforms | null} */
    this.transforms = opts.transforms || null;
    /** the camera goes out in three layers; the server sends each viewer the one that fits */
    this.simulcast = opts.simulcast !== false;
    /** the room's preferred video codec ('vp8', 'vp9', 'h264', 'av1'), '' for the browser's choice */
    this.videoCodec = opts.videoCodec || '';
    /** @type {RTCPeerConnection | null} */
    this.pub = null;
    /** @type {RTCPeerConnection | null} */
    this.sub = null;
    /** which source each published transceiver carries; transceivers not in here are spare
     * @type {Map<RTCRtpTransceiver, Source>} */
    this.pubSources = new Map();
    /** the latest map from the server's sub offer
     * @type {Record<string, TrackOwner>} */
    this.subTracks = {};
    /** remote candidates that came before their connection had a remote description
     * @type {Record<PCName, RTCIceCandidateInit[]>} */
    this.pendingCandidates = { pub: [], sub: [] };
    /** @type {Promise<void> | null} */
    this.pubInFlight = null;
    this.pubAgain = false;
    /** @type {{resolve: (sdp: string) => void, reject: (err: Error) => void} | null} */
    this.pubWaiter = null;
    /** @type {Promise<void>} sub offers are handled one after the other */
    this.subChain = Promise.resolve();
    this.reconcileQueued = false;
    this.closed = false;
  }

  // ---- publishing -------------------------------------------------------------------

  /** @returns {RTCConfiguration} */
  pcConfig() {
    const extra = this.transforms ? this.transforms.pcConfig() : {};
    return /** @type {RTCConfiguration} */ ({
      iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy, bundlePolicy: 'max-bundle', ...extra,
    });
  }

  /** @returns {RTCPeerConnection} */
  ensurePub() {
    if (this.pub) return this.pub;
    const pc = new RTCPeerConnection(this.pcConfig());
    pc.onicecandidate = (ev) => this.sendCandidate('pub', ev.candidate);
    pc.onconnectionstatechange = () => {
      this.onConnectionState('pub', pc.connectionState);
      if (pc.connectionState === 'failed' && !this.closed) {
        pc.restartIce();
        this.negotiate().catch((err) => console.warn('parley: ICE restart failed', err));
      }
    };
    this.pub = pc;
    return pc;
  }

  /**
   * Publishes several sources with one negotiation.
   * @param {PublishEntry[]} entries
   */
  async publish(entries) {
    if (!entries.length) return;
    for (const e of entries) this.attach(e);
    await this.negotiate();
  }

  /**
   * Gives a source a transceiver, reusing a spare one of the same kind when there is one.
   * @param {PublishEntry} e
   * @returns {RTCRtpTransceiver}
   */
  attach(e) {
    const pc = this.ensurePub();
    if (this.transceiverFor(e.source)) throw new Error(`${e.source} is already published`);
    const layered = this.simulcast && e.source === 'camera';
    // A spare transceiver keeps the encodings it was made with: a camera needs
    // a layered one, anything else a single-layer one.
    const spare = pc.getTransceivers().find(
      (t) => !this.pubSources.has(t) && t.sender && t.receiver.track.kind === e.kind && !isStopped(t) &&
        (t.sender.getParameters().encodings || []).length === (layered ? SIMULCAST.length : 1),
    );
    let t;
    if (spare) {
      t = spare;
      t.direction = 'sendonly';
      t.sender.replaceTrack(e.track);
      t.sender.setStreams(e.stream);
    } else {
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: 'sendonly', streams: [e.stream] };
      if (layered) init.sendEncodings = SIMULCAST.map((l) => ({ ...l }));
      t = pc.addTransceiver(e.track || e.kind, init);
    }
    if (e.kind === 'video' && this.videoCodec) preferCodec(t, this.videoCodec);
    // A spare transceiver keeps the transform it got when it was made.
    if (this.transforms) this.transforms.attachSender(t, e.kind);
    this.pubSources.set(t, e.source);
    return t;
  }

  /**
   * Publishes one more source (e.g. a screen share); renegotiates.
   * @param {PublishEntry} e
   */
  async addSource(e) {
    this.attach(e);
    await this.negotiate();
  }

  /**
   * Stops publishing a source; its transceiver becomes spare. Renegotiates.
   * @param {Source} source
   */
  async removeSource(source) {
    const t = this.transceiverFor(source);
    if (!t) return;
    this.pubSources.delete(t);
    try {
      await t.sender.replaceTrack(null);
    } catch {
      /* connection closing */
    }
    t.direction = 'inactive';
    await this.negotiate();
  }

  /**
   * Swaps the track a source sends, without renegotiation (camera off/on, device change).
   * @param {Source} source
   * @param {MediaStreamTrack | null} track
   * @returns {Promise<boolean>} false when the source has no transceiver
   */
  async replaceTrack(source, track) {
    const t = this.transceiverFor(source);
    if (!t) return false;
    await t.sender.replaceTrack(track);
    return true;
  }

  /**
   * @param {Source} source
   * @returns {RTCRtpTransceiver | null}
   */
  transceiverFor(source) {
    for (const [t, src] of this.pubSources) if (src === source) return t;
    return null;
  }

  /** @param {Source} source */
  hasSource(source) {
    return !!this.transceiverFor(source);
  }

  /** @returns {Record<string, Source>} mid -> source for every published transceiver */
  pubTrackMap() {
    /** @type {Record<string, Source>} */
    const map = {};
    for (const [t, src] of this.pubSources) if (t.mid != null) map[t.mid] = src;
    return map;
  }

  /**
   * Runs a pub negotiation; concurrent calls fold into one more round.
   * @returns {Promise<void>}
   */
  negotiate() {
    if (this.pubInFlight) {
      this.pubAgain = true;
      return this.pubInFlight;
    }
    const run = async () => {
      try {
        do {
          this.pubAgain = false;
          await this.negotiateOnce();
        } while (this.pubAgain && !this.closed);
      } finally {
        this.pubInFlight = null;
      }
    };
    this.pubInFlight = run();
    return this.pubInFlight;
  }

  async negotiateOnce() {
    const pc = this.pub;
    if (!pc || this.closed) return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const tracks = this.pubTrackMap();
    const answered = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pubWaiter = null;
        reject(new Error('the server did not answer the publish offer'));
      }, ANSWER_TIMEOUT_MS);
      this.pubWaiter = {
        resolve: (sdp) => {
          clearTimeout(timer);
          resolve(sdp);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
    const sdp = pc.localDescription ? pc.localDescription.sdp : offer.sdp;
    this.sig.send({ type: 'offer', pc: 'pub', sdp, tracks });
    let answer;
    try {
      answer = /** @type {string} */ (await answered);
    } catch (err) {
      if (pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
      throw err;
    }
    if (this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: withOpusDTX(answer) });
    await this.flushCandidates('pub');
  }

  /**
   * The server refused the last pub offer (an `error` with ref `offer`).
   * @param {string} message
   */
  pubOfferFailed(message) {
    if (this.pubWaiter) {
      const w = this.pubWaiter;
      this.pubWaiter = null;
      w.reject(new Error(message));
    }
  }

  // ---- subscribing ------------------------------------------------------------------

  /** @returns {RTCPeerConnection} */
  ensureSub() {
    if (this.sub) return this.sub;
    const pc = new RTCPeerConnection(this.pcConfig());
    pc.onicecandidate = (ev) => this.sendCandidate('sub', ev.candidate);
    pc.ontrack = (ev) => {
      // Before any frame reaches the decoder (the streams API wants it in this event).
      if (this.transforms) this.transforms.attachReceiver(ev.transceiver);
      this.queueReconcile();
    };
    pc.onconnectionstatechange = () => this.onConnectionState('sub', pc.connectionState);
    this.sub = pc;
    return pc;
  }

  /**
   * Handles an `offer` (only the server offers, on `sub`).
   * @param {{pc?: string, sdp: string, tracks?: Record<string, TrackOwner>}} msg
   * @returns {Promise<void>}
   */
  handleOffer(msg) {
    const job = this.subChain.then(async () => {
      if (this.closed) return;
      const pc = this.ensureSub();
      // The map applies before setRemoteDescription, so ontrack sees the new owners.
      this.subTracks = msg.tracks && typeof msg.tracks === 'object' ? msg.tracks : {};
      if (this.transforms) this.transforms.setOwners(this.subTracks);
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      if (this.transforms) for (const t of pc.getTransceivers()) this.transforms.attachReceiver(t);
      await this.flushCandidates('sub');
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      const sdp = pc.localDescription ? pc.localDescription.sdp : answer.sdp;
      this.sig.send({ type: 'answer', pc: 'sub', sdp });
      this.reconcile();
    });
    this.subChain = job.catch((err) => console.error('parley: sub negotiation failed', err));
    return job;
  }

  /**
   * Handles an `answer` (only on `pub`).
   * @param {{pc?: string, sdp: string}} msg
   */
  handleAnswer(msg) {
    if (msg.pc !== 'pub' && msg.pc !== undefined) return;
    if (!this.pubWaiter) {
      console.warn('parley: an answer came with no offer pending');
      return;
    }
    const w = this.pubWaiter;
    this.pubWaiter = null;
    w.resolve(msg.sdp);
  }

  /**
   * Handles a remote ICE candidate; queues it until its connection has a remote description.
   * @param {{pc?: string, candidate?: RTCIceCandidateInit | null}} msg
   */
  async handleCandidate(msg) {
    const name = msg.pc === 'sub' ? 'sub' : msg.pc === 'pub' ? 'pub' : null;
    if (!name || !msg.candidate || !msg.candidate.candidate) return;
    const pc = name === 'pub' ? this.pub : this.sub;
    if (!pc || !pc.remoteDescription) {
      this.pendingCandidates[name].push(msg.candidate);
      return;
    }
    try {
      await pc.addIceCandidate(msg.candidate);
    } catch (err) {
      console.warn('parley: bad remote candidate', err);
    }
  }

  /** @param {PCName} name */
  async flushCandidates(name) {
    const pc = name === 'pub' ? this.pub : this.sub;
    if (!pc || !pc.remoteDescription) return;
    const list = this.pendingCandidates[name];
    this.pendingCandidates[name] = [];
    for (const c of list) {
      try {
        await pc.addIceCandidate(c);
      } catch (err) {
        console.warn('parley: bad queued candidate', err);
      }
    }
  }

  /**
   * @param {PCName} name
   * @param {RTCIceCandidate | null} c
   */
  sendCandidate(name, c) {
    if (!c || !c.candidate) return; // end of candidates: the protocol has no message for it
    this.sig.send({ type: 'candidate', pc: name, candidate: c.toJSON() });
  }

  queueReconcile() {
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    queueMicrotask(() => {
      this.reconcileQueued = false;
      this.reconcile();
    });
  }

  /** Reports what the sub connection carries now, from its transceivers and the latest map. */
  reconcile() {
    if (!this.closed) this.onRemoteTracks(this.remoteTracks());
  }

  /** @returns {RemoteTrack[]} */
  remoteTracks() {
    /** @type {RemoteTrack[]} */
    const out = [];
    if (!this.sub) return out;
    for (const t of this.sub.getTransceivers()) {
      if (t.mid == null || isStopped(t)) continue;
      const owner = this.subTracks[t.mid];
      // The interpretation track belongs to no participant; every other track has an owner.
      if (!owner || (!owner.participant && owner.source !== 'interpretation')) continue;
      const track = t.receiver.track;
      out.push({
        mid: t.mid,
        participant: owner.participant || '',
        identity: owner.identity || '',
        source: owner.source,
        kind: track.kind,
        track,
      });
    }
    return out;
  }

  // ---- statistics -------------------------------------------------------------------

  /** @returns {Promise<InboundStat[]>} one per inbound-rtp stream whose mid is in the map */
  async inbound() {
    /** @type {InboundStat[]} */
    const out = [];
    const pc = this.sub;
    if (!pc) return out;
    const byTrackId = new Map();
    for (const t of pc.getTransceivers()) if (t.mid != null) byTrackId.set(t.receiver.track.id, t.mid);
    const report = await pc.getStats();
    report.forEach((/** @type {any} */ s) => {
      if (s.type !== 'inbound-rtp') return;
      const mid = s.mid != null ? String(s.mid) : byTrackId.get(s.trackIdentifier);
      const owner = mid != null ? this.subTracks[mid] : undefined;
      if (!owner) return;
      out.push({
        participant: owner.participant || '',
        identity: owner.identity || '',
        source: owner.source,
        kind: s.kind || s.mediaType,
        mid,
        bytesReceived: s.bytesReceived || 0,
        packetsReceived: s.packetsReceived || 0,
        framesDecoded: s.framesDecoded || 0,
        frameWidth: s.frameWidth || 0,
        frameHeight: s.frameHeight || 0,
        freezeCount: s.freezeCount || 0,
        totalFreezesDuration: s.totalFreezesDuration || 0,
        packetsLost: s.packetsLost || 0,
        nackCount: s.nackCount || 0,
        rtxReceived: s.retransmittedPacketsReceived || 0,
        framesReceived: s.framesReceived || 0,
        framesDropped: s.framesDropped || 0,
        keyFramesDecoded: s.keyFramesDecoded || 0,
        pliCount: s.pliCount || 0,
        codec: (s.codecId && report.get(s.codecId) && report.get(s.codecId).mimeType) || '',
      });
    });
    return out;
  }

  /** @returns {Promise<OutboundStat[]>} */
  async outbound() {
    /** @type {OutboundStat[]} */
    const out = [];
    const pc = this.pub;
    if (!pc) return out;
    const map = this.pubTrackMap();
    const report = await pc.getStats();
    report.forEach((/** @type {any} */ s) => {
      if (s.type !== 'outbound-rtp') return;
      const mid = s.mid != null ? String(s.mid) : '';
      out.push({
        mid,
        source: map[mid] || null,
        kind: s.kind || s.mediaType,
        bytesSent: s.bytesSent || 0,
        packetsSent: s.packetsSent || 0,
      });
    });
    return out;
  }

  /**
   * Audio level (0..1) of every subscribed audio track, by mid.
   * @returns {Promise<Map<string, number>>}
   */
  async audioLevels() {
    /** @type {Map<string, number>} */
    const levels = new Map();
    const pc = this.sub;
    if (!pc) return levels;
    const report = await pc.getStats();
    report.forEach((/** @type {any} */ s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.mid != null && typeof s.audioLevel === 'number') {
        levels.set(String(s.mid), s.audioLevel);
      }
    });
    return levels;
  }

  /** Closes both connections. */
  close() {
    this.closed = true;
    if (this.pubWaiter) this.pubOfferFailed('the session closed');
    for (const pc of [this.pub, this.sub]) {
      if (!pc) continue;
      pc.onicecandidate = null;
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    this.pub = null;
    this.sub = null;
    this.pubSources.clear();
    this.subTracks = {};
  }
}

/**
 * @param {RTCRtpTransceiver} t
 * @returns {boolean}
 */
function isStopped(t) {
  return /** @type {any} */ (t).currentDirection === 'stopped' || /** @type {any} */ (t).stopped === true;
}
