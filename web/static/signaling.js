// The signaling channel: one WebSocket to /ws carrying JSON messages (docs/protocol.md).
// It knows nothing about rooms or media; it connects, sends, and dispatches by `type`.

/**
 * @typedef {{type: string, [key: string]: any}} Message
 * @typedef {(msg: Message) => void} Handler
 */

/** how long a connection attempt may take before it counts as failed */
const CONNECT_TIMEOUT_MS = 8000;
/** a joined client pings this often when the server has said nothing */
const PING_EVERY_MS = 4000;
/** silence this long means the network is gone, even if no socket says so */
const DEAD_AFTER_MS = 12000;
/** redirects followed in a row (a cluster's node sending the join to the node hosting the room) */
const MAX_REDIRECTS = 3;

/**
 * The signaling URL of the node this page's joins go to, '' for the page's own node: the node a
 * redirect named, or the one that took the page in after its node was lost. Reconnections go
 * there while it answers (it holds the seat), and on (unreachable) when it does not.
 */
let nodeURL = '';

/**
 * The signaling URLs of the cluster's other live nodes, as the last welcome listed them. When the
 * page's node dies the others keep its seat for a while; a reconnection finds one of them here,
 * since the page's own origin may be the node that died.
 * @type {string[]}
 */
let nodes = [];

/**
 * The signaling URL of a node's base URL; '' unless it is http or https, the only schemes the
 * server names (anything else would be a mistake, or a page sent somewhere it must not go).
 * @param {unknown} base
 * @returns {string}
 */
