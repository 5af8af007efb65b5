// The realtime room channel (docs/realtime.md, subprotocol synctv.v1): a one-time ticket from
// POST /api/tickets, the WebSocket, hello/welcome or replay from the last applied seq, the clock
// exchanges, commands and reports; reconnects with backoff unless the server said not to.
import { call } from "./api.js";
import { CLOCK_WINDOW, ClockEstimate, clientNow } from "./clock.js";

export const SUBPROTOCOL = "synctv.v1";
// Close codes after which retrying cannot help (docs/realtime.md, "Refusals").
const FINAL_CLOSES = new Set([4401, 4403, 4404, 4400]);

/**
 * @typedef {import("./sync.js").PlaybackState} PlaybackState
 * @typedef {{seq: string, type: string, payload: Record<string, any>, actor: string, at: number}} RoomEvent
 * @typedef {{room: {room: Record<string, any>, myRole: string | null, myPermissions: string[]},
 *   playback: PlaybackState, lastSeq: string, connectionId: string}} Welcome
 * @typedef {{
 *   welcome?: (welcome: Welcome) => void,
 *   event?: (event: RoomEvent) => void,
 *   playback?: (state: PlaybackState) => void,
 *   error?: (error: {code: string, message: string, opId?: string}) => void,
 *   status?: (status: "connecting" | "open" | "closed", detail?: string) => void,
 * }} Handlers
 * @typedef {{
 *   message?: (message: Record<string, any>) => void,
 *   status?: (status: "connecting" | "open" | "closed") => void,
 * }} Listener  a feature's view of the channel (chat, voice): every server message once (an
 *   event only when fresh), and the connection's ups and downs
 */

export class RoomChannel {
  /** @param {string} roomId @param {Handlers} handlers */
  constructor(roomId, handlers) {
    this.roomId = roomId;
    this.handlers = handlers;
    this.clock = new ClockEstimate();
    this.lastSeq = 0;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.closed = false;
    this.retries = 0;
    this.nextOp = 1;
    /** This connection's id (welcome.connectionId; voice learns its own from voiceJoined). */
    this.connectionId = "";
    /** @type {number | undefined} */
    this.timer = undefined;
    /** @type {Set<Listener>} */
    this.listeners = new Set();
    /** Refusals a feature waits for, by opId (shown there, not as the room's notice). @type {Map<string, (error: {code: string, message: string, details?: Record<string, any>}) => void>} */
    this.refusals = new Map();
  }

  /** @param {Listener} listener @returns {() => void} undoes it */
  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @param {"connecting" | "open" | "closed"} status @param {string} [detail] */
  setStatus(status, detail) {
    this.handlers.status?.(status, detail);
    for (const listener of this.listeners) listener.status?.(status);
  }

  /**
   * Send ``message`` with a fresh opId; a refusal of it goes to ``refused`` (not to the room's
   * error handler). Returns the opId.
   * @param {Record<string, unknown>} message
   * @param {(error: {code: string, message: string, details?: Record<string, any>}) => void} [refused]
   */
  request(message, refused) {
    const opId = `op${this.nextOp++}`;
    if (refused) {
      this.refusals.set(opId, refused);
      if (this.refusals.size > 64) this.refusals.delete(/** @type {string} */ (this.refusals.keys().next().value));
    }
    this.send({ opId, ...message });
    return opId;
  }

  /** Whether the socket is open (a feature's message would be sent now). */
  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  async open() {
    this.setStatus("connecting");
    let ticket;
    try {
      ticket = await call("POST", "/api/tickets", { roomId: this.roomId }, { roomId: this.roomId });
    } catch (error) {
      this.setStatus("closed", error instanceof Error ? error.message : String(error));
      return this.retry();
    }
    if (this.closed) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(this.roomId)}`
      + `?ticket=${encodeURIComponent(ticket.ticket)}`;
    const socket = new WebSocket(url, SUBPROTOCOL);
    this.socket = socket;
    socket.onopen = () => {
      this.retries = 0;
      this.send({ hello: { resumeFrom: String(this.lastSeq) } });
      // A sample a second until the window is full (the best of 8 spread over 8 s beats a
      // burst taken while the page is still loading), then one every 30 s.
      this.ping();
      this.timer = window.setInterval(() => {
        if (this.clock.samples.length < CLOCK_WINDOW || this.clock.due(clientNow())) this.ping();
      }, 1000);
      this.setStatus("open");
    };
    socket.onmessage = (message) => this.receive(JSON.parse(String(message.data)));
    socket.onclose = (closing) => {
      window.clearInterval(this.timer);
      if (this.socket !== socket) return;
      this.socket = null;
      this.setStatus("closed", closing.reason || `closed (${closing.code})`);
      // Too slow (4408) and network failures retry: a fresh snapshot or replay is the cure.
      if (!FINAL_CLOSES.has(closing.code)) this.retry();
    };
  }

  retry() {
    if (this.closed) return;
    const delay = Math.min(30_000, 500 * 2 ** this.retries++) * (0.5 + Math.random() / 2);
    setTimeout(() => this.open(), delay);
  }

  close() {
    this.closed = true;
    window.clearInterval(this.timer);
    this.socket?.close(1000);
    this.socket = null;
  }

  /** @param {Record<string, unknown>} message */
  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  ping() {
    this.send({ clock: { clientSent: clientNow() } });
  }

  /**
   * A playback command; returns its opId (echoed by the server's answer or error).
   * @param {Record<string, unknown>} command
   */
  command(command) {
    const opId = `op${this.nextOp++}`;
    this.send({ opId, playback: { clientSent: clientNow(), clockOffset: this.clock.offset, ...command } });
    return opId;
  }

  /** @param {{mediaId: string, position: number, buffering: boolean, drift: number}} report */
  report(report) {
    this.send({ report });
  }

  /** @param {Record<string, any>} message */
  receive(message) {
    if (message.event && Number(message.event.seq) <= this.lastSeq) return; // already applied (replay or snapshot overlap)
    if (message.welcome) this.connectionId = String(message.welcome.connectionId ?? "");
    this.dispatch(message);
    for (const listener of this.listeners) listener.message?.(message);
  }

  /** @param {Record<string, any>} message */
  dispatch(message) {
    if (message.clockAck) {
      const ack = message.clockAck;
      this.clock.add(ack.clientSent, ack.serverReceived, ack.serverSent, clientNow());
    } else if (message.welcome) {
      this.lastSeq = Number(message.welcome.lastSeq);
      this.handlers.welcome?.(message.welcome);
    } else if (message.event) {
      this.lastSeq = Number(message.event.seq);
      this.handlers.event?.(message.event);
      if (message.event.type === "playback_changed") this.handlers.playback?.(message.event.payload);
    } else if (message.playbackState) {
      this.handlers.playback?.(message.playbackState);
    } else if (message.chatAck) {
      this.refusals.delete(message.chatAck.opId); // stored: no refusal will come
    } else if (message.error) {
      const refused = this.refusals.get(message.error.opId);
      this.refusals.delete(message.error.opId);
      if (refused) refused(message.error);
      else this.handlers.error?.(message.error);
    } else if (message.termination) {
      this.setStatus("closed", message.termination.message || message.termination.reason);
      if (message.termination.reason !== "too_slow") this.closed = true;
    }
  }
}
