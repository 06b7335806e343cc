/**
 * A small socket.io-like server runtime on top of the hub protocol: sessions (one WebSocket each),
 * namespaces with middleware, sockets with event handlers and acks both ways, rooms and broadcasts.
 *
 * Rooms live where `RoomsAt` says. "gateway" (the default): a join or leave is a `join`/`leave` frame and a
 * broadcast is one `broadcast` frame (docs/hub-protocol.md §2.6); the gateway fans it out to every member,
 * on every gateway instance and, through its bridge, on the legacy servers, so rooms span both backends
 * and the hub sends one frame per broadcast instead of one per recipient. "hub": the v1 way, one `event`
 * frame per member, and rooms span this hub's sessions only. Either way the runtime keeps its own member
 * sets, for the member count a join answers with (as a socket.io node's local adapter would), and shadow
 * sessions (`x-switchyard-shadow: 1`) live in a world of their own (the gateway keeps their rooms apart
 * too).
 */
import { attachmentCount, CLOSE, encodeFrame, parseFrame, randomId, reconstruct, WireError, type Frame } from "./wire.js";

export type Ack = (...args: unknown[]) => void;
/** Where rooms and fan-out live: see the file comment. */
export type RoomsAt = "gateway" | "hub";
export type Handler = (...args: unknown[]) => void;

/** A middleware refusal: socket.io's `Error` with its `data`. */
export interface Refusal {
  readonly message: string;
  readonly data?: unknown;
}

export interface NamespaceDefinition {
  /** socket.io's `use()`: undefined accepts, a Refusal refuses. May fill `socket.data`. */
  readonly authorize?: (socket: HubSocket) => Refusal | undefined;
  readonly connection: (socket: HubSocket) => void;
}

/** Rooms of one world, per namespace. */
type Rooms = Map<string, Map<string, Set<HubSocket>>>;

const MAX_ATTACHMENTS = 1000;

export class HubSocket {
  readonly data: Record<string, unknown> = {};
  readonly rooms = new Set<string>();
  private readonly handlers = new Map<string, Handler>();
  private readonly acks = new Map<number, Ack>();
  connected = true;

  constructor(
    readonly id: string,
    readonly nsp: string,
    readonly auth: Readonly<Record<string, unknown>>,
    readonly query: Readonly<Record<string, unknown>>,
    readonly session: HubSession,
  ) {}

  get shadow(): boolean {
    return this.session.shadow;
  }

  on(event: string, handler: Handler): void {
    this.handlers.set(event, handler);
  }

  /** Emits to this socket; a function as last argument asks the client for an ack. */
  emit(event: string, ...args: unknown[]): void {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      const id = this.session.runtime.nextAckId(this.nsp);
      this.acks.set(id, last as Ack);
      this.session.send({ type: "event", nsp: this.nsp, id }, [event, ...args.slice(0, -1)]);
    } else {
      this.session.send({ type: "event", nsp: this.nsp }, [event, ...args]);
    }
  }

  join(room: string): void {
    if (this.session.runtime.roomsAt === "gateway" && !this.rooms.has(room))
      this.session.send({ type: "join", nsp: this.nsp, rooms: [room] });
    this.rooms.add(room);
    const nspRooms = this.session.rooms.get(this.nsp) ?? new Map<string, Set<HubSocket>>();
    this.session.rooms.set(this.nsp, nspRooms);
    const members = nspRooms.get(room) ?? new Set<HubSocket>();
    nspRooms.set(room, members);
    members.add(this);
  }

  leave(room: string): void {
    // A socket that is gone has left its rooms at the gateway already (the gateway's own disconnect handling).
    if (this.session.runtime.roomsAt === "gateway" && this.connected && this.rooms.has(room))
      this.session.send({ type: "leave", nsp: this.nsp, rooms: [room] });
    this.rooms.delete(room);
    const members = this.session.rooms.get(this.nsp)?.get(room);
    if (members === undefined) return;
    members.delete(this);
    if (members.size === 0) this.session.rooms.get(this.nsp)?.delete(room);
  }

  /** The sockets of this hub in a room of this socket's namespace and world (the gateway's other nodes not counted). */
  members(room: string): ReadonlySet<HubSocket> {
    return this.session.rooms.get(this.nsp)?.get(room) ?? new Set();
  }

  /** socket.io's `socket.to(room)` (everyone but this socket) and `io.to(room)` (everyone). */
  broadcast(room: string, includeSelf: boolean, event: string, ...args: unknown[]): void {
    if (this.session.runtime.roomsAt === "gateway") {
      // One frame on this socket's own link: it reaches every member after what this link sent before it.
      const except = includeSelf ? {} : { except: [this.id] };
      this.session.send({ type: "broadcast", nsp: this.nsp, rooms: [room], ...except }, [event, ...args]);
      return;
    }
    for (const member of [...this.members(room)]) {
      if (member !== this || includeSelf) member.emit(event, ...args);
    }
  }

  /** socket.io's `disconnect(close)`: this namespace only, or the whole session. */
  disconnect(close = false): void {
    if (!this.connected) return;
    if (close) {
      this.session.end(this.nsp);
      return;
    }
    this.session.send({ type: "disconnect", nsp: this.nsp });
    this.session.remove(this);
  }

  /** Leaves every room; the socket is gone. */
  cleanup(): void {
    this.connected = false;
    for (const room of [...this.rooms]) this.leave(room);
    this.acks.clear();
  }

  dispatch(frame: Frame, args: unknown[]): void {
    if (frame.type === "ack") {
      const ack = typeof frame.id === "number" ? this.acks.get(frame.id) : undefined;
      if (ack === undefined) return;
      this.acks.delete(frame.id as number);
      ack(...args);
      return;
    }
    const [event, ...rest] = args;
    const handler = typeof event === "string" ? this.handlers.get(event) : undefined;
    if (handler === undefined) return;
    if (typeof frame.id === "number") {
      const id = frame.id;
      let sent = false;
      rest.push((...reply: unknown[]) => {
        if (sent || !this.connected) return;
        sent = true;
        this.session.send({ type: "ack", nsp: this.nsp, id }, reply);
      });
    }
    handler(...rest);
  }
}

