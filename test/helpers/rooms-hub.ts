/**
 * A small hub for the rooms tests, written from docs/hub-protocol.md §2.6: rooms and broadcasts are the
 * gateway's (join/leave/broadcast frames); the hub keeps no room state. Namespaces "/" and "/other".
 * Client events:
 * - `join` (room, ack?) / `leave` (room, ack?): a join/leave frame, then the ack (so a client that got
 *   the ack is in the room for every broadcast sent after it)
 * - `say` (room, body): broadcast `said` {from, ...body} to the room (the sender included)
 * - `say-others` (room, body): the same with `except: [sid]` (socket.io's socket.broadcast)
 * - `say-all` (body): `said` to the whole namespace
 * - `say-bin` (room, meta, bytes): a binary broadcast `bin` {from, ...meta}, bytes
 * - `say-except-room` (room, exceptRoom, body): `said` to room minus exceptRoom
 * - `echo` (...args, ack): answers with the args (a per-session event frame, for ordering tests)
 * - `where` (ack): answers "hub" (the load tests ask each session which backend holds it)
 * - `tell` (body): an event frame `told` to this session only, then a broadcast `said` to the session's
 *   own id room: both must reach the client in that order
 *
 * It speaks switchyard-hub.v2 (§11: every session of a gateway process over its links) when offered, like the
 * sample hub, and v1 (a WebSocket per session) otherwise.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { encodeFrame, parseFrame, randomId, reconstruct, SHADOW_HEADER, SUBPROTOCOL, type Frame } from "../../examples/hub/wire.js";

const SUBPROTOCOL_V2 = "switchyard-hub.v2";

export interface RoomsHub {
  readonly url: string;
  /** Frames the gateways sent, in arrival order (type and nsp), for tests that check what the hub was told. */
  readonly received: Frame[];
  /** WebSockets open to the hub: v1 sessions and v2 links. */
  readonly connectionCount: number;
  /** Open v2 links. */
  readonly linkCount: number;
  /** Sessions open now (real and shadow), over v1 sockets and v2 links alike. */
  sessionCount(shadow?: boolean): number;
  close(): Promise<void>;
}

/** "/hub-only" exists on the hub only (legacy nodes never subscribe to it). */
const NAMESPACES = new Set(["/", "/other", "/hub-only"]);

/** One session's frames, whatever carries them: answers through `write` (v1 frames; a v2 link adds the session). */
function roomsSession(received: Frame[], write: (part: string | Buffer) => void): (raw: Buffer, isBinary: boolean) => void {
  const sids = new Map<string, string>();
  let pending: { frame: Frame; expected: number; buffers: Buffer[] } | undefined;
  const send = (frame: Record<string, unknown>, payload?: unknown[]) => {
    for (const part of encodeFrame(frame, payload)) write(part);
  };
  const handle = (frame: Frame, buffers: Buffer[]) => {
    received.push(frame);
    const nsp = frame.nsp as string;
    if (frame.type === "connect") {
      if (!NAMESPACES.has(nsp)) return send({ type: "connect_error", nsp, code: "invalid_namespace" });
      const sid = typeof frame.sid === "string" ? frame.sid : randomId();
      sids.set(nsp, sid);
      return send({ type: "connect", nsp, sid });
    }
    if (frame.type === "disconnect") return sids.delete(nsp);
    if (frame.type !== "event") return;
    const sid = sids.get(nsp);
    if (sid === undefined) return;
    const data = (buffers.length > 0 ? reconstruct(frame.data, buffers) : frame.data) as unknown[];
    const [event, ...args] = data;
    const ack = (...reply: unknown[]) => {
      if (typeof frame.id === "number") send({ type: "ack", nsp, id: frame.id }, reply);
    };
    switch (event) {
      case "join":
      case "leave":
        send({ type: event, nsp, rooms: [args[0]] });
        return ack({ ok: true });
      case "say":
        return send({ type: "broadcast", nsp, rooms: [args[0]] }, ["said", { from: sid, ...(args[1] as object) }]);
      case "say-others":
        return send({ type: "broadcast", nsp, rooms: [args[0]], except: [sid] }, ["said", { from: sid, ...(args[1] as object) }]);
      case "say-all":
        return send({ type: "broadcast", nsp }, ["said", { from: sid, ...(args[0] as object) }]);
      case "say-except-room":
        return send({ type: "broadcast", nsp, rooms: [args[0]], except: [args[1]] }, ["said", { from: sid, ...(args[2] as object) }]);
      case "say-bin":
        return send({ type: "broadcast", nsp, rooms: [args[0]] }, ["bin", { from: sid, ...(args[1] as object) }, args[2]]);
      case "echo":
        return ack(...args);
      case "where":
        return ack("hub");
      case "tell":
        send({ type: "event", nsp }, ["told", args[0]]);
        return send({ type: "broadcast", nsp, rooms: [sid] }, ["said", { from: sid, ...(args[0] as object) }]);
    }
  };
  return (raw, isBinary) => {
    if (isBinary) {
      pending!.buffers.push(raw);
      if (pending!.buffers.length === pending!.expected) {
        const done = pending!;
        pending = undefined;
        handle(done.frame, done.buffers);
      }
      return;
    }
    const frame = parseFrame(raw.toString("utf8"));
    const expected = typeof frame.attachments === "number" ? frame.attachments : 0;
    if (expected > 0) pending = { frame, expected, buffers: [] };
    else handle(frame, []);
  };
}

