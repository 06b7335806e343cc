/**
 * The sample hub's side of the wire (docs/hub-protocol.md). Written from the document alone, without the
 * gateway's src/protocol code, the way the customer's Go hub is: if the two disagree with the document,
 * the end-to-end tests show it.
 */
export const SUBPROTOCOL = "switchyard-hub.v1";
export const PROTOCOL_VERSION = 1;
export const SESSION_HEADER = "x-switchyard-session";
export const SHADOW_HEADER = "x-switchyard-shadow";

export const CLOSE = Object.freeze({ normal: 1000, goingAway: 1001, policy: 1008, internal: 1011, protocolError: 4400 });

/** A text frame as received: a JSON object with a string `type`; everything else is optional here. */
export interface Frame {
  readonly type: string;
  readonly nsp?: unknown;
  readonly data?: unknown;
  readonly id?: unknown;
  readonly sid?: unknown;
  readonly auth?: unknown;
  readonly query?: unknown;
  readonly attachments?: unknown;
  readonly [field: string]: unknown;
}

export class WireError extends Error {}

export function parseFrame(text: string): Frame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WireError("frame is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new WireError("frame is not a JSON object");
  if (typeof (value as { type?: unknown }).type !== "string") throw new WireError('frame has no string "type"');
  return value as Frame;
}

/** The number of binary frames that follow a text frame (0 when absent). */
export function attachmentCount(frame: Frame, limit: number): number {
  const n = frame.attachments;
  if (n === undefined) return 0;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || n > limit)
    throw new WireError(`invalid "attachments": ${JSON.stringify(n)}`);
  return n;
}

function isPlaceholder(value: unknown): value is { _placeholder: true; num: number } {
  return typeof value === "object" && value !== null && (value as { _placeholder?: unknown })._placeholder === true;
}

/** Puts the binary frames back where their placeholders are. */
export function reconstruct(data: unknown, buffers: readonly Buffer[]): unknown {
  if (isPlaceholder(data)) {
    const buffer = buffers[data.num];
    if (buffer === undefined) throw new WireError(`placeholder ${String(data.num)} has no binary frame`);
    return buffer;
  }
  if (Array.isArray(data)) return data.map((item) => reconstruct(item, buffers));
  if (typeof data === "object" && data !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(data)) out[key] = reconstruct(value, buffers);
    return out;
  }
  return data;
}

/** Replaces every Buffer in `data` with a placeholder and collects the Buffers, in placeholder order. */
export function deconstruct(data: unknown, buffers: Buffer[]): unknown {
  if (Buffer.isBuffer(data)) {
    buffers.push(data);
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) return deconstruct(Buffer.from(data as Uint8Array), buffers);
  if (Array.isArray(data)) return data.map((item) => deconstruct(item, buffers));
  if (typeof data === "object" && data !== null && !(data instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(data)) out[key] = deconstruct(value, buffers);
    return out;
  }
  return data;
}

/** A frame and the binary frames it announces, ready to send. */
export function encodeFrame(frame: Record<string, unknown>, payload?: unknown[]): (string | Buffer)[] {
  if (payload === undefined) return [JSON.stringify(frame)];
  const buffers: Buffer[] = [];
  const data = deconstruct(payload, buffers);
  const text = JSON.stringify(buffers.length > 0 ? { ...frame, attachments: buffers.length, data } : { ...frame, data });
  return [text, ...buffers];
}

/** socket.io's id format: 15 random bytes as base64url (20 characters). */
export function randomId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(15))).toString("base64url");
}
