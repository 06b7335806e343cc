/**
 * One backend session, seen from a client session. Both backends (the legacy socket.io server and the
 * hub) sit behind this interface and speak *Engine.IO messages of the client's protocol revision*: the
 * legacy upstream relays them as they are, the hub upstream translates them to and from hub frames. So
 * the client session, the shadow tap and the metrics never need to know which backend they face.
 */
import type { ErrorCode } from "../errors.js";
import type { Backend, UpstreamRole } from "../domain.js";

export type UpstreamMessage = string | Buffer;

/**
 * engine.io's send options for one message. A room broadcast shares one object among its recipients:
 * `wsPreEncodedFrame` is the WebSocket frame built once for all of them (socket.io-adapter's encode-once),
 * which engine.io's WebSocket transport writes as it is; polling ignores it. engine.io sets `compress`.
 */
export interface DeliveryOptions {
  wsPreEncodedFrame?: unknown;
  /** That frame as one Buffer, made on first use by the gateway's direct write (engine-internals.ts). */
  wsFrame?: Buffer;
  compress?: boolean;
}

export interface UpstreamSink {
  /** A server→client Engine.IO message, in the client's protocol revision. */
  onMessage(message: UpstreamMessage, options?: DeliveryOptions): void;
  /** The backend session ended on its own. `code` is undefined for an orderly close by the backend. */
  onClose(code: ErrorCode | undefined, detail: string | undefined): void;
  /** The bytes waiting for the backend fell below the low-water mark after a send over the high-water mark. */
  onDrain(): void;
}

export interface Upstream {
  readonly backend: Backend;
  readonly role: UpstreamRole;
  /** The backend's Engine.IO id; the gateway adopts it as the client's so that derived ids agree. */
  readonly sessionId: string;
  /** Bytes accepted by send() and not yet written to the backend's socket. */
  readonly bufferedAmount: number;
  /** Starts delivering to the sink; messages that arrived before are delivered first, in order. */
  attach(sink: UpstreamSink): void;
  /** A client→server Engine.IO message, in the client's protocol revision. */
  send(message: UpstreamMessage): void;
  /** Stop/restart reading from the backend (backpressure from a slow client). */
  pause(): void;
  resume(): void;
  /** Ends the backend session. The sink hears nothing more after this call. */
  close(): void;
}
