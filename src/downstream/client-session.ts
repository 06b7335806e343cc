/**
 * A terminated client session: the engine.io socket facing the client, bound to one upstream (the legacy
 * server or the hub). It relays Engine.IO messages both ways, validates what the client sends at the
 * Socket.IO layer, honours backpressure in both directions, and makes sure that when either side ends,
 * the other ends at once. Optional taps (the shadow comparator) see both directions and can never alter
 * or delay them.
 */
import type { Socket as EngineSocket } from "engine.io";
import type { Limits } from "../config/static-config.js";
import type { ErrorCode } from "../errors.js";
import { clientWebSocket, engineProtocol, engineSocketId, pendingPacketCount, transportName } from "./engine-internals.js";
import { InboundPacketStream } from "../protocol/packet-stream.js";
import { PACKET_EVENTS, publish, type Backend, type ClientTransport, type SessionCloseReason } from "../telemetry/events.js";
import type { Upstream, UpstreamMessage, UpstreamSink } from "../upstream/upstream.js";

/** Observes a session's traffic (the shadow tap). Must not throw; the session guards against it anyway. */
export interface SessionTap {
  clientMessage(message: UpstreamMessage): void;
  serverMessage(message: UpstreamMessage): void;
  closed(): void;
}

export type SessionState = "open" | "closing" | "closed";

export interface ClientSessionOptions {
  readonly limits: Limits;
  readonly shadowed: boolean;
  readonly onError: (session: ClientSession, code: ErrorCode, detail: string | undefined) => void;
  readonly onClosed: (session: ClientSession) => void;
}

export class ClientSession implements UpstreamSink {
  readonly id: string;
  readonly backend: Backend;
  readonly protocol: 3 | 4;
  readonly openedAt = Date.now();
  state: SessionState = "open";
  private readonly socket: EngineSocket;
  private readonly upstream: Upstream;
  private readonly inbound: InboundPacketStream;
  private readonly limits: Limits;
  private readonly packets;
  private tap: SessionTap | undefined;
  private upstreamPaused = false;
  private clientPaused = false;
  private closeReason: SessionCloseReason = "client closed";
  private closeCode: ErrorCode | undefined;

  constructor(socket: EngineSocket, upstream: Upstream, private readonly options: ClientSessionOptions) {
    this.socket = socket;
    this.upstream = upstream;
    this.id = engineSocketId(socket);
    this.backend = upstream.backend;
    this.protocol = engineProtocol(socket);
    this.limits = options.limits;
    this.inbound = new InboundPacketStream(options.limits.maxAttachments);
    this.packets = PACKET_EVENTS[upstream.backend];
    socket.on("message", this.onClientMessage);
    socket.on("drain", this.onClientDrain);
    socket.once("close", this.onClientClose);
    socket.on("upgrade", () => publish("switchyard:session:upgraded", { sessionId: this.id, backend: this.backend, mode: "terminate" }));
    publish("switchyard:session:opened", {
      sessionId: this.id,
      backend: this.backend,
      mode: "terminate",
      transport: this.transport,
      protocol: this.protocol,
      shadowed: options.shadowed,
    });
    upstream.attach(this);
  }

  get transport(): ClientTransport {
    return transportName(this.socket);
  }

  setTap(tap: SessionTap | undefined): void {
    this.tap = tap;
  }

  /** Ends the session from the gateway's side (drain, shutdown, error): the client will reconnect. */
  close(reason: SessionCloseReason, code?: ErrorCode): void {
    if (this.state !== "open") return;
    this.closeReason = reason;
    this.closeCode = code;
    this.state = "closing";
    this.upstream.close();
    this.socket.close();
  }

  // ---- client → server -------------------------------------------------------------------------

  private readonly onClientMessage = (message: string | Buffer): void => {
    if (this.state !== "open") return;
    const verdict = this.inbound.accept(message);
    if (!verdict.ok) {
      this.fail(verdict.code, verdict.detail);
      return;
    }
    publish("switchyard:packet", this.packets.client_to_server);
    this.upstream.send(message);
    if (this.tap !== undefined) this.safeTap(() => this.tap?.clientMessage(message));
    const buffered = this.upstream.bufferedAmount;
    if (buffered > this.limits.upstreamBufferLimit) {
      this.fail("SWY_ERR_UPSTREAM_TOO_SLOW", `${buffered} bytes waiting for the ${this.backend} backend`);
    } else if (buffered > this.limits.upstreamBufferHighWater && !this.clientPaused) {
      // Only a WebSocket client can be paused; polling bodies are bounded by maxPayload anyway.
      const ws = clientWebSocket(this.socket);
      if (ws?.pause !== undefined) {
        ws.pause();
        this.clientPaused = true;
      }
    }
  };

  /** Upstream has room again. */
  onDrain(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    clientWebSocket(this.socket)?.resume?.();
  }

  private readonly onClientClose = (): void => {
    if (this.state === "closed") return;
    this.state = "closed";
    this.upstream.close();
    if (this.tap !== undefined) this.safeTap(() => this.tap?.closed());
    this.tap = undefined;
    publish("switchyard:session:closed", {
      sessionId: this.id,
      backend: this.backend,
      mode: "terminate",
      transport: this.transport,
      reason: this.closeReason,
      code: this.closeCode,
      durationMs: Date.now() - this.openedAt,
    });
    this.options.onClosed(this);
  };

  // ---- server → client -------------------------------------------------------------------------

  onMessage(message: UpstreamMessage): void {
    if (this.state !== "open") return;
    publish("switchyard:packet", this.packets.server_to_client);
    this.socket.send(message);
    if (this.tap !== undefined) this.safeTap(() => this.tap?.serverMessage(message));
    const waiting = pendingPacketCount(this.socket);
    if (waiting >= this.limits.clientBufferLimit) {
      this.fail("SWY_ERR_CLIENT_TOO_SLOW", `${waiting} packets waiting for the client`);
    } else if (waiting >= this.limits.clientBufferHighWater && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstream.pause();
    }
  }

  private readonly onClientDrain = (): void => {
    if (!this.upstreamPaused) return;
    this.upstreamPaused = false;
    this.upstream.resume();
  };

  onClose(code: ErrorCode | undefined, detail: string | undefined): void {
    if (this.state !== "open") return;
    if (code !== undefined) this.options.onError(this, code, detail);
    this.closeReason = code === undefined ? "upstream closed" : "error";
    this.closeCode = code;
    this.state = "closing";
    // engine.io flushes what is already buffered for the client before closing the transport.
    this.socket.close();
  }

  private fail(code: ErrorCode, detail: string | undefined): void {
    if (this.state !== "open") return;
    this.options.onError(this, code, detail);
    if (code.startsWith("SWY_ERR_PROTOCOL")) publish("switchyard:protocol:error", { code, backend: this.backend });
    this.close("error", code);
  }

  private safeTap(action: () => void): void {
    try {
      action();
    } catch {
      // A broken tap must never affect the client: drop it.
      this.tap = undefined;
    }
  }
}
