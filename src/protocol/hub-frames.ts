/**
 * The hub protocol's frames (docs/hub-protocol.md, subprotocol `switchyard-hub.v1`): constants, the
 * frames the gateway writes, and the validation of every frame a hub sends. Pure: no I/O.
 *
 * The gateway is strict about what a hub sends (a hub bug must surface as a coded protocol error rather
 * than as a client that silently misbehaves) and liberal about what it does not know (unknown frame
 * types and fields are ignored, so the protocol can grow without a new version).
 */
import { isPlainObject } from "./json-values.js";
import { isPayloadValid, PACKET_TYPE } from "./socketio.js";

export const HUB_SUBPROTOCOL = "switchyard-hub.v1";
export const HUB_PROTOCOL_VERSION = 1;

/** Upgrade request headers the gateway adds to the client's forwarded ones. */
export const HUB_SESSION_HEADER = "x-switchyard-session";
export const HUB_SHADOW_HEADER = "x-switchyard-shadow";

/** WebSocket close codes of the protocol (both directions). */
export const HUB_CLOSE_CODE = Object.freeze({
  /** The session ended on purpose (the client left, the hub ended it, the client broke Socket.IO's rules). */
  normal: 1000,
  /** The closing side is shutting down or draining; the client will reconnect elsewhere. */
  goingAway: 1001,
  /** The hub refuses this session (before hello) or ends it for a policy reason. */
  policy: 1008,
  /** The closing side failed internally. */
  internal: 1011,
  /** The peer sent a frame that breaks this protocol. */
  protocolError: 4400,
});

/** WebSocket close reasons are limited to 123 bytes of UTF-8; longer details are cut on a character boundary. */
export function closeReason(text: string): string {
  const MAX_BYTES = 123;
  if (Buffer.byteLength(text) <= MAX_BYTES) return text;
  let cut = text.slice(0, MAX_BYTES);
  while (Buffer.byteLength(cut) > MAX_BYTES - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** A connect_error with this `code` is socket.io's "unknown namespace" refusal. */
export const INVALID_NAMESPACE_CODE = "invalid_namespace";

/** socket.io's own message for an unknown namespace, sent verbatim to clients of both revisions. */
export const INVALID_NAMESPACE_MESSAGE = "Invalid namespace";

/** The error a hub gives when it refuses a namespace connection (socket.io's `{message, data}`). */
export interface HubConnectErrorBody {
  readonly message: string;
  /** Present only when the hub sent a `data` field (even `null`). */
  readonly data?: unknown;
}

/** A frame received from a hub, validated. */
export type HubInboundFrame =
  | { readonly type: "hello"; readonly version: number; readonly server: string | undefined }
  | { readonly type: "connect"; readonly nsp: string; readonly sid: string }
  | { readonly type: "connect_error"; readonly nsp: string; readonly error: HubConnectErrorBody; readonly invalidNamespace: boolean }
  | {
      readonly type: "event";
      readonly nsp: string;
      readonly data: unknown[];
      readonly id: number | undefined;
      readonly attachments: number;
    }
  | { readonly type: "ack"; readonly nsp: string; readonly data: unknown[]; readonly id: number; readonly attachments: number }
  | { readonly type: "disconnect"; readonly nsp: string; readonly close: boolean }
  /** The session's socket in `nsp` joins or leaves rooms (§2.6). */
  | { readonly type: "join" | "leave"; readonly nsp: string; readonly rooms: readonly string[] }
  /**
   * socket.io's `io.of(nsp).to(rooms).except(except).emit(...data)` (§2.6); `rooms` empty: the whole
   * namespace. With attachments, `data` still holds placeholders: the binary frames follow.
   */
  | {
      readonly type: "broadcast";
      readonly nsp: string;
      readonly rooms: readonly string[];
      readonly except: readonly string[];
      readonly data: unknown[];
      readonly attachments: number;
    }
  /** A frame type this version does not know: ignored, together with the binary frames it announces. */
  | { readonly type: "unknown"; readonly name: string; readonly attachments: number };

export class HubFrameError extends Error {}

/** Bounds on the rooms frames (ROOMS_PER_FRAME_LIMIT, ROOM_NAME_LIMIT). */
export interface RoomFrameLimits {
  /** Room names one join, leave or broadcast frame may list (in `rooms` and in `except`, each). */
  readonly maxRooms: number;
  /** Characters (UTF-16 code units) of one room name. */
  readonly maxRoomLength: number;
}

export const ROOM_FRAME_DEFAULTS: RoomFrameLimits = Object.freeze({ maxRooms: 100, maxRoomLength: 256 });

/**
 * Ack ids at or above this are the gateway's own (a broadcast with acks requested by another socket.io
 * node through the bridge); a hub numbers its events below it (docs/hub-protocol.md §2.6).
 */
export const GATEWAY_ACK_ID_BASE = 2 ** 52;

function isAckId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function namespaceOf(frame: Record<string, unknown>, type: string): string {
  const nsp = frame.nsp;
  if (typeof nsp !== "string" || !nsp.startsWith("/")) throw new HubFrameError(`${type} frame without a valid "nsp"`);
  return nsp;
}

function attachmentsOf(frame: Record<string, unknown>, type: string, maxAttachments: number): number {
  const attachments = frame.attachments;
  if (attachments === undefined || attachments === 0) return 0;
  if (typeof attachments !== "number" || !Number.isSafeInteger(attachments) || attachments < 0) {
    throw new HubFrameError(`${type} frame with an invalid "attachments"`);
  }
  if (attachments > maxAttachments) throw new HubFrameError(`${type} frame announces ${attachments} attachments (limit ${maxAttachments})`);
  return attachments;
}

/**
 * True when every `{"_placeholder":true,"num":i}` in `data` points at one of the `attachments` binary
 * frames (socket.io clients throw on a placeholder they cannot resolve). Iterative: hub payloads may nest deeply.
 */
export function placeholdersResolve(data: unknown, attachments: number): boolean {
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === "object" && item !== null) stack.push(item);
    } else if (typeof value === "object" && value !== null) {
      const record = value as Record<string, unknown>;
      if (record._placeholder === true) {
        const num = record.num;
        if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= attachments) return false;
        continue;
      }
      for (const key in record) {
        const item = record[key];
        if (typeof item === "object" && item !== null) stack.push(item);
      }
    }
  }
  return true;
}