function wsURL(base) {
  /** @type {URL} */
  let u;
  try {
    u = new URL(String(base));
  } catch {
    return '';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return '';
  return `${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}/ws`;
}

/**
 * A node could not be reached (its socket failed to open, or closed before a welcome): the next
 * join tries the node after it in the last welcome's list, then the page's own node, and round
 * again, until one answers. Without a list that is the page's own node, which says where the
 * room is now.
 * @param {string} url
 */
function unreachable(url) {
  const own = ownURL();
  const ring = [...new Set([...nodes, own])];
  const next = ring[(ring.indexOf(url) + 1) % ring.length];
  nodeURL = next === own ? '' : next;
}

export class Signaling {
  /** @param {string} url  e.g. wss://host/ws */
  constructor(url) {
    this.url = url;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {Map<string, Handler[]>} */
    this.handlers = new Map();
    /** @type {((ev: CloseEvent) => void) | null} called once when the socket closes */
    this.onclose = null;
    /** @type {((msg: Message) => void) | null} called for every message sent (test and debug hook) */
    this.onsend = null;
    this.closedByUs = false;
    /** when the server was last heard from; 0 before its first message */
    this.lastHeard = 0;
    this.lastSent = 0;
    /** @type {number} */
    this.liveness = 0;
    /** @type {Message | null} the join sent, sent again to the node a redirect names */
    this.joinMsg = null;
    this.redirects = 0;
    /** whether a welcome came: a node that closes before one did not take the page in */
    this.welcomed = false;
  }

  /**
   * Opens the socket.
   * @returns {Promise<void>} resolves when open, rejects when the connection fails
   */
  connect() {
    return this.openSocket(this.url).catch((err) => {
      unreachable(this.url);
      throw err;
    });
  }

  /**
   * Opens a socket to url and makes it this channel's.
   * @param {string} url
   * @returns {Promise<void>}
   */
  openSocket(url) {
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(url);
      this.ws = ws;
      // A network that drops packets silently leaves a socket connecting for minutes.
      const timer = setTimeout(() => {
        if (!opened) ws.close();
      }, CONNECT_TIMEOUT_MS);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        resolve();
      };
      ws.onmessage = (ev) => {
        this.heard();
        if (typeof ev.data !== 'string') return;
        /** @type {any} */
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          console.warn('parley: ignoring a message that is not JSON');
          return;
        }
        if (!msg || typeof msg.type !== 'string') return;
        if (msg.type === 'redirect' && this.ws === ws) {
          this.follow(msg);
          return;
        }
        if (msg.type === 'nodes' && this.ws === ws) {
          // The node is stopping: these are the nodes to come back through.
          nodes = Array.isArray(msg.nodes) ? msg.nodes.map(wsURL).filter((/** @type {string} */ u) => u) : nodes;
          return;
        }
        if (msg.type === 'welcome' && this.ws === ws) {
          // This node took the page in: later reconnections come back here, and go to the nodes
          // it lists if it is lost.
          this.welcomed = true;
          nodeURL = url === ownURL() ? '' : url;
          nodes = Array.isArray(msg.nodes) ? msg.nodes.map(wsURL).filter((/** @type {string} */ u) => u) : [];
        }
        this.dispatch(msg);
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        this.stopLiveness();
        if (this.ws === ws) this.ws = null;
        if (!opened) {
          reject(new Error('could not connect to the server'));
          return;
        }
        // Open, then closed before a welcome: a node on its way down, or one that lost the room.
        if (!this.welcomed) unreachable(url);
        if (this.onclose) this.onclose(ev);
      };
      ws.onerror = () => {
        // onclose follows and carries the outcome.
      };
    });
  }

  /** @returns {boolean} */
  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends one message. Messages sent while the socket is not open are dropped.
   * @param {Message | Record<string, any>} msg
   * @returns {boolean} whether the message was handed to the socket
   */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    if (msg.type === 'join') this.joinMsg = /** @type {Message} */ (msg);
    this.ws.send(JSON.stringify(msg));
    this.lastSent = Date.now();
    if (this.onsend) this.onsend(/** @type {Message} */ (msg));
    return true;
  }

  // A closed socket is not the only way a network fails: it can also go silent. From the
  // server's first message on (the join is done), the client pings when the line is quiet,
  // and a silence of DEAD_AFTER_MS ends the socket as a drop, so the app reconnects.
  heard() {
    const first = !this.lastHeard;
    this.lastHeard = Date.now();
    if (first) this.liveness = window.setInterval(() => this.checkLiveness(), 1000);
  }

  checkLiveness() {
    const now = Date.now();
    if (now - this.lastHeard > DEAD_AFTER_MS) {
      this.drop('the server stopped answering');
      return;
    }
    if (now - Math.max(this.lastHeard, this.lastSent) > PING_EVERY_MS) this.send({ type: 'ping' });
  }

  stopLiveness() {
    clearInterval(this.liveness);
    this.liveness = 0;
  }

  /**
   * Ends the socket as the network would have (abnormal closure, 1006): onclose hears of it
   * at once, without waiting for a closing handshake a dead network cannot complete.
   * @param {string} reason
   */
  drop(reason) {
    const ws = this.ws;
    if (!ws) return;
    this.stopLiveness();
    this.ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close();
    } catch {
      /* already closed */
    }
    console.warn('parley: signaling dropped:', reason);
    if (this.onclose) this.onclose(new CloseEvent('close', { code: 1006, reason }));
  }

  /**
   * Follows a redirect: the server says another node of its cluster hosts the room. The join goes
   * there, the same message on a new socket; the app sees one channel throughout. The URL is one
   * the server's cluster registered, and the page's Content-Security-Policy admits only those.
   * @param {Message} msg
   */
  follow(msg) {
    const url = wsURL(msg.url);
    const join = this.joinMsg;
    if (!url || !join || this.redirects >= MAX_REDIRECTS) {
      this.dispatch({ type: 'error', code: 'internal', ref: 'join', message: 'the servers of this meeting could not agree where it is held; try again in a moment' });
      this.close();
      return;
    }
    this.redirects++;
    const old = this.ws;
    if (old) {
      old.onclose = null;
      old.onmessage = null;
      try {
        old.close(1000);
      } catch {
        /* already closed */
      }
    }
    this.openSocket(url).then(
      () => {
        nodeURL = url;
        this.url = url;
        this.send(join);
      },
      () => {
        unreachable(url);
        this.stopLiveness();
        if (this.onclose) this.onclose(new CloseEvent('close', { code: 1006, reason: 'the node hosting the meeting cannot be reached' }));
      },
    );
  }

  /**
   * Registers a handler for a message type; `*` receives every message.
   * @param {string} type
   * @param {Handler} fn
   */
  on(type, fn) {
    const list = this.handlers.get(type) || [];
    list.push(fn);
    this.handlers.set(type, list);
  }

  /** @param {Message} msg */
  dispatch(msg) {
    const run = (/** @type {Handler[] | undefined} */ list) => {
      for (const fn of list || []) {
        try {
          fn(msg);
        } catch (err) {
          console.error('parley: handler for', msg.type, 'failed', err);
        }
      }
    };
    run(this.handlers.get(msg.type));
    run(this.handlers.get('*'));
  }

  /** Closes the socket without reporting it through onclose. */
  close() {
    this.closedByUs = true;
    this.stopLiveness();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }
}

/**
 * How long to wait before reconnect attempt number `attempt` (0 first), `elapsedMs` after the
 * connection dropped. While the server still holds the seat (20 s by default) coming back fast is
 * what matters: the wait grows to 1 s and no further, because every second of it is a second the
 * participant stays away after the network returns (an attempt into a dead network costs the
 * server nothing). Later attempts back off to 8 s. Jitter of ±20% keeps the clients of a
 * restarted server from all knocking at the same instant.
 * @param {number} attempt
 * @param {number} elapsedMs
 * @returns {number} milliseconds
 */
export function reconnectDelay(attempt, elapsedMs) {
  const cap = elapsedMs < 20000 ? 1000 : 8000;
  return Math.min(cap, 500 * 2 ** attempt) * (0.8 + 0.4 * Math.random());
}

/**
 * The signaling URL to join through: the page's own node's, or the node a redirect or a lost
 * node sent the page to.
 * @returns {string}
 */
export function signalingURL() {
  return nodeURL || ownURL();
}

/** @returns {string} the signaling URL of the node that served the page */
function ownURL() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}