/**
 * How a session reaches its gateway: its own WebSocket (v1) or its place on a shared link (v2, link.ts). The
 * session does not care which; the wire calls receive() with the session's frames and teardown() when it is gone.
 */
export interface SessionWire {
  send(frame: string | Buffer): void;
  /** Ends the session towards the gateway (v1: closes the WebSocket; v2: a close frame). */
  close(code: number, reason: string): void;
}

/** What a v1 hub reads from the upgrade request and a v2 hub from the open frame. */
export interface SessionHandshake {
  readonly headers: Readonly<Record<string, unknown>>;
  readonly address: string | undefined;
  /** The client's Engine.IO revision (v2's open frame says; v1 does not). */
  readonly eio: number | undefined;
}

export class HubSession {
  readonly sockets = new Map<string, HubSocket>();
  readonly rooms: Rooms;
  private pending: { frame: Frame; expected: number; buffers: Buffer[] } | undefined;
  private ended = false;

  constructor(
    readonly runtime: HubRuntime,
    readonly wire: SessionWire,
    readonly id: string,
    readonly shadow: boolean,
    readonly handshake: SessionHandshake,
  ) {
    this.rooms = runtime.roomsOf(shadow);
  }

  /** A frame of this session from the gateway; `parsed`: a text frame already parsed (by a link). */
  receive(data: Buffer, isBinary: boolean, parsed?: Frame): void {
    try {
      this.onFrame(data, isBinary, parsed);
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      this.close(CLOSE.protocolError, error.message);
    }
  }

  send(frame: Record<string, unknown>, payload?: unknown[]): void {
    this.sendRaw(encodeFrame(frame, payload));
  }

  private sendRaw(frames: (string | Buffer)[]): void {
    if (this.ended) return;
    for (const frame of frames) this.wire.send(frame);
  }

  remove(socket: HubSocket): void {
    socket.cleanup();
    this.sockets.delete(socket.nsp);
  }

  /** The whole session ends (socket.disconnect(true)): the gateway disconnects every namespace. */
  end(nsp: string): void {
    this.send({ type: "disconnect", nsp, close: true });
    this.close(CLOSE.normal, "disconnected by the server");
  }

  close(code: number, reason: string): void {
    if (this.ended) return;
    this.teardown();
    this.wire.close(code, reason);
  }

  /** The session is gone (the gateway ended it, or its socket or link closed). */
  teardown(): void {
    if (this.ended) return;
    this.ended = true;
    for (const socket of this.sockets.values()) socket.cleanup();
    this.sockets.clear();
    this.runtime.forget(this);
  }

