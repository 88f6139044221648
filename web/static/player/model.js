// The record player's model: what a record's log says, turned into what the page shows.
// Pure functions of the log (GET /records/ID/log); no DOM. Times are seconds since the
// record began (its record-start entry), the one clock of the page.

/**
 * One line of the log as the server sends it (record.Line: record.Entry and its hash).
 * @typedef {Object} LogLine
 * @property {number} seq
 * @property {string} time RFC 3339
 * @property {string} type
 * @property {string} hash hex SHA-256 of the line: what a citation names
 * @property {string} [participant]
 * @property {string} [identity]
 * @property {Record<string, string>} [data]
 * @property {string} [file]
 * @property {number} [of] countersign: the checkpoint's seq
 * @property {boolean} [final]
 * @property {string} [key]
 */

/**
 * @typedef {Object} Log
 * @property {string} record
 * @property {string} room
 * @property {string} began
 * @property {LogLine[]} events
 * @property {string} [end] hash of the record's end marker, when it has one
 */

/** @typedef {{from: number, to: number}} Span */

/**
 * @typedef {Object} Person
 * @property {string} identity
 * @property {string} name
 * @property {number} index order of first appearance (colours)
 * @property {boolean} interpreter spoke into an interpretation channel
 * @property {Span[]} present
 * @property {Span[]} muted the microphone muted
 * @property {Array<Span & {channel: string, language: string}>} speaking what the speaking time counts (see speakingSource)
 * @property {Span[]} floor when they held the floor, by the active-speaker changes
 */

/**
 * @typedef {Object} MediaFile
 * @property {string} file path in the record, media/NAME.webm
 * @property {string} name NAME.webm, as the media route takes it
 * @property {string} identity
 * @property {string} source mic, camera, screen, screen-audio
 * @property {'audio' | 'video'} kind
 * @property {number} offset when the file's first frame was recorded
 * @property {number} duration
 */

/**
 * @typedef {Object} TimelineEvent
 * @property {number} seq
 * @property {string} hash
 * @property {number} t
 * @property {string} type
 * @property {string} lane an identity, or '' for the record's own lane
 * @property {string} label what happened, in words (also the accessible name)
 * @property {boolean} minor dense bookkeeping (checkpoints, countersignatures): drawn, not tab stops
 */

/**
 * @typedef {Object} Utterance
 * @property {number} seq
 * @property {string} hash
 * @property {number} from
 * @property {number} to
 * @property {string} identity
 * @property {string} channel
 * @property {string} language
 * @property {string} text
 * @property {boolean} chat a chat line, not speech
 */

/**
 * @typedef {Object} Model
 * @property {string} record
 * @property {string} room
 * @property {Date} began
 * @property {number} duration
 * @property {boolean} ended the record has its end marker
 * @property {string} end
 * @property {Person[]} people
 * @property {MediaFile[]} files
 * @property {string[]} channels interpretation channels, in order of first use
 * @property {Array<Span & {identity: string, channel: string}>} interpreting
 * @property {TimelineEvent[]} events
 * @property {Utterance[]} utterances speech (transcript) and chat, by time
 * @property {'transcript' | 'speaker' | 'none'} speakingSource
 * @property {boolean} encrypted
 * @property {string} encryptedWhy
 * @property {LogLine[]} lines
 * @property {(seq: number) => number} seqTime the time of an event by its seq (the nearest before it, for a line left out)
 */

/** Events of the record itself, drawn in its own lane whoever caused them. */
const RECORD_LANE = new Set(['recording-start', 'recording-stop', 'record-start', 'record-stop', 'record-end', 'checkpoint', 'settings']);

/**
 * The characters record.safe keeps in a file name; every other becomes '_'.
 * @param {string} s
 */
function safe(s) {
  return s.replace(/[^a-zA-Z0-9._-]/g, '_');
}

/**
 * @param {number} s seconds
 * @returns {string} h:mm:ss or m:ss
 */
