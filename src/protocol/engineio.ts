/**
 * Engine.IO framing for the gateway's own WebSocket sessions to a backend (the gateway is the Engine.IO
 * *client* there, always over WebSocket). Pure: no I/O. Both revisions are covered:
 * - v4: text frames are `<type><data>`; binary frames are the raw message bytes.
 * - v3: text frames are `<type><data>`; binary frames carry a leading type byte (4 = message).
 * Heartbeats: in v4 the server pings and the client answers; in v3 the client pings.
 */
export type EngineIoRevision = 3 | 4;

export const EIO_PACKET = {
  open: "0",
  close: "1",
  ping: "2",
  pong: "3",
  message: "4",
  upgrade: "5",
  noop: "6",
} as const;

export type EngineIoPacketType = keyof typeof EIO_PACKET;

const TYPE_BY_CHAR: Readonly<Record<string, EngineIoPacketType>> = Object.freeze({
  "0": "open",
  "1": "close",
  "2": "ping",
  "3": "pong",
  "4": "message",
  "5": "upgrade",
  "6": "noop",
});

/** A decoded frame. `data` is the message body (string for text, Buffer for binary). */
export type EngineIoFrame =
  | { readonly type: "message"; readonly data: string | Buffer }
  | { readonly type: Exclude<EngineIoPacketType, "message">; readonly data: string };

export class EngineIoFrameError extends Error {}

const BINARY_MESSAGE_TYPE_BYTE = 4;

/** Decodes one WebSocket frame received from a backend. */
export function decodeFrame(revision: EngineIoRevision, data: Buffer, isBinary: boolean): EngineIoFrame {
  if (isBinary) {
    if (revision === 4) return { type: "message", data };
    if (data.length === 0 || data[0] !== BINARY_MESSAGE_TYPE_BYTE) {
      throw new EngineIoFrameError("v3 binary frame without the message type byte");
    }
    return { type: "message", data: data.subarray(1) };
  }
  // The type is one ASCII digit: read it from the bytes and decode only the body (one string, not two).
  const type = data.length > 0 ? TYPE_BY_CHAR[String.fromCharCode(data[0]!)] : undefined;
  if (type === undefined)
    throw new EngineIoFrameError(`unknown Engine.IO packet type ${JSON.stringify(data.subarray(0, 1).toString("latin1"))}`);
  return { type, data: data.toString("utf8", 1) } as EngineIoFrame;
}

/** Encodes a message for a backend: a string becomes a text frame, a Buffer a binary frame. */
export function encodeMessage(revision: EngineIoRevision, message: string | Buffer): string | Buffer {
  if (typeof message === "string") return EIO_PACKET.message + message;
  if (revision === 4) return message;
  const framed = Buffer.allocUnsafe(message.length + 1);
  framed[0] = BINARY_MESSAGE_TYPE_BYTE;
  message.copy(framed, 1);
  return framed;
}

/** The Engine.IO handshake (`open` packet body) as a backend sends it. */
export interface EngineIoHandshake {
  readonly sid: string;
  readonly upgrades: readonly string[];
  readonly pingInterval: number;
  readonly pingTimeout: number;
  /** Only Engine.IO v4 servers announce it. */
  readonly maxPayload: number | undefined;
}

export function parseHandshake(body: string): EngineIoHandshake {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new EngineIoFrameError("open packet is not JSON");
  }
  const record = value as Record<string, unknown> | null;
  if (record === null || typeof record !== "object") throw new EngineIoFrameError("open packet is not an object");
  const { sid, upgrades, pingInterval, pingTimeout, maxPayload } = record;
  if (typeof sid !== "string" || sid.length === 0) throw new EngineIoFrameError("open packet has no sid");
  if (typeof pingInterval !== "number" || pingInterval <= 0) throw new EngineIoFrameError("open packet has no valid pingInterval");
  if (typeof pingTimeout !== "number" || pingTimeout <= 0) throw new EngineIoFrameError("open packet has no valid pingTimeout");
  return {
    sid,
    upgrades: Array.isArray(upgrades) ? upgrades.filter((u): u is string => typeof u === "string") : [],
    pingInterval,
    pingTimeout,
    maxPayload: typeof maxPayload === "number" && maxPayload > 0 ? maxPayload : undefined,
  };
}

/**
 * engine.io's answer to a handshake in a protocol revision it does not serve (error 5): HTTP 400 with this JSON
 * body to a polling request, `400 Bad Request` with the message as text/html to a WebSocket upgrade.
 */
export const ENGINE_UNSUPPORTED_PROTOCOL = Object.freeze({ code: 5, message: "Unsupported protocol version" });

/**
 * Why engine.io closed a client's session, when the client's bytes were at fault: engine.io's close reason
 * `parse error` (an undecodable packet or polling payload), or `transport error` for an oversized payload (polling:
 * "payload too large"; ws: "Max payload size exceeded"), a WebSocket frame ws refused (invalid UTF-8, bad opcode) or a
 * heartbeat in the wrong direction. ws errors reach engine.io's close as text (their codes are lost), hence the
 * patterns. Anything else (a connection reset, a ping timeout) is the network's, not a protocol error: undefined.
 */
export function engineCloseCode(
  reason: string | undefined,
  description: unknown,
): "SWY_ERR_PROTOCOL_ENGINE_MALFORMED" | "SWY_ERR_PROTOCOL_TOO_LARGE" | undefined {
  if (reason === "parse error") return "SWY_ERR_PROTOCOL_ENGINE_MALFORMED";
  if (reason !== "transport error") return undefined;
  const message = description instanceof Error ? description.message : String(description ?? "");
  if (message === "payload too large" || message.includes("Max payload size exceeded")) return "SWY_ERR_PROTOCOL_TOO_LARGE";
  if (message.includes("Invalid WebSocket frame") || message.includes("invalid heartbeat direction")) {
    return "SWY_ERR_PROTOCOL_ENGINE_MALFORMED";
  }
  return undefined;
}

/** engine.io treats any EIO value other than "4" as revision 3 (when allowEIO3 is on); so do we. */
export function revisionOf(eioParam: string | null | undefined): EngineIoRevision {
  return eioParam === "4" ? 4 : 3;
}

/**
 * Splits a v4 polling payload (packets joined by the record separator) into packets. Used by the probe
 * handshake and the pass-through sid learner; engine.io handles the client side itself.
 */
export function splitV4Payload(payload: string): string[] {
  return payload.split("\x1e");
}
