/**
 * Where an upstream delivers: its client session's sink once attached, a queue before that. A backend
 * session opens before the client session exists (the gateway opens it during the handshake), so what
 * the backend sends, or its ending, in between must wait for `attach` and then arrive in order. What waits
 * is bounded in bytes (EARLY_BUFFER_BYTES): the handshake takes milliseconds, but a client that never
 * completes it keeps the upstream open for PENDING_HANDSHAKE_TTL_MS, and a backend could flood it meanwhile.
 */
import type { ErrorCode } from "../errors.js";
import { publish } from "../telemetry/events.js";
import type { DeliveryOptions, UpstreamMessage, UpstreamSink } from "./upstream.js";

interface EarlyMessage {
  readonly message: UpstreamMessage;
  readonly options: DeliveryOptions | undefined;
}

export class SinkGate {
  private sink: UpstreamSink | undefined;
  private early: EarlyMessage[] | undefined = [];
  private endedBeforeAttach: { code: ErrorCode | undefined; detail: string } | undefined;
  private earlyBytes = 0;

  /**
   * `onOverflow`: more than `maxEarlyBytes` waited; what waited is dropped and the upstream is expected to
   * end itself (its `ended` is then what the sink hears on attach).
   */
  constructor(
    private readonly maxEarlyBytes = Number.POSITIVE_INFINITY,
    private readonly onOverflow: (detail: string) => void = () => {},
  ) {}

  /** Delivers what waited, then anything later; a session that already ended is reported after what came before it. */
  attach(sink: UpstreamSink, open: boolean): void {
    const early = this.early;
    const ended = this.endedBeforeAttach;
    this.early = undefined;
    this.endedBeforeAttach = undefined;
    if (open) this.sink = sink;
    if (early !== undefined) for (const { message, options } of early) sink.onMessage(message, options);
    if (ended !== undefined) sink.onClose(ended.code, ended.detail);
  }

  message(message: UpstreamMessage, options?: DeliveryOptions): void {
    if (this.sink !== undefined) return this.sink.onMessage(message, options);
    if (this.early === undefined || this.earlyBytes > this.maxEarlyBytes) return;
    this.earlyBytes += typeof message === "string" ? message.length : message.byteLength;
    if (this.earlyBytes > this.maxEarlyBytes) {
      this.early = [];
      publish("switchyard:limit:hit", { limit: "early_buffer" });
      this.onOverflow(`${this.earlyBytes} bytes from the backend before the client session attached`);
      return;
    }
    this.early.push({ message, options });
  }

  drain(): void {
    this.sink?.onDrain();
  }

  /** The backend session ended: the sink hears it now, or on attach. */
  ended(code: ErrorCode | undefined, detail: string): void {
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined) sink.onClose(code, detail);
    else if (this.early !== undefined) this.endedBeforeAttach = { code, detail };
  }

  /** The gateway closed the upstream: nobody hears anything more. */
  detach(): void {
    this.sink = undefined;
    this.early = undefined;
    this.endedBeforeAttach = undefined;
  }
}