export function clock(s) {
  const n = Math.max(0, Math.floor(s));
  const h = Math.floor(n / 3600);
  const m = Math.floor(n / 60) % 60;
  const sec = String(n % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * @param {number} s seconds
 * @returns {string} "1 h 5 min", "3 min 20 s", "12 s"
 */
export function span(s) {
  const n = Math.round(s);
  if (n >= 3600) return `${Math.floor(n / 3600)} h ${Math.floor(n / 60) % 60} min`;
  if (n >= 60) return `${Math.floor(n / 60)} min ${n % 60} s`;
  return `${n} s`;
}

/**
 * Merges overlapping spans and sums them.
 * @param {Span[]} spans
 */
export function total(spans) {
  const s = [...spans].sort((a, b) => a.from - b.from);
  let sum = 0;
  let cur = /** @type {Span | null} */ (null);
  for (const x of s) {
    if (cur && x.from <= cur.to) cur.to = Math.max(cur.to, x.to);
    else {
      if (cur) sum += cur.to - cur.from;
      cur = { from: x.from, to: x.to };
    }
  }
  if (cur) sum += cur.to - cur.from;
  return sum;
}

/**
 * Builds the model of a record from its log.
 * @param {Log} log
 * @returns {Model}
 */
export function buildModel(log) {
  const lines = log.events;
  const began = new Date(log.began);
  const t0 = began.getTime();
  /** @param {string} iso */
  const at = (iso) => (Date.parse(iso) - t0) / 1000;
  const last = lines.length ? at(lines[lines.length - 1].time) : 0;
  const duration = Math.max(last, 0.001);

  /** @type {Map<string, Person>} */
  const people = new Map();
  /** @param {string} identity */
  const person = (identity) => {
    let p = people.get(identity);
    if (!p) {
      p = { identity, name: identity, index: people.size, interpreter: false, present: [], muted: [], speaking: [], floor: [] };
      people.set(identity, p);
    }
    return p;
  };
  /** @type {Map<string, number>} identity -> since (open presence) */
  const here = new Map();
  /** @type {Map<string, number>} identity -> since (mic muted) */
  const mutedSince = new Map();
  /** @type {Map<string, {identity: string, channel: string, since: number}>} identity -> open interpretation */
  const onAir = new Map();
  /** @type {Model['interpreting']} */
  const interpreting = [];
  /** @type {string[]} */
  const channels = [];
  /** @type {Map<string, {identity: string, source: string, kind: 'audio' | 'video'}>} file path -> owner */
  const tracks = new Map();
  /** @type {Map<string, {from: number, to: number | null}>} */
  const fileTimes = new Map();
  /** @type {TimelineEvent[]} */
  const events = [];
  /** @type {Utterance[]} */
  const utterances = [];
  /** @type {Array<{t: number, identity: string}>} */
  const speakerChanges = [];
  let encrypted = false;
  let encryptedWhy = '';

  /**
   * @param {LogLine} l
   * @param {number} t
   * @param {string} label
   * @param {boolean} [minor]
   */
  const add = (l, t, label, minor = false) =>
    events.push({ seq: l.seq, hash: l.hash, t, type: l.type, lane: RECORD_LANE.has(l.type) ? '' : l.identity || '', label, minor });

  for (const l of lines) {
    const t = at(l.time);
    const d = l.data || {};
    const who = l.identity ? person(l.identity) : null;
    switch (l.type) {
      case 'record-start':
        add(l, t, 'The record begins');
        break;
      case 'recording-start':
        add(l, t, who ? `Recording started by ${who.name}` : 'Recording started');
        break;
      case 'recording-stop':
        add(l, t, who ? `Recording stopped by ${who.name}` : 'Recording stopped');
        break;
      case 'record-stop':
        add(l, t, 'The recorder stopped');
        break;
      case 'record-end':
        add(l, t, 'The server’s end marker closes the record');
        break;
      case 'checkpoint':
        add(l, t, l.final ? `The server seals the record (checkpoint ${l.seq})` : `The server signs events 1–${l.seq - 1} (checkpoint ${l.seq})`, !l.final);
        break;
      case 'countersign':
        if (who) add(l, t, `${who.name} countersigns events 1–${(l.of || 1) - 1}`, true);
        break;
      case 'key':
        if (who) add(l, t, `${who.name}’s browser announces its signing key`, true);
        break;
      case 'join':
        if (!who || !l.identity) break;
        if (d.name) who.name = d.name;
        if (!here.has(l.identity)) here.set(l.identity, t);
        if (d.e2ee === 'true' && !encrypted) {
          encrypted = true;
          encryptedWhy = `${who.name} joined encrypting end to end`;
        }
        add(l, t, d.present === 'true' ? `${who.name} is here as recording starts` : d.resumed === 'true' ? `${who.name} reconnects` : `${who.name} joins`);
        break;
      case 'leave': {
        if (!who || !l.identity) break;
        const since = here.get(l.identity);
        if (since !== undefined) who.present.push({ from: since, to: t });
        here.delete(l.identity);
        closeMute(l.identity, t);
        closeAir(l.identity, t);
        add(l, t, `${who.name} leaves${d.reason && d.reason !== 'left' ? ` (${d.reason})` : ''}`);
        break;
      }
      case 'reconnecting':
        if (who) add(l, t, `${who.name}’s connection drops`);
        break;
      case 'publish':
        if (who && l.identity && d.track && d.source) {
          const file = `media/${safe(l.identity)}-${safe(d.source)}-${safe(d.track)}.webm`;
          tracks.set(file, { identity: l.identity, source: d.source, kind: d.kind === 'video' ? 'video' : 'audio' });
        }
        break;
      case 'mute':
        if (!who || !l.identity) break;
        if (d.source === 'mic' && d.muted === 'true' && !mutedSince.has(l.identity)) mutedSince.set(l.identity, t);
        if (d.source === 'mic' && d.muted === 'false') closeMute(l.identity, t);
        add(l, t, `${who.name} ${d.muted === 'true' ? 'mutes' : 'unmutes'} ${d.source === 'camera' ? 'the camera' : d.source === 'mic' ? 'the microphone' : d.source || ''}${d.by ? ` (by ${d.by})` : ''}`);
        break;
      case 'chat':
        if (!who || !l.identity) break;
        if ((d.text || '').startsWith('e2ee2:') && !encrypted) {
          encrypted = true;
          encryptedWhy = 'its chat is sealed end to end';
        }
        utterances.push({ seq: l.seq, hash: l.hash, from: t, to: t, identity: l.identity, channel: 'chat', language: '', text: d.text || '', chat: true });
        add(l, t, `${who.name} in chat: ${d.text || ''}`);
        break;
      case 'listen':
        if (who) add(l, t, `${who.name} listens to ${d.channel === 'floor' ? 'the floor' : (d.channel || '').toUpperCase()}`);
        break;
      case 'interpret':
        if (!who || !l.identity) break;
        closeAir(l.identity, t);
        if (d.channel) {
          who.interpreter = true;
          onAir.set(l.identity, { identity: l.identity, channel: d.channel, since: t });
          if (!channels.includes(d.channel)) channels.push(d.channel);
        }
        add(l, t, d.channel ? `${who.name} interprets into ${d.channel.toUpperCase()}` : `${who.name} stops interpreting`);
        break;
      case 'speaker':
        if (who && l.identity) speakerChanges.push({ t, identity: l.identity });
        break;
      case 'transcript':
        if (!who || !l.identity) break;
        utterances.push({
          seq: l.seq, hash: l.hash, from: d.start ? at(d.start) : t, to: d.end ? at(d.end) : t,
          identity: l.identity, channel: d.channel || 'floor', language: d.language || '', text: d.text || '', chat: false,
        });
        break;
      case 'file-start':
        if (l.file) fileTimes.set(l.file, { from: t, to: null });
        break;
      case 'file-end': {
        const f = l.file && fileTimes.get(l.file);
        if (f) f.to = t;
        break;
      }
      case 'settings':
        if (d.e2ee_required === 'true') {
          encrypted = true;
          encryptedWhy = 'the room admitted only end-to-end encrypted participants';
        }
        add(l, t, `The operator changes the room’s settings`);
        break;
      case 'grants':
        if (who) add(l, t, `${who.name}’s grants change: ${d.grants || 'none'}`);
        break;
      case 'viewer-start':
      case 'viewer-stop':
        add(l, t, l.type === 'viewer-start' ? 'A WHEP viewer starts watching' : 'A WHEP viewer stops watching');
        break;
    }
  }
  for (const [id, since] of here) person(id).present.push({ from: since, to: duration });
  for (const id of [...mutedSince.keys()]) closeMute(id, duration);
  for (const id of [...onAir.keys()]) closeAir(id, duration);

  /** @param {string} id @param {number} t */
  function closeMute(id, t) {
    const since = mutedSince.get(id);
    if (since === undefined) return;
    person(id).muted.push({ from: since, to: t });
    mutedSince.delete(id);
  }
  /** @param {string} id @param {number} t */
  function closeAir(id, t) {
    const a = onAir.get(id);
    if (!a) return;
    if (t > a.since) interpreting.push({ identity: id, channel: a.channel, from: a.since, to: t });
    onAir.delete(id);
  }

  // Who spoke when. The transcript's segments are measured speech (voice activity, with
  // channel and language, interpreters included), so speaking time counts them when the record
  // has them. The active-speaker changes say who held the floor from one change to the next
  // (cut by their leaving or muting): pauses included, interpreters never; the timeline shows
  // them always, and speaking time counts them when there is no transcript. (A transcript
  // holds only what its engine recognised: a segment it dropped or heard as nothing is absent.)
  for (let i = 0; i < speakerChanges.length; i++) {
    const c = speakerChanges[i];
    const p = person(c.identity);
    let to = i + 1 < speakerChanges.length ? speakerChanges[i + 1].t : duration;
    // The floor is theirs until they leave or mute, if that comes first.
    for (const s of p.present) if (s.to > c.t && s.to < to) to = s.to;
    for (const s of p.muted) if (s.from > c.t && s.from < to) to = s.from;
    if (to > c.t) p.floor.push({ from: c.t, to });
  }
  const speech = utterances.filter((u) => !u.chat);
  /** @type {Model['speakingSource']} */
  let speakingSource = 'none';
  if (speech.length) {
    speakingSource = 'transcript';
    for (const u of speech) person(u.identity).speaking.push({ from: u.from, to: Math.max(u.to, u.from), channel: u.channel, language: u.language });
  } else if (speakerChanges.length) {
    speakingSource = 'speaker';
    for (const p of people.values()) p.speaking = p.floor.map((s) => ({ ...s, channel: 'floor', language: '' }));
  }
  utterances.sort((a, b) => a.from - b.from || a.seq - b.seq);

  /** @type {MediaFile[]} */
  const files = [];
  for (const [file, ft] of fileTimes) {
    const name = file.startsWith('media/') ? file.slice(6) : file;
    let owner = tracks.get(file);
    if (!owner) {
      // A file no publish event names (a log cut short): its name still says whose it is.
      const m = /^(.*)-(mic|camera|screen|screen-audio)-[^-]+-T\d+\.webm$/.exec(name);
      owner = { identity: m ? m[1] : name, source: m ? m[2] : 'mic', kind: m && (m[2] === 'camera' || m[2] === 'screen') ? 'video' : 'audio' };
    }
    files.push({ file, name, identity: owner.identity, source: owner.source, kind: owner.kind, offset: ft.from, duration: Math.max((ft.to ?? duration) - ft.from, 0) });
  }

  const seqs = lines.map((l) => l.seq);
  const times = lines.map((l) => at(l.time));
  /** @param {number} seq */
  const seqTime = (seq) => {
    let lo = 0;
    let hi = seqs.length - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid] <= seq) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return times[best] ?? 0;
  };

  return {
    record: log.record, room: log.room, began, duration, ended: !!log.end, end: log.end || '',
    people: [...people.values()], files, channels, interpreting, events, utterances, speakingSource,
    encrypted, encryptedWhy, lines, seqTime,
  };
}

