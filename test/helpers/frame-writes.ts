/**
 * Counts how pre-built WebSocket frames of room broadcasts reach clients in this process: through engine.io
 * (ws's Sender#sendFrame, header and payload in two writes) or written straight to the client's socket by the
 * gateway's direct write (one Buffer holding a whole unmasked final text frame; ws writes a server frame's
 * header and payload apart, and a client's frames are masked, so nothing else writes such a Buffer).
 */
import { Socket } from "node:net";
import WebSocket from "ws";

export interface FrameWrites {
  /** Frames engine.io handed to ws's Sender#sendFrame (pre-built or not). */
  readonly viaEngine: number;
  /** Whole unmasked text frames written as one Buffer: the direct write. */
  readonly direct: number;
  restore(): void;
}

/** Whether `chunk` is one whole unmasked, final text frame (FIN + opcode 1, no mask bit, length matching). */
export function isWholeTextFrame(chunk: unknown): boolean {
  if (!Buffer.isBuffer(chunk) || chunk.length < 2 || chunk[0] !== 0x81 || (chunk[1]! & 0x80) !== 0) return false;
  const short = chunk[1]! & 0x7f;
  if (short < 126) return chunk.length === 2 + short;
  if (short === 126) return chunk.length >= 4 && chunk.length === 4 + chunk.readUInt16BE(2);
  return chunk.length >= 10 && BigInt(chunk.length) === 10n + chunk.readBigUInt64BE(2);
}

export function countFrameWrites(): FrameWrites {
  const sender = (WebSocket as unknown as { Sender: { prototype: { sendFrame: (...args: unknown[]) => unknown } } }).Sender.prototype;
  const socket = Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
  const originalSendFrame = sender.sendFrame;
  const originalWrite = socket.write;
  const ownWrite = Object.hasOwn(socket, "write");
  const counts = { viaEngine: 0, direct: 0 };
  sender.sendFrame = function (this: unknown, ...args: unknown[]) {
    counts.viaEngine++;
    return originalSendFrame.apply(this, args);
  };
  socket.write = function (this: unknown, ...args: unknown[]) {
    if (isWholeTextFrame(args[0])) counts.direct++;
    return originalWrite.apply(this, args);
  };
  return {
    get viaEngine() {
      return counts.viaEngine;
    },
    get direct() {
      return counts.direct;
    },
    restore() {
      sender.sendFrame = originalSendFrame;
      if (ownWrite) socket.write = originalWrite;
      else delete (socket as { write?: unknown }).write;
    },
  };
}
