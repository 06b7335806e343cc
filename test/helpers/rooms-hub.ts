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
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { encodeFrame, parseFrame, randomId, reconstruct, SHADOW_HEADER, SUBPROTOCOL, type Frame } from "../../examples/hub/wire.js";

export interface RoomsHub {
  readonly url: string;
  /** Frames the gateways sent, in arrival order (type and nsp), for tests that check what the hub was told. */
  readonly received: Frame[];
  /** Sessions open now (real and shadow). */
  sessionCount(shadow?: boolean): number;
  close(): Promise<void>;
}

/** "/hub-only" exists on the hub only (legacy nodes never subscribe to it). */
const NAMESPACES = new Set(["/", "/other", "/hub-only"]);

/** `port`: a fixed port (a restarted hub comes back where the gateways expect it); default: any free port. */
export async function startRoomsHub(options: { port?: number } = {}): Promise<RoomsHub> {
  const received: Frame[] = [];
  const sessions = new Set<{ ws: WebSocket; shadow: boolean }>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const http: HttpServer = createServer((_req, res) => res.writeHead(426).end());
  http.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)));
  wss.on("connection", (ws: WebSocket, req) => {
    const session = { ws, shadow: req.headers[SHADOW_HEADER] === "1" };
    sessions.add(session);
    ws.on("close", () => sessions.delete(session));
    ws.on("error", () => sessions.delete(session));
    const sids = new Map<string, string>();
    let pending: { frame: Frame; expected: number; buffers: Buffer[] } | undefined;
    const send = (frame: Record<string, unknown>, payload?: unknown[]) => {
      for (const part of encodeFrame(frame, payload)) ws.send(part);
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
    ws.on("message", (raw: Buffer, isBinary: boolean) => {
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
    });
    ws.send(JSON.stringify({ type: "hello", version: 1, server: "rooms-test-hub" }));
  });
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    received,
    sessionCount: (shadow) => [...sessions].filter((s) => shadow === undefined || s.shadow === shadow).length,
    close: async () => {
      for (const { ws } of sessions) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