function payloadOf(frame: Record<string, unknown>, kind: "event" | "ack", attachments: number, type: string = kind): unknown[] {
  const data = frame.data;
  const packetType = kind === "event" ? PACKET_TYPE.EVENT : PACKET_TYPE.ACK;
  // The same rule socket.io clients apply when they decode the packet (reserved event names included).
  if (!isPayloadValid(packetType, data)) throw new HubFrameError(`${type} frame with an invalid "data"`);
  const args = data as unknown[];
  if (attachments > 0 && !placeholdersResolve(args, attachments)) {
    throw new HubFrameError(`${type} frame has a placeholder outside its ${attachments} attachments`);
  }
  return args;
}

/**
 * `data` with every placeholder replaced by its binary frame (socket.io-parser's reconstruct), for a frame
 * whose placeholders were checked by placeholdersResolve. Only what contains a placeholder is copied.
 */
export function resolvePlaceholders(data: unknown, buffers: readonly Buffer[]): unknown {
  if (Array.isArray(data)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < data.length; i++) {
      const item = data[i];
      const resolved = typeof item === "object" && item !== null ? resolvePlaceholders(item, buffers) : item;
      if (resolved !== item) {
        copy ??= data.slice();
        copy[i] = resolved;
      }
    }
    return copy ?? data;
  }
  if (typeof data !== "object" || data === null) return data;
  const record = data as Record<string, unknown>;
  if (record._placeholder === true && typeof record.num === "number") return buffers[record.num];
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const resolved = typeof item === "object" && item !== null ? resolvePlaceholders(item, buffers) : item;
    if (resolved !== item) {
      copy ??= { ...record };
      copy[key] = resolved;
    }
  }
  return copy ?? data;
}

function roomsOf(
  frame: Record<string, unknown>,
  type: string,
  field: "rooms" | "except",
  required: boolean,
  limits: RoomFrameLimits,
): string[] {
  const rooms = frame[field];
  if (rooms === undefined && !required) return [];
  if (!Array.isArray(rooms)) throw new HubFrameError(`${type} frame without a valid "${field}" array`);
  if (rooms.length > limits.maxRooms)
    throw new HubFrameError(`${type} frame lists ${rooms.length} rooms in "${field}" (limit ${limits.maxRooms})`);
  for (const room of rooms) {
    if (typeof room !== "string") throw new HubFrameError(`${type} frame with a room name that is not a string`);
    if (room.length > limits.maxRoomLength)
      throw new HubFrameError(`${type} frame with a ${room.length}-character room name (limit ${limits.maxRoomLength})`);
  }
  return rooms as string[];
}

/** Parses and validates one text frame from a hub. Throws HubFrameError. */
export function parseHubFrame(text: string, maxAttachments: number, roomLimits: RoomFrameLimits = ROOM_FRAME_DEFAULTS): HubInboundFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HubFrameError("text frame is not JSON");
  }
  return validateHubFrame(value, maxAttachments, roomLimits);
}

