/**
 * Turns one direction of a session's Engine.IO messages (strings and Buffers, as the session tap sees
 * them) into complete Socket.IO packets for the shadow comparator. Pure and incremental: one reader per
 * direction per side.
 *
 * Binary packets (BINARY_EVENT/BINARY_ACK) arrive as a text header announcing n attachments followed by
 * n Buffers; the reader holds the header until the last Buffer arrives, then substitutes each
 * `{"_placeholder":true,"num":i}` by the i-th Buffer (socket.io-parser's reconstruction).
 *
 * It never throws on what a peer sends: garbage yields a coded failure (`SWY_ERR_SHADOW`) so that the
 * caller can count it and drop the shadow. What it holds is bounded (attachments per packet, bytes of
 * attachments waiting) and so is the nesting depth of what it yields, which lets the comparator walk
 * payloads recursively without risking the stack.
 */
import type { ErrorCode } from "../errors.js";
import { isPlainObject } from "../protocol/json-values.js";
import { decodePacket, isBinaryType, namespaceName, PACKET_TYPE, PacketDecodeError, type PacketType } from "../protocol/socketio.js";
import type { FrameCache } from "./frame-cache.js";

/** One complete Socket.IO packet. `nsp` has no 2.x query; binary placeholders are Buffers again. */
export interface SocketIoPacket {
  readonly type: PacketType;
  readonly nsp: string;
  readonly id: number | undefined;
  readonly data: unknown;
}

export type PacketReadFailure =
  | "malformed packet"
  | "too many attachments"
  | "unexpected binary"
  | "missing attachments"
  | "attachments too large"
  | "invalid placeholder"
  | "too deep";

export type PacketReadResult =
  /** `packet` is undefined while a binary packet still waits for attachments. */
  | { readonly ok: true; readonly packet: SocketIoPacket | undefined }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: PacketReadFailure; readonly detail: string };

export interface PacketReaderLimits {
  /** Attachments one binary packet may announce (default 10, socket.io-parser's usual limit). */
  readonly maxAttachments?: number;
  /** Bytes of attachments held while a binary packet is incomplete (default 16 MiB). */
  readonly maxAttachmentBytes?: number;
  /** Nesting depth of a packet's data (default 100); deeper data is refused. */
  readonly maxDepth?: number;
  /**
   * Complete text packets decoded by any reader sharing this cache are not decoded again (a broadcast's
   * recipients get the same text). Readers sharing one cache must share their limits too.
   */
  readonly cache?: FrameCache;
}

export const PACKET_READER_DEFAULTS = { maxAttachments: 10, maxAttachmentBytes: 16 * 1024 * 1024, maxDepth: 100 } as const;

const WAITING: PacketReadResult = Object.freeze({ ok: true, packet: undefined });
const OPEN_BRACKET = 91; // [
const OPEN_BRACE = 123; // {

class ReadFailure extends Error {
  constructor(readonly reason: PacketReadFailure) {
    super(reason);
  }
}

function failure(reason: PacketReadFailure, detail: string): PacketReadResult {
  return { ok: false, code: "SWY_ERR_SHADOW", reason, detail };
}

/** An upper bound of the nesting depth of the JSON in `text`: its number of opening brackets. */
function bracketCount(text: string, stopAbove: number): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code === OPEN_BRACKET || code === OPEN_BRACE) && ++count > stopAbove) return count;
  }
  return count;
}

/** Checks the depth and, when `buffers` is given, substitutes placeholders in place. */
function walk(value: unknown, depth: number, maxDepth: number, buffers: readonly Buffer[] | undefined): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > maxDepth) throw new ReadFailure("too deep");
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      const replaced = walk(child, depth + 1, maxDepth, buffers);
      if (replaced !== child) value[i] = replaced;
    }
    return value;
  }
  if (!isPlainObject(value)) return value;
  if (buffers !== undefined && value._placeholder === true) {
    const num = value.num;
    if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= buffers.length) throw new ReadFailure("invalid placeholder");
    return buffers[num];
  }
  for (const key of Object.keys(value)) {
    const child = value[key];
    const replaced = walk(child, depth + 1, maxDepth, buffers);
    // defineProperty, not assignment: a "__proto__" key from JSON.parse is an own property.
    if (replaced !== child) Object.defineProperty(value, key, { value: replaced, writable: true, enumerable: true, configurable: true });
  }
  return value;
}

