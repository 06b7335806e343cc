/**
 * The few engine.io internals the gateway relies on, in one place (its typings mark some of them private).
 * engine.io is pinned to an exact version in package.json; test/unit/engine-internals.test.ts checks
 * every field below on real engine.io sessions (internalsProblems) and names the one that changed.
 */
import type { Server as EngineServer, Socket as EngineSocket } from "engine.io";

/** The `ws` WebSocket under a WebSocket transport, with the parts the direct frame write reads. */
interface WsInternals {
  pause?: () => void;
  resume?: () => void;
  terminate?: () => void;
  bufferedAmount?: number;
  readyState?: number;
  _extensions?: Record<string, unknown>;
  _sender?: { _state?: number; _queue?: unknown[] };
  _socket?: { writable?: boolean; write?: (chunk: Buffer) => boolean } | null;
}

interface SocketInternals {
  id: string;
  protocol: number;
  readyState: string;
  upgrading: boolean;
  writeBuffer: unknown[];
  transport: { name: string; writable?: boolean; readyState?: string; socket?: WsInternals };
}

function internals(socket: EngineSocket): SocketInternals {
  return socket as unknown as SocketInternals;
}

export function engineSocketId(socket: EngineSocket): string {
  return internals(socket).id;
}

export function engineProtocol(socket: EngineSocket): 3 | 4 {
  return internals(socket).protocol === 3 ? 3 : 4;
}

/** Packets engine.io holds for the client and has not yet handed to its transport. */
export function pendingPacketCount(socket: EngineSocket): number {
  return internals(socket).writeBuffer.length;
}

/**
 * Bytes handed to the client's WebSocket and not yet written to the kernel (ws's bufferedAmount): engine.io
 * keeps further packets in its writeBuffer until these are written. 0 for polling (a poll's answer is
 * bounded by what engine.io had buffered when the poll came).
 */
export function transportBufferedBytes(socket: EngineSocket): number {
  return internals(socket).transport.socket?.bufferedAmount ?? 0;
}

/**
 * Ends a session that cannot take what it is sent: engine.io drops its buffer (close(true)) and the client's
 * WebSocket is cut at once (a close frame would wait behind the bytes the client does not read, for 30 s).
 */
export function discardClientSession(socket: EngineSocket): void {
  const ws = internals(socket).transport.socket;
  socket.close(true);
  ws?.terminate?.();
}

/** ws's WebSocket.OPEN, and its Sender's DEFAULT state (not deflating, not reading a Blob). */
const WS_OPEN = 1;
const SENDER_IDLE = 0;
const DEFLATE = "permessage-deflate";

/** A room broadcast's send options, shared by its recipients (see DeliveryOptions). */
interface FrameOptions {
  wsPreEncodedFrame?: unknown;
  wsFrame?: Buffer;
}

/** The broadcast's frame as one Buffer (ws's Sender.frame gives header and payload apart), built once per broadcast. */
function frameOf(options: FrameOptions): Buffer | undefined {
  if (options.wsFrame !== undefined) return options.wsFrame;
  const parts = options.wsPreEncodedFrame;
  if (!Array.isArray(parts) || parts.length === 0 || !parts.every((part) => Buffer.isBuffer(part))) return undefined;
  options.wsFrame = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts as Buffer[]);
  return options.wsFrame;
}

/**
 * Writes a room broadcast's pre-built WebSocket frame straight to the client's TCP socket, past engine.io's
 * writeBuffer/flush/drain and ws's Sender (one write per recipient, no packet object, no events), when nothing
 * can be waiting ahead of it: an open WebSocket transport that is writable (no engine.io send in flight), not
 * upgrading, an empty writeBuffer, ws open and not compressing (no permessage-deflate), its Sender idle with an
 * empty queue and not one byte buffered (bufferedAmount 0). Then order is kept, and a client that falls behind
 * takes engine.io's path from its first waiting byte on, so backpressure and the client buffer limits work as
 * before. The frame is the same for Engine.IO v3 and v4 clients (a text message is "4" + the packet in both).
 * False: not written, the caller sends through engine.io.
 */
