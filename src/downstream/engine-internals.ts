/**
 * The few engine.io internals the gateway relies on, in one place (its typings mark some of them private).
 * engine.io is pinned to an exact version in package.json; test/unit/engine-internals.test.ts checks
 * every field below on real engine.io sessions (internalsProblems) and names the one that changed.
 */
import type { Server as EngineServer, Socket as EngineSocket } from "engine.io";

interface SocketInternals {
  id: string;
  protocol: number;
  writeBuffer: unknown[];
  transport: { name: string; socket?: { pause?: () => void; resume?: () => void; terminate?: () => void; bufferedAmount?: number } };
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
  const transport = raw.transport as Partial<SocketInternals["transport"]> | undefined;
  expect(transport?.name === "polling" || transport?.name === "websocket", "Socket.transport.name", '"polling" or "websocket"');
  if (transport?.name === "websocket")
    expect(
      typeof transport.socket?.pause === "function" &&
        typeof transport.socket.resume === "function" &&
        typeof transport.socket.terminate === "function" &&
        typeof transport.socket.bufferedAmount === "number",
      "WebSocket transport.socket",
      "the ws socket (with pause(), resume(), terminate() and bufferedAmount)",
    );
  const clients = (engine as unknown as { clients?: unknown }).clients;
  expect(
    typeof clients === "object" && clients !== null && typeof raw.id === "string" && hasEngineSession(engine, raw.id),
    "Server.clients",
    "the open sessions by id",
  );
  return problems;
}
