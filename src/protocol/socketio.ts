/**
 * Socket.IO packets (protocol v4 for 2.x clients, v5 for 3.x/4.x clients share one encoding). Pure.
 *
 * Encoding: `<type>[<attachments>-][<nsp>,][<ack id>][<json data>]`, where the namespace is present only
 * when it is not "/", and binary packets (types 5 and 6) are followed by `attachments` binary messages.
 * The decoder mirrors socket.io-parser 4.2's rules, including its payload validation, so that what the
 * gateway accepts is what a socket.io server accepts.
 */
import { isPlainObject } from "./json-values.js";

export const PACKET_TYPE = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;

export type PacketType = (typeof PACKET_TYPE)[keyof typeof PACKET_TYPE];

/** What the framing says, before the JSON body is parsed. Cheap to compute for every packet. */
export interface PacketHeader {
  readonly type: PacketType;
  readonly nsp: string;
  readonly id: number | undefined;
  readonly attachments: number;
  /** Index in the encoded string where the JSON body starts (equal to its length when there is none). */
  readonly dataStart: number;
}

export interface Packet {
  readonly type: PacketType;
  readonly nsp: string;
  readonly id?: number | undefined;
  readonly data?: unknown;
  readonly attachments?: number | undefined;
}

export type DecodeFailure =
  | "unknown packet type"
  | "illegal attachments"
  | "too many attachments"
  | "illegal ack id"
  | "invalid payload"
  | "empty packet";

export class PacketDecodeError extends Error {
  constructor(readonly reason: DecodeFailure) {
    super(reason);
  }
}

const RESERVED_EVENTS = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);
const CODE_0 = 48;
const CODE_9 = 57;

function isDigit(code: number): boolean {
  return code >= CODE_0 && code <= CODE_9;
}

export function isBinaryType(type: PacketType): boolean {
  return type === PACKET_TYPE.BINARY_EVENT || type === PACKET_TYPE.BINARY_ACK;
}

/** Parses type, attachments, namespace and ack id; leaves the body alone. */
export function parseHeader(str: string, maxAttachments: number): PacketHeader {
  if (str.length === 0) throw new PacketDecodeError("empty packet");
  const typeCode = str.charCodeAt(0) - CODE_0;
  if (typeCode < 0 || typeCode > 6) throw new PacketDecodeError("unknown packet type");
  const type = typeCode as PacketType;
  let i = 1;
  let attachments = 0;
  if (isBinaryType(type)) {
    const start = i;
    while (i < str.length && isDigit(str.charCodeAt(i))) i++;
    if (i === start || str.charAt(i) !== "-") throw new PacketDecodeError("illegal attachments");
    attachments = Number(str.slice(start, i));
    if (attachments < 1) throw new PacketDecodeError("illegal attachments");
    if (attachments > maxAttachments) throw new PacketDecodeError("too many attachments");
    i++;
  }
  let nsp = "/";
  if (str.charAt(i) === "/") {
    const comma = str.indexOf(",", i);
    const end = comma === -1 ? str.length : comma;
    nsp = str.slice(i, end);
    i = comma === -1 ? end : end + 1;
  }
  let id: number | undefined;
  if (i < str.length && isDigit(str.charCodeAt(i))) {
    const start = i;
    while (i < str.length && isDigit(str.charCodeAt(i))) i++;
    id = Number(str.slice(start, i));
    if (!Number.isSafeInteger(id)) throw new PacketDecodeError("illegal ack id");
  }
  return { type, nsp, id, attachments, dataStart: i };
}

/** socket.io-parser 4.2's `isPayloadValid`. */
export function isPayloadValid(type: PacketType, payload: unknown): boolean {
  switch (type) {
    case PACKET_TYPE.CONNECT:
      return isPlainObject(payload);
    case PACKET_TYPE.DISCONNECT:
      return payload === undefined;
    case PACKET_TYPE.CONNECT_ERROR:
      return typeof payload === "string" || isPlainObject(payload);
    case PACKET_TYPE.EVENT:
    case PACKET_TYPE.BINARY_EVENT:
      return (
        Array.isArray(payload) && (typeof payload[0] === "number" || (typeof payload[0] === "string" && !RESERVED_EVENTS.has(payload[0])))
      );
    case PACKET_TYPE.ACK:
    case PACKET_TYPE.BINARY_ACK:
      return Array.isArray(payload);
  }
}

