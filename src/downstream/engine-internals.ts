/**
 * The few engine.io internals the gateway relies on, in one place (its typings mark some of them private).
 * Pinned by the engine.io version in package.json and exercised by the integration tests.
 */
import type { Server as EngineServer, Socket as EngineSocket } from "engine.io";

interface SocketInternals {
  id: string;
  protocol: number;
  writeBuffer: unknown[];
  transport: { name: string; socket?: { pause?: () => void; resume?: () => void } };
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