export class PacketReader {
  private readonly maxAttachments: number;
  private readonly maxAttachmentBytes: number;
  private readonly maxDepth: number;
  private readonly cache: FrameCache | undefined;
  private header: SocketIoPacket | undefined;
  private expected = 0;
  private buffers: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(limits: PacketReaderLimits = {}) {
    this.maxAttachments = limits.maxAttachments ?? PACKET_READER_DEFAULTS.maxAttachments;
    this.maxAttachmentBytes = limits.maxAttachmentBytes ?? PACKET_READER_DEFAULTS.maxAttachmentBytes;
    this.maxDepth = limits.maxDepth ?? PACKET_READER_DEFAULTS.maxDepth;
    this.cache = limits.cache;
  }

  /** Bytes of attachments currently held for an incomplete binary packet. */
  get heldBytes(): number {
    return this.bufferedBytes;
  }

  /**
   * Reads the next message of the direction. After a failure the reader starts afresh (an incomplete
   * binary packet is dropped), but a caller comparing a shadow should drop the shadow anyway.
   */
  read(message: string | Buffer | Uint8Array): PacketReadResult {
    try {
      return typeof message === "string" ? this.readText(message) : this.readBinary(message);
    } catch (error) {
      this.reset();
      if (error instanceof ReadFailure) return failure(error.reason, error.reason);
      // Anything else (e.g. a RangeError from a pathological payload) is still the peer's fault.
      return failure("malformed packet", error instanceof Error ? error.message : String(error));
    }
  }

  private readText(message: string): PacketReadResult {
    if (this.header !== undefined) {
      const missing = this.expected - this.buffers.length;
      this.reset();
      return failure("missing attachments", `text message while ${missing} attachment(s) were expected`);
    }
    const cached = this.cache?.get(message);
    if (cached !== undefined) return cached;
    let decoded: ReturnType<typeof decodePacket>;
    try {
      decoded = decodePacket(message, this.maxAttachments);
    } catch (error) {
      if (!(error instanceof PacketDecodeError)) throw error;
      const reason: PacketReadFailure = error.reason === "too many attachments" ? "too many attachments" : "malformed packet";
      return failure(reason, `${error.reason}: ${JSON.stringify(message.slice(0, 64))}`);
    }
    const { type } = decoded;
    // socket.io-parser accepts an event or ack without a body; nothing sensible can be compared then.
    if (
      (type === PACKET_TYPE.EVENT || type === PACKET_TYPE.BINARY_EVENT || type === PACKET_TYPE.ACK || type === PACKET_TYPE.BINARY_ACK) &&
      !Array.isArray(decoded.data)
    ) {
      return failure("malformed packet", `${JSON.stringify(message.slice(0, 64))} has no argument list`);
    }
    const packet: SocketIoPacket = { type, nsp: namespaceName(decoded.nsp), id: decoded.id, data: decoded.data };
    if (isBinaryType(type)) {
      this.header = packet;
      this.expected = decoded.attachments ?? 0;
      return WAITING;
    }
    if (decoded.data !== undefined && bracketCount(message, this.maxDepth) > this.maxDepth) walk(decoded.data, 0, this.maxDepth, undefined);
    this.cache?.set(message, packet);
    return { ok: true, packet };
  }

  private readBinary(message: Buffer | Uint8Array): PacketReadResult {
    const header = this.header;
    if (header === undefined) return failure("unexpected binary", `${message.length}-byte binary message without a binary packet`);
    this.bufferedBytes += message.length;
    if (this.bufferedBytes > this.maxAttachmentBytes) {
      const held = this.bufferedBytes;
      this.reset();
      return failure("attachments too large", `${held} bytes of attachments exceed ${this.maxAttachmentBytes}`);
    }
    this.buffers.push(Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.length));
    if (this.buffers.length < this.expected) return WAITING;
    const buffers = this.buffers;
    this.reset();
    const data = walk(header.data, 0, this.maxDepth, buffers);
    return { ok: true, packet: { ...header, data } };
  }

  private reset(): void {
    this.header = undefined;
    this.expected = 0;
    this.buffers = [];
    this.bufferedBytes = 0;
  }
}

export interface PacketEvent {
  readonly name: string;
  readonly args: readonly unknown[];
}

/**
 * Per packet object: a packet shared through a FrameCache yields the same argument list to every
 * recipient, so that what is derived from the list (its payload key) is computed once.
 */
const events = new WeakMap<SocketIoPacket, PacketEvent | null>();

/** An EVENT/BINARY_EVENT packet's name and arguments (socket.io allows numeric names: they become strings). */
export function eventOf(packet: SocketIoPacket): PacketEvent | undefined {
  let event = events.get(packet);
  if (event === undefined) {
    const data = packet.data;
    const isEvent = packet.type === PACKET_TYPE.EVENT || packet.type === PACKET_TYPE.BINARY_EVENT;
    event = isEvent && Array.isArray(data) && data.length > 0 ? { name: String(data[0]), args: data.slice(1) } : null;
    events.set(packet, event);
  }
  return event ?? undefined;
}