  private onFrame(data: Buffer, isBinary: boolean, parsed: Frame | undefined): void {
    if (this.ended) return;
    if (isBinary) {
      const pending = this.pending;
      if (pending === undefined) throw new WireError("binary frame without an announcing frame");
      pending.buffers.push(data);
      if (pending.buffers.length === pending.expected) {
        this.pending = undefined;
        this.handle(pending.frame, pending.buffers);
      }
      return;
    }
    if (this.pending !== undefined) throw new WireError("text frame while binary frames were expected");
    const frame = parsed ?? parseFrame(data.toString("utf8"));
    const expected = attachmentCount(frame, MAX_ATTACHMENTS);
    if (expected > 0) this.pending = { frame, expected, buffers: [] };
    else this.handle(frame, []);
  }

  private handle(frame: Frame, buffers: Buffer[]): void {
    const nsp = frame.nsp;
    // Unknown frame types are ignored (their binary frames were collected and are dropped with them).
    if (!["connect", "event", "ack", "disconnect"].includes(frame.type)) return;
    if (typeof nsp !== "string" || !nsp.startsWith("/")) throw new WireError(`${frame.type} frame without a valid "nsp"`);
    if (frame.type === "connect") {
      this.connect(nsp, frame);
      return;
    }
    const socket = this.sockets.get(nsp);
    if (socket === undefined) return; // crossed a server-side disconnect
    if (frame.type === "disconnect") {
      this.remove(socket);
      return;
    }
    if (!Array.isArray(frame.data)) throw new WireError(`${frame.type} frame without a "data" array`);
    // Placeholders mean something only in a frame with attachments (socket.io leaves them alone otherwise).
    socket.dispatch(frame, buffers.length > 0 ? (reconstruct(frame.data, buffers) as unknown[]) : frame.data);
  }

  private connect(nsp: string, frame: Frame): void {
    if (this.sockets.has(nsp)) throw new WireError(`second connect for ${nsp}`);
    const definition = this.runtime.namespaces.get(nsp);
    if (definition === undefined) {
      this.send({ type: "connect_error", nsp, code: "invalid_namespace", data: { message: "Invalid namespace" } });
      return;
    }
    // 2.x clients derive their socket id from the engine id: the gateway says which one to adopt.
    const sid = typeof frame.sid === "string" && frame.sid.length > 0 ? frame.sid : randomId();
    const auth = isRecord(frame.auth) ? frame.auth : {};
    const query = isRecord(frame.query) ? frame.query : {};
    const socket = new HubSocket(sid, nsp, auth, query, this);
    const refusal = definition.authorize?.(socket);
    if (refusal !== undefined) {
      const data = refusal.data === undefined ? { message: refusal.message } : { message: refusal.message, data: refusal.data };
      this.send({ type: "connect_error", nsp, data });
      return;
    }
    this.sockets.set(nsp, socket);
    this.send({ type: "connect", nsp, sid });
    definition.connection(socket);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class HubRuntime {
  constructor(readonly roomsAt: RoomsAt = "gateway") {}

  readonly namespaces = new Map<string, NamespaceDefinition>();
  /** Open sessions by world and session id. */
  private readonly sessions = { real: new Map<string, HubSession>(), shadow: new Map<string, HubSession>() };
  private readonly worlds = { real: new Map() as Rooms, shadow: new Map() as Rooms };
  /** socket.io numbers server→client acks per namespace. */
  private readonly ackIds = new Map<string, number>();

  of(nsp: string, definition: NamespaceDefinition): void {
    this.namespaces.set(nsp, definition);
  }

  roomsOf(shadow: boolean): Rooms {
    return shadow ? this.worlds.shadow : this.worlds.real;
  }

  nextAckId(nsp: string): number {
    const id = this.ackIds.get(nsp) ?? 0;
    this.ackIds.set(nsp, id + 1);
    return id;
  }

  hasSession(id: string, shadow: boolean): boolean {
    return (shadow ? this.sessions.shadow : this.sessions.real).has(id);
  }

  get sessionCount(): number {
    return this.sessions.real.size + this.sessions.shadow.size;
  }

  open(wire: SessionWire, id: string, shadow: boolean, handshake: SessionHandshake): HubSession {
    const session = new HubSession(this, wire, id, shadow, handshake);
    (shadow ? this.sessions.shadow : this.sessions.real).set(id, session);
    return session;
  }

  forget(session: HubSession): void {
    const sessions = session.shadow ? this.sessions.shadow : this.sessions.real;
    if (sessions.get(session.id) === session) sessions.delete(session.id);
  }

  closeAll(code: number, reason: string): void {
    for (const session of [...this.sessions.real.values(), ...this.sessions.shadow.values()]) session.close(code, reason);
  }
}
