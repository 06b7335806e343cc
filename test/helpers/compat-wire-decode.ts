/**
 * Decoders for what the wire tap sees: Engine.IO polling bodies (v3 and v4) and WebSocket frames, turned
 * into Engine.IO packets. Independent of src/protocol on purpose: the tap is the referee the gateway is
 * judged by, so it must not share the gateway's code (a shared bug would go unnoticed).
 *
 * A decoded packet is either a string `<type char><data>` (a text packet, e.g. `42["ev"]`, `0{...}`, `2probe`)
 * or a Buffer, which is always the body of a binary *message* packet (Engine.IO type 4).
 */
export type EngineIoRevision = 3 | 4;
export type WirePacket = string | Buffer;

export class WireDecodeError extends Error {}

const RECORD_SEPARATOR = "\x1e";

/** v4 polling: packets joined by \x1e; a binary message is `b<base64>`. */
export function decodeV4PollingBody(body: Buffer): WirePacket[] {
  const text = body.toString("utf8");
  if (text.length === 0) return [];
  return text.split(RECORD_SEPARATOR).map((packet) => (packet.startsWith("b") ? Buffer.from(packet.slice(1), "base64") : packet));
}

/**
 * v3 polling, text form: `<length>:<packet>` repeated, the length in UTF-16 code units; a binary message
 * sent base64 (b64=1) is `b4<base64>`. Zero-length entries (`0:`, an empty payload) carry nothing.
 */
export function decodeV3TextPayload(text: string): WirePacket[] {
  const packets: WirePacket[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon === -1) throw new WireDecodeError(`v3 payload without a length at ${i}`);
    const length = Number(text.slice(i, colon));
    if (!Number.isSafeInteger(length) || length < 0) throw new WireDecodeError(`bad v3 length ${JSON.stringify(text.slice(i, colon))}`);
    const packet = text.slice(colon + 1, colon + 1 + length);
    if (packet.length !== length) throw new WireDecodeError("truncated v3 payload");
    i = colon + 1 + length;
    if (length === 0) continue;
    if (packet.startsWith("b")) {
      if (packet.charAt(1) !== "4") throw new WireDecodeError(`v3 base64 packet of type ${packet.charAt(1)}`);
      packets.push(Buffer.from(packet.slice(2), "base64"));
    } else {
      packets.push(packet);
    }
  }
  return packets;
}

/**
 * v3 polling, binary (XHR2) form, `application/octet-stream`: per packet a 0 (string) or 1 (binary) byte,
 * the length as one byte per decimal digit, 0xff, then the packet. String packets are UTF-8; binary packets
 * start with their type byte (4 = message).
 */
export function decodeV3BinaryPayload(body: Buffer): WirePacket[] {
  const packets: WirePacket[] = [];
  let i = 0;
  while (i < body.length) {
    const isString = body[i] === 0;
    if (!isString && body[i] !== 1) throw new WireDecodeError(`v3 binary payload with kind byte ${body[i]}`);
    let j = i + 1;
    let digits = "";
    while (j < body.length && body[j] !== 0xff) {
      const digit = body[j]!;
      if (digit > 9 || digits.length > 16) throw new WireDecodeError("bad v3 binary payload length");
      digits += String(digit);
      j++;
    }
    if (j >= body.length || digits.length === 0) throw new WireDecodeError("truncated v3 binary payload header");
    const length = Number(digits);
    const start = j + 1;
    const packet = body.subarray(start, start + length);
    if (packet.length !== length) throw new WireDecodeError("truncated v3 binary payload");
    i = start + length;
    if (isString) {
      packets.push(packet.toString("utf8"));
    } else {
      if (packet[0] !== 4) throw new WireDecodeError(`v3 binary packet of type ${packet[0]}`);
      packets.push(Buffer.from(packet.subarray(1)));
    }
  }
  return packets;
}

export function decodePollingBody(revision: EngineIoRevision, body: Buffer, contentType: string | undefined): WirePacket[] {
  if (revision === 4) return decodeV4PollingBody(body);
  if ((contentType ?? "").startsWith("application/octet-stream")) return decodeV3BinaryPayload(body);
  return decodeV3TextPayload(body.toString("utf8"));
}

/** One WebSocket frame: text is `<type><data>` (v3 may send `b4<base64>`); binary is the message bytes, after a 0x04 type byte in v3. */
export function decodeWebSocketFrame(revision: EngineIoRevision, data: Buffer, isBinary: boolean): WirePacket {
  if (isBinary) {
    if (revision === 4) return Buffer.from(data);
    if (data[0] !== 4) throw new WireDecodeError(`v3 binary frame of type ${data[0]}`);
    return Buffer.from(data.subarray(1));
  }
  const text = data.toString("utf8");
  if (revision === 3 && text.startsWith("b4")) return Buffer.from(text.slice(2), "base64");
  return text;
}

/** engine.io maps any EIO other than "4" to v3 (when allowEIO3 is on); so does the tap. */
export function revisionOfUrl(url: string | undefined): EngineIoRevision {
  return new URL(url ?? "/", "http://tap.invalid").searchParams.get("EIO") === "4" ? 4 : 3;
}
