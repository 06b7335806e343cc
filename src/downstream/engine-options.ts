/**
 * The engine.io server that faces clients, configured like the legacy socket.io server: the same
 * pingInterval, pingTimeout and maxPayload (learned by a probe handshake unless overridden), EIO3 allowed,
 * socket.io's CORS and cookie options.
 */
import { Server as EngineServer, type ServerOptions } from "engine.io";
import type { StaticConfig } from "../config/static-config.js";

export interface HandshakeValues {
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly maxPayload: number;
}

/** socket.io 4's defaults: what a client gets until the legacy server's own values are known. */
export const SOCKET_IO_DEFAULTS: HandshakeValues = Object.freeze({ pingInterval: 25_000, pingTimeout: 20_000, maxPayload: 1_000_000 });

/** Overrides win over learned values, learned values over socket.io's defaults. */
export function effectiveHandshake(config: StaticConfig, learned: Partial<HandshakeValues> | undefined): HandshakeValues {
  return Object.freeze({
    pingInterval: config.handshake.pingIntervalMs ?? learned?.pingInterval ?? SOCKET_IO_DEFAULTS.pingInterval,
    pingTimeout: config.handshake.pingTimeoutMs ?? learned?.pingTimeout ?? SOCKET_IO_DEFAULTS.pingTimeout,
    maxPayload: config.handshake.maxPayloadBytes ?? learned?.maxPayload ?? SOCKET_IO_DEFAULTS.maxPayload,
  });
}

export function createEngine(config: StaticConfig, handshake: HandshakeValues): EngineServer {
  const options: ServerOptions = {
    pingInterval: handshake.pingInterval,
    pingTimeout: handshake.pingTimeout,
    maxHttpBufferSize: handshake.maxPayload,
    upgradeTimeout: config.upgradeTimeoutMs,
    transports: ["polling", "websocket"],
    allowUpgrades: true,
    allowEIO3: true,
    perMessageDeflate: false,
  };
  if (config.cors !== undefined)
    options.cors = { origin: config.cors.origin === "*" ? "*" : [...config.cors.origin], credentials: config.cors.credentials };
  if (config.cookie !== undefined)
    options.cookie = {
      name: config.cookie.name,
      path: config.cookie.path,
      httpOnly: true,
      sameSite: config.cookie.sameSite,
      secure: config.cookie.secure,
    };
  return new EngineServer(options);
}

/** Applies handshake values learned after start-up; engine.io reads its options on every handshake. */
export function applyHandshake(engine: EngineServer, handshake: HandshakeValues): void {
  const opts = (engine as unknown as { opts: ServerOptions }).opts;
  opts.pingInterval = handshake.pingInterval;
  opts.pingTimeout = handshake.pingTimeout;
  opts.maxHttpBufferSize = handshake.maxPayload;
  // The WebSocket server copied maxPayload when engine.io created it.
  const ws = (engine as unknown as { ws?: { options?: { maxPayload?: number } } }).ws;
  if (ws?.options !== undefined) ws.options.maxPayload = handshake.maxPayload;
}