/**
 * Speaking time per participant and per language (or channel), in seconds.
 * @param {Model} m
 */
export function speakingTime(m) {
  const perPerson = m.people
    .map((p) => ({ identity: p.identity, name: p.name, index: p.index, seconds: total(p.speaking) }))
    .filter((p) => p.seconds > 0 || m.people.length <= 12);
  /** @type {Map<string, {key: string, label: string, seconds: number, spans: Span[]}>} */
  const per = new Map();
  for (const p of m.people) {
    for (const s of p.speaking) {
      const interp = s.channel !== 'floor';
      const lang = (interp ? s.channel : s.language) || '';
      const key = `${interp ? 'i' : 'f'}:${lang}`;
      const label = interp ? `${lang.toUpperCase()} interpretation` : lang ? `${lang.toUpperCase()} on the floor` : 'Floor';
      let e = per.get(key);
      if (!e) per.set(key, (e = { key, label, seconds: 0, spans: [] }));
      e.spans.push(s);
    }
  }
  const perLanguage = [...per.values()].map((e) => ({ key: e.key, label: e.label, seconds: total(e.spans) }));
  perLanguage.sort((a, b) => b.seconds - a.seconds);
  return { perPerson, perLanguage };
}

/**
 * Whether an interpreter is on air in channel at t.
 * @param {Model} m
 * @param {string} channel
 * @param {number} t
 * @param {string} [identity] only this interpreter
 */
export function onAir(m, channel, t, identity) {
  return m.interpreting.some((s) => s.channel === channel && t >= s.from && t < s.to && (!identity || s.identity === identity));
}