/** Validates one frame already parsed from JSON (a v2 link parses each frame once to find its session). */
export function validateHubFrame(
  value: unknown,
  maxAttachments: number,
  roomLimits: RoomFrameLimits = ROOM_FRAME_DEFAULTS,
): HubInboundFrame {
  if (!isPlainObject(value)) throw new HubFrameError("text frame is not a JSON object");
  const type = value.type;
  if (typeof type !== "string") throw new HubFrameError('frame without a string "type"');
  switch (type) {
    case "hello": {
      const { version, server } = value;
      if (typeof version !== "number" || !Number.isSafeInteger(version))
        throw new HubFrameError('hello frame without an integer "version"');
      return { type, version, server: typeof server === "string" ? server : undefined };
    }
    case "connect": {
      const nsp = namespaceOf(value, type);
      const sid = value.sid;
      if (typeof sid !== "string" || sid.length === 0) throw new HubFrameError('connect frame without a "sid"');
      return { type, nsp, sid };
    }
    case "connect_error": {
      const nsp = namespaceOf(value, type);
      const invalidNamespace = value.code === INVALID_NAMESPACE_CODE;
      const data = value.data;
      if (invalidNamespace && data === undefined) return { type, nsp, error: { message: INVALID_NAMESPACE_MESSAGE }, invalidNamespace };
      if (!isPlainObject(data) || typeof data.message !== "string") throw new HubFrameError('connect_error frame without "data.message"');
      const error: HubConnectErrorBody = Object.hasOwn(data, "data")
        ? { message: data.message, data: data.data }
        : { message: data.message };
      return { type, nsp, error, invalidNamespace };
    }
    case "event": {
      const nsp = namespaceOf(value, type);
      const id = value.id;
      if (id !== undefined && !isAckId(id)) throw new HubFrameError('event frame with an invalid "id"');
      const attachments = attachmentsOf(value, type, maxAttachments);
      return { type, nsp, data: payloadOf(value, type, attachments), id, attachments };
    }
    case "ack": {
      const nsp = namespaceOf(value, type);
      const id = value.id;
      if (!isAckId(id)) throw new HubFrameError('ack frame without a valid "id"');
      const attachments = attachmentsOf(value, type, maxAttachments);
      return { type, nsp, data: payloadOf(value, type, attachments), id, attachments };
    }
    case "disconnect": {
      const nsp = namespaceOf(value, type);
      return { type, nsp, close: value.close === true };
    }
    case "join":
    case "leave":
      return { type, nsp: namespaceOf(value, type), rooms: roomsOf(value, type, "rooms", true, roomLimits) };
    case "broadcast": {
      const nsp = namespaceOf(value, type);
      if (value.id !== undefined) throw new HubFrameError('broadcast frame with an "id" (broadcasts take no acks)');
      const rooms = roomsOf(value, type, "rooms", false, roomLimits);
      const except = roomsOf(value, type, "except", false, roomLimits);
      const attachments = attachmentsOf(value, type, maxAttachments);
      return { type, nsp, rooms, except, data: payloadOf(value, "event", attachments, type), attachments };
    }
    default: {
      // Unknown types are ignored; the binary frames they announce still have to be skipped.
      const attachments = value.attachments;
      const skip = typeof attachments === "number" && Number.isSafeInteger(attachments) && attachments > 0 ? attachments : 0;
      if (skip > maxAttachments) throw new HubFrameError(`${type} frame announces ${skip} attachments (limit ${maxAttachments})`);
      return { type: "unknown", name: type, attachments: skip };
    }
  }
}

// ---- frames the gateway writes ------------------------------------------------------------------

/** A JSON string literal (namespace names come from clients and may hold anything). */
function quote(text: string): string {
  return JSON.stringify(text);
}

export function encodeConnectFrame(
  nsp: string,
  auth: Readonly<Record<string, unknown>>,
  query: Readonly<Record<string, string>>,
  sid: string | undefined,
): string {
  const frame: Record<string, unknown> = { type: "connect", nsp, auth, query };
  if (sid !== undefined) frame.sid = sid;
  return JSON.stringify(frame);
}

/**
 * An event or ack frame around a Socket.IO packet's JSON body, spliced in as it is: the client session
 * has already validated it (InboundPacketStream), and re-serialising every payload would double the
 * per-message cost. Socket.IO's binary placeholders are the hub protocol's, so binary needs no rewrite.
 */
export function encodeMessageFrame(
  type: "event" | "ack",
  nsp: string,
  id: number | undefined,
  attachments: number,
  rawJsonData: string,
): string {
  let frame = `{"type":"${type}","nsp":${quote(nsp)}`;
  if (id !== undefined) frame += `,"id":${id}`;
  if (attachments > 0) frame += `,"attachments":${attachments}`;
  return `${frame},"data":${rawJsonData}}`;
}

export function encodeDisconnectFrame(nsp: string): string {
  return `{"type":"disconnect","nsp":${quote(nsp)}}`;
}

/**
 * gateway→hub: the socket joined or left rooms by the gateway's doing (another socket.io node's
 * `socketsJoin`/`socketsLeave` through the bridge), so that the hub's view of its sockets stays right.
 * Additive: a hub that does not know the type ignores it.
 */
export function encodeRoomsFrame(type: "join" | "leave", nsp: string, rooms: readonly string[]): string {
  return JSON.stringify({ type, nsp, rooms });
}
