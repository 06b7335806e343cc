/**
 * The sample hub's two wires (docs/hub-protocol.md): a v1 session on its own WebSocket, and a v2 link that
 * carries many sessions (§11): every text frame has a `session` field, every binary frame a one-byte length
 * and the session id in front, and sessions come and go with open/opened/close frames. Written from the
 * document, like wire.ts.
 */
import type { IncomingMessage } from "node:http";
import type { WebSocket } from "ws";
import type { HubRuntime, HubSession, SessionHandshake } from "./runtime.js";
import { CLOSE, type Frame, parseFrame, WireError } from "./wire.js";

export const SUBPROTOCOL_V2 = "switchyard-hub.v2";
const SERVER = "switchyard-sample-hub";

/** v1: the session is the WebSocket. */
export function openSocketSession(runtime: HubRuntime, ws: WebSocket, id: string, shadow: boolean, req: IncomingMessage): HubSession {
  const handshake: SessionHandshake = { headers: req.headers, address: req.socket.remoteAddress, eio: undefined };
  const session = runtime.open({ send: (frame) => ws.send(frame), close: (code, reason) => ws.close(code, reason) }, id, shadow, handshake);
  ws.on("message", (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
  ws.on("close", () => session.teardown());
  ws.on("error", () => session.teardown());
  ws.send(JSON.stringify({ type: "hello", version: 1, server: SERVER }));
  return session;
}

/** Session ids on a link: base64url, 1 to 64 characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One session's place on a link: frames get the session added; between pause and resume they wait. */
class LinkSessionWire {
  held: (string | Buffer)[] | undefined;
  open = true;

  constructor(
    private readonly link: HubLinkConnection,
    readonly id: string,
  ) {}

  send(frame: string | Buffer): void {
    if (!this.open) return;
    const framed =
      typeof frame === "string"
        ? `{"session":"${this.id}",${frame.slice(1)}`
        : Buffer.concat([Buffer.from([this.id.length]), Buffer.from(this.id, "latin1"), frame]);
    if (this.held !== undefined) this.held.push(framed);
    else this.link.ws.send(framed);
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.held = undefined;
    this.link.forget(this.id);
    this.link.ws.send(JSON.stringify({ type: "close", session: this.id, code, reason }));
  }

  resume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const frame of held) this.link.ws.send(frame);
  }
}

/** v2: a link from one gateway process, and the sessions on it. */
export class HubLinkConnection {
  private readonly sessions = new Map<string, { session: HubSession; wire: LinkSessionWire }>();

  constructor(
    private readonly runtime: HubRuntime,
    readonly ws: WebSocket,
  ) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      try {
        this.onMessage(data, isBinary);
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        ws.close(CLOSE.protocolError, error.message.slice(0, 120));
        this.teardown();
      }
    });
    ws.on("close", () => this.teardown());
    ws.on("error", () => this.teardown());
    ws.send(JSON.stringify({ type: "hello", version: 2, server: SERVER }));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  forget(id: string): void {
    this.sessions.delete(id);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      const length = data[0] ?? 0;
      const id = data.toString("latin1", 1, 1 + length);
      if (length === 0 || !SESSION_ID.test(id)) throw new WireError("binary frame without a session prefix");
      this.receive(this.sessions.get(id), data.subarray(1 + length), true, undefined);
      return;
    }
    const frame = parseFrame(data.toString("utf8"));
    const id = frame.session;
    if (typeof id !== "string" || !SESSION_ID.test(id)) {
      if (["open", "close", "pause", "resume", "connect", "event", "ack", "disconnect"].includes(frame.type))
        throw new WireError(`${frame.type} frame without a valid "session"`);
      return; // an unknown link-level frame
    }
    const entry = this.sessions.get(id);
    switch (frame.type) {
      case "open":
        this.open(id, frame);
        return;
      case "close":
        // The gateway ended the session: not answered.
        if (entry === undefined) return;
        entry.wire.open = false;
        this.sessions.delete(id);
        entry.session.teardown();
        return;
      case "pause":
        if (entry !== undefined) entry.wire.held ??= [];
        return;
      case "resume":
        entry?.wire.resume();
        return;
      default:
        // Frames of a session that ended may cross its close: ignored.
        this.receive(entry, data, false, frame);
    }
  }

  /** One session's frame: a bug in its handling ends that session (1011), never the link and its other sessions. */
  private receive(
    entry: { session: HubSession; wire: LinkSessionWire } | undefined,
    data: Buffer,
    isBinary: boolean,
    frame: Frame | undefined,
  ): void {
    if (entry === undefined) return;
    try {
      entry.session.receive(data, isBinary, frame);
    } catch (error) {
      if (error instanceof WireError) throw error;
      entry.wire.close(CLOSE.internal, "internal error");
      entry.session.teardown();
    }
  }

  private open(id: string, frame: Frame): void {
    const shadow = frame.shadow === true;
    if (this.sessions.has(id) || this.runtime.hasSession(id, shadow)) {
      this.ws.send(JSON.stringify({ type: "close", session: id, code: CLOSE.policy, reason: "duplicate session" }));
      return;
    }
    const wire = new LinkSessionWire(this, id);
    const handshake: SessionHandshake = {
      headers: isRecord(frame.headers) ? frame.headers : {},
      address: typeof frame.address === "string" ? frame.address : undefined,
      eio: typeof frame.eio === "number" ? frame.eio : undefined,
    };
    const session = this.runtime.open(wire, id, shadow, handshake);
    this.sessions.set(id, { session, wire });
    this.ws.send(JSON.stringify({ type: "opened", session: id }));
  }

  /** The link is gone: every session on it ends. */
  private teardown(): void {
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    for (const { session, wire } of entries) {
      wire.open = false;
      session.teardown();
    }
  }
}