export function writePreEncodedFrame(socket: EngineSocket, options: FrameOptions): boolean {
  const s = internals(socket);
  const transport = s.transport;
  if (transport.name !== "websocket" || transport.writable !== true || transport.readyState !== "open") return false;
  if (s.readyState !== "open" || s.upgrading || s.writeBuffer.length !== 0) return false;
  const ws = transport.socket;
  if (ws === undefined || ws.readyState !== WS_OPEN || ws.bufferedAmount !== 0 || ws._extensions?.[DEFLATE] !== undefined) return false;
  const sender = ws._sender;
  if (sender?._state !== SENDER_IDLE || sender._queue?.length !== 0) return false;
  const tcp = ws._socket;
  if (tcp?.writable !== true || tcp.write === undefined) return false;
  const frame = frameOf(options);
  if (frame === undefined) return false;
  tcp.write(frame);
  return true;
}

export function transportName(socket: EngineSocket): "polling" | "websocket" {
  return internals(socket).transport.name === "websocket" ? "websocket" : "polling";
}

/** The `ws` socket under a WebSocket transport (to pause reading from a client), if there is one. */
export function clientWebSocket(socket: EngineSocket): { pause?: () => void; resume?: () => void } | undefined {
  return internals(socket).transport.socket;
}

export function hasEngineSession(engine: EngineServer, sid: string): boolean {
  return Object.hasOwn((engine as unknown as { clients: Record<string, unknown> }).clients, sid);
}

/**
 * What is wrong with the internals this module reads, on a live socket of `engine` (empty when nothing):
 * one line per field, naming it, for the test that guards an engine.io upgrade.
 */
export function internalsProblems(engine: EngineServer, socket: EngineSocket): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, field: string, wanted: string) => {
    if (!ok) problems.push(`engine.io ${field} is no longer ${wanted}: update src/downstream/engine-internals.ts`);
  };
  const raw = socket as unknown as Partial<Record<keyof SocketInternals, unknown>>;
  expect(typeof raw.id === "string" && raw.id !== "", "Socket.id", "the session id (a non-empty string)");
  expect(raw.protocol === 3 || raw.protocol === 4, "Socket.protocol", "the Engine.IO revision (3 or 4)");
  expect(Array.isArray(raw.writeBuffer), "Socket.writeBuffer", "an array of packets waiting for the transport");
  expect(raw.readyState === "open", "Socket.readyState", '"open" on an open session');
  expect(typeof raw.upgrading === "boolean", "Socket.upgrading", "whether an upgrade is in progress (a boolean)");
  const transport = raw.transport as Partial<SocketInternals["transport"]> | undefined;
  expect(transport?.name === "polling" || transport?.name === "websocket", "Socket.transport.name", '"polling" or "websocket"');
  expect(typeof transport?.writable === "boolean", "Socket.transport.writable", "whether a send may go now (a boolean)");
  expect(transport?.readyState === "open", "Socket.transport.readyState", '"open" on an open session');
  if (transport?.name === "websocket") {
    const ws = transport.socket;
    expect(
      typeof ws?.pause === "function" &&
        typeof ws.resume === "function" &&
        typeof ws.terminate === "function" &&
        typeof ws.bufferedAmount === "number",
      "WebSocket transport.socket",
      "the ws socket (with pause(), resume(), terminate() and bufferedAmount)",
    );
    // The direct frame write (writePreEncodedFrame) reads these; without them it never writes (engine.io's path).
    expect(ws?.readyState === WS_OPEN && typeof ws._extensions === "object", "ws WebSocket readyState/_extensions", "1 and an object");
    expect(
      typeof ws?._sender?._state === "number" && Array.isArray(ws._sender._queue),
      "ws Sender _state/_queue",
      "its state (0 when idle) and queue of frames waiting",
    );
    expect(typeof ws?._socket?.write === "function", "ws WebSocket._socket", "the client's net.Socket");
  }
  const clients = (engine as unknown as { clients?: unknown }).clients;
  expect(
    typeof clients === "object" && clients !== null && typeof raw.id === "string" && hasEngineSession(engine, raw.id),
    "Server.clients",
    "the open sessions by id",
  );
  return problems;
}
