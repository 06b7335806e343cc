/**
 * Validates the stream of Engine.IO messages one client sends, at the Socket.IO layer: every text message
 * must decode as a Socket.IO packet (socket.io-parser's rules), and binary messages must be exactly the
 * attachments the preceding packet announced. Pure and incremental: one instance per client session.
 */
import type { ErrorCode } from "../errors.js";
import { decodePacket, isBinaryType, PacketDecodeError, type Packet } from "./socketio.js";

export type StreamVerdict =
  | { readonly ok: true; readonly packet: Packet | undefined }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

const ACCEPTED_BINARY: StreamVerdict = Object.freeze({ ok: true, packet: undefined });

export class InboundPacketStream {
  private pendingAttachments = 0;

  constructor(private readonly maxAttachments: number) {}

  /** True while binary attachments of an announced packet are still expected. */
  get awaitingAttachments(): boolean {
    return this.pendingAttachments > 0;
  }

  /**
   * `message` is what engine.io emits: a string, a Buffer, or `undefined` for an empty message packet (a bare
   * `4`, which engine.io-parser decodes without data). socket.io-parser refuses the latter ("Unknown type") and
   * socket.io closes the connection; so does this.
   */
  accept(message: string | Buffer | undefined): StreamVerdict {
    if (message === undefined || (typeof message !== "string" && !Buffer.isBuffer(message))) {
      return { ok: false, code: "SWY_ERR_PROTOCOL_MALFORMED", detail: "an empty message (an Engine.IO message packet without data)" };
    }
    if (typeof message !== "string") {
      if (this.pendingAttachments === 0) {
        return {
          ok: false,
          code: "SWY_ERR_PROTOCOL_UNEXPECTED_BINARY",
          detail: `${message.length}-byte binary message without a binary packet`,
        };
      }
      this.pendingAttachments--;
      return ACCEPTED_BINARY;
    }
    if (this.pendingAttachments > 0) {
      return { ok: false, code: "SWY_ERR_PROTOCOL_MALFORMED", detail: "text message while binary attachments were expected" };
    }
    let packet: Packet;
    try {
      packet = decodePacket(message, this.maxAttachments);
    } catch (error) {
      if (!(error instanceof PacketDecodeError)) throw error;
      const code: ErrorCode =
        error.reason === "too many attachments" ? "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS" : "SWY_ERR_PROTOCOL_MALFORMED";
      return { ok: false, code, detail: `${error.reason}: ${JSON.stringify(message.slice(0, 64))}` };
    }
    if (isBinaryType(packet.type)) this.pendingAttachments = packet.attachments ?? 0;
    return { ok: true, packet };
  }
}