/** Decodes one text packet fully (binary attachments, if announced, are not resolved here). */
export function decodePacket(str: string, maxAttachments: number): Packet {
  const header = parseHeader(str, maxAttachments);
  let data: unknown;
  if (header.dataStart < str.length) {
    try {
      data = JSON.parse(str.slice(header.dataStart));
    } catch {
      throw new PacketDecodeError("invalid payload");
    }
    if (!isPayloadValid(header.type, data)) throw new PacketDecodeError("invalid payload");
  }
  return { type: header.type, nsp: header.nsp, id: header.id, data, attachments: header.attachments || undefined };
}

/** Encodes a packet the way socket.io-parser's Encoder writes it (JSON body via JSON.stringify). */
export function encodePacket(packet: Packet): string {
  let str = String(packet.type);
  if (isBinaryType(packet.type)) str += `${packet.attachments ?? 0}-`;
  if (packet.nsp !== "/" && packet.nsp !== "") str += `${packet.nsp},`;
  if (packet.id !== undefined) str += String(packet.id);
  if (packet.data !== undefined) str += JSON.stringify(packet.data);
  return str;
}

/** The namespace without a 2.x-style query (`/admin?token=x` → `/admin`). */
export function namespaceName(nsp: string): string {
  const q = nsp.indexOf("?");
  return q === -1 ? nsp : nsp.slice(0, q);
}

function isBinary(value: unknown): value is Buffer | ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** socket.io-parser's hasBinary (toJSON results included). */
export function hasBinary(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (isBinary(value)) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (hasBinary(item)) return true;
    return false;
  }
  for (const key in value) if (Object.hasOwn(value, key) && hasBinary((value as Record<string, unknown>)[key])) return true;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  return typeof toJSON === "function" && hasBinary(toJSON.call(value));
}

function asBuffer(value: Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** socket.io-parser's deconstructPacket: binary values become placeholders, collected in order. */
function deconstruct(value: unknown, buffers: Buffer[]): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (isBinary(value)) {
    buffers.push(asBuffer(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) return value.map((item) => deconstruct(item, buffers));
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const key in value) if (Object.hasOwn(value, key)) out[key] = deconstruct((value as Record<string, unknown>)[key], buffers);
  return out;
}

/**
 * Encodes an EVENT/ACK packet whose data may hold binary values, as socket.io-parser's Encoder does:
 * one string, or a BINARY_EVENT/BINARY_ACK string followed by its attachments. What the broadcast
 * adapter writes to every recipient (encoded once per broadcast).
 */
export function encodePacketParts(packet: Packet): (string | Buffer)[] {
  const isEventOrAck =
    packet.type === PACKET_TYPE.EVENT ||
    packet.type === PACKET_TYPE.ACK ||
    packet.type === PACKET_TYPE.BINARY_EVENT ||
    packet.type === PACKET_TYPE.BINARY_ACK;
  if (!isEventOrAck || !hasBinary(packet.data)) {
    const type =
      packet.type === PACKET_TYPE.BINARY_EVENT ? PACKET_TYPE.EVENT : packet.type === PACKET_TYPE.BINARY_ACK ? PACKET_TYPE.ACK : packet.type;
    return [encodePacket({ type, nsp: packet.nsp, id: packet.id, data: packet.data })];
  }
  const buffers: Buffer[] = [];
  const data = deconstruct(packet.data, buffers);
  const type =
    packet.type === PACKET_TYPE.EVENT || packet.type === PACKET_TYPE.BINARY_EVENT ? PACKET_TYPE.BINARY_EVENT : PACKET_TYPE.BINARY_ACK;
  return [encodePacket({ type, nsp: packet.nsp, id: packet.id, data, attachments: buffers.length }), ...buffers];
}