interface OpenSession {
  readonly shadow: boolean;
}

/**
 * A v2 link (docs/hub-protocol.md §11): `open` → `opened`, frames routed by their `session` (binary frames by
 * their prefix), `close` both ways, a paused session's frames held until `resume` (§11.4).
 */
function serveLink(ws: WebSocket, received: Frame[], sessions: Set<OpenSession>): void {
  interface LinkSession {
    readonly entry: OpenSession;
    readonly receive: (raw: Buffer, isBinary: boolean) => void;
    /** Frames held while the gateway has the session paused. */
    held: (string | Buffer)[] | undefined;
  }
  const open = new Map<string, LinkSession>();
  const end = () => {
    for (const { entry } of open.values()) sessions.delete(entry);
    open.clear();
  };
  ws.on("close", end);
  ws.on("error", end);
  ws.on("message", (raw: Buffer, isBinary: boolean) => {
    if (isBinary) {
      const length = raw[0] ?? 0;
      open.get(raw.toString("latin1", 1, 1 + length))?.receive(raw.subarray(1 + length), true);
      return;
    }
    const frame = parseFrame(raw.toString("utf8"));
    const id = frame.session as string;
    if (frame.type === "open") {
      const prefix = Buffer.from([id.length, ...Buffer.from(id, "latin1")]);
      const write = (part: string | Buffer) => {
        const framed = typeof part === "string" ? `{"session":${JSON.stringify(id)},${part.slice(1)}` : Buffer.concat([prefix, part]);
        if (session.held !== undefined) session.held.push(framed);
        else ws.send(framed);
      };
      const session: LinkSession = { entry: { shadow: frame.shadow === true }, receive: roomsSession(received, write), held: undefined };
      open.set(id, session);
      sessions.add(session.entry);
      ws.send(JSON.stringify({ type: "opened", session: id }));
      return;
    }
    const session = open.get(id);
    if (session === undefined) return; // frames of an ended session may cross its close
    if (frame.type === "close") {
      open.delete(id);
      sessions.delete(session.entry);
    } else if (frame.type === "pause") session.held ??= [];
    else if (frame.type === "resume") {
      const held = session.held ?? [];
      session.held = undefined;
      for (const framed of held) ws.send(framed);
    } else session.receive(raw, false);
  });
  ws.send(JSON.stringify({ type: "hello", version: 2, server: "rooms-test-hub" }));
}

/** `port`: a fixed port (a restarted hub comes back where the gateways expect it); default: any free port. */
export async function startRoomsHub(options: { port?: number } = {}): Promise<RoomsHub> {
  const received: Frame[] = [];
  const sessions = new Set<OpenSession>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const http: HttpServer = createServer((_req, res) => res.writeHead(426).end());
  http.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)));
  wss.on("connection", (ws: WebSocket, req) => {
    if (ws.protocol === SUBPROTOCOL_V2) return serveLink(ws, received, sessions);
    const session = { shadow: req.headers[SHADOW_HEADER] === "1" };
    sessions.add(session);
    ws.on("close", () => sessions.delete(session));
    ws.on("error", () => sessions.delete(session));
    ws.on(
      "message",
      roomsSession(received, (part) => ws.send(part)),
    );
    ws.send(JSON.stringify({ type: "hello", version: 1, server: "rooms-test-hub" }));
  });
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    received,
    get connectionCount() {
      return wss.clients.size;
    },
    get linkCount() {
      return [...wss.clients].filter((ws) => ws.protocol === SUBPROTOCOL_V2).length;
    },
    sessionCount: (shadow) => [...sessions].filter((s) => shadow === undefined || s.shadow === shadow).length,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
