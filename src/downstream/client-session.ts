/**
 * A terminated client session: the engine.io socket facing the client, bound to one upstream (the legacy
 * server or the hub). It relays Engine.IO messages both ways, validates what the client sends at the
 * Socket.IO layer, honours backpressure in both directions, and makes sure that when either side ends,
 * the other ends at once. A session may start unrouted (its route waits for the auth payload of the first
 * CONNECT): client messages are then queued, bounded, until the upstream is open. An optional tap (the
 * shadow) sees both directions and can never alter or delay them.
 */
import type { Socket as EngineSocket } from "engine.io";
import type { Limits } from "../config/static-config.js";
import { errorCodeOf, type ErrorCode } from "../errors.js";
import { engineCloseCode } from "../protocol/engineio.js";
import { AckTimer } from "./ack-timer.js";
import { InboundPacketStream } from "../protocol/packet-stream.js";
import { PACKET_TYPE } from "../protocol/socketio.js";
import { guard, reportContained } from "../telemetry/containment.js";
import { PACKET_EVENTS, publish, type ContainmentBoundary, type PacketEvent } from "../telemetry/events.js";
import type { Backend, ClientTransport, SessionCloseReason } from "../domain.js";
import type { DeliveryOptions, Upstream, UpstreamMessage, UpstreamSink } from "../upstream/upstream.js";
import {
  clientWebSocket,
  discardClientSession,
  engineProtocol,
  engineSocketId,
  pendingPacketCount,
  transportBufferedBytes,
  transportName,
  writePreEncodedFrame,
} from "./engine-internals.js";

/** Observes a session's traffic (the shadow tap). Must not throw; the session guards against it anyway. */
export interface SessionTap {
  clientMessage(message: UpstreamMessage): void;
  serverMessage(message: UpstreamMessage): void;
  closed(): void;
}

export type SessionState = "routing" | "open" | "closing" | "closed";

export interface BoundUpstream {
  readonly upstream: Upstream;
  readonly backend: Backend;
  readonly shadowed: boolean;
}

/** Decides the route of an unrouted session from its first CONNECT's auth and opens its upstream. */
export type DeferredRouting = (auth: unknown) => Promise<BoundUpstream>;

export interface ClientSessionOptions {
  readonly limits: Limits;
  readonly onError: (session: ClientSession, code: ErrorCode, detail: string | undefined) => void;
  /** The session has its upstream (at once, or after deferred routing): a place to attach a tap. */
  readonly onBound?: (session: ClientSession) => void;
  /** The client's transport changed (polling → WebSocket). */
  readonly onUpgraded?: (session: ClientSession) => void;
  readonly onClosed: (session: ClientSession) => void;
}

export class ClientSession implements UpstreamSink {
  readonly id: string;
  readonly protocol: 3 | 4;
  readonly openedAt = Date.now();
  state: SessionState;
  /** Undefined while the session waits for its route. */
  backend: Backend | undefined;
  shadowed = false;
  /** Its bucket when the split routed it (see splitBucketOf): a drain of moved buckets closes only those. */
  splitBucket: number | undefined;
  private readonly socket: EngineSocket;
  private upstream: Upstream | undefined;
  private readonly inbound: InboundPacketStream;
  private readonly limits: Limits;
  private packets: Readonly<Record<"client_to_server" | "server_to_client", PacketEvent>> | undefined;
  private tap: SessionTap | undefined;
  /** Times client emits with acks through the backend (switchyard:ack:latency); set once bound. */
  private acks: AckTimer | undefined;
  private queue: UpstreamMessage[] | undefined;
  private queuedBytes = 0;
  /** Bytes of the messages in engine.io's writeBuffer (it empties on "flush", when they go to the transport). */
  private clientBufferedBytes = 0;
  private upstreamPaused = false;
  private clientPaused = false;
  private closeReason: SessionCloseReason = "client closed";
  private closeCode: ErrorCode | undefined;

  constructor(
    socket: EngineSocket,
    bound: BoundUpstream | DeferredRouting,
    private readonly options: ClientSessionOptions,
  ) {
    this.socket = socket;
    this.id = engineSocketId(socket);
    this.protocol = engineProtocol(socket);
    this.limits = options.limits;
    this.inbound = new InboundPacketStream(options.limits.maxAttachments);
    // Every listener is guarded: an exception in this session's handling ends this session, never the process.
    const fromClient = (error: unknown) => this.crash("client", error);
    socket.on("message", guard(this.onClientMessage, fromClient));
    socket.on("drain", guard(this.onClientDrain, fromClient));
    socket.on("flush", () => {
      this.clientBufferedBytes = 0;
    });
    socket.once("close", guard(this.onClientClose, fromClient));
    socket.on(
      "upgrade",
      guard(() => {
        if (this.backend !== undefined)
          publish("switchyard:session:upgraded", { sessionId: this.id, backend: this.backend, mode: "terminate" });
        this.options.onUpgraded?.(this);
      }, fromClient),
    );
    if (typeof bound === "function") {
      this.state = "routing";
      this.queue = [];
      this.route = bound;
    } else {
      this.state = "open";
      this.bind(bound);
    }
  }

  private route: DeferredRouting | undefined;

  get transport(): ClientTransport {
    return transportName(this.socket);
  }

  setTap(tap: SessionTap | undefined): void {
    this.tap = tap;
  }

  /** Ends the session from the gateway's side (drain, shutdown, error): the client will reconnect. */
  close(reason: SessionCloseReason, code?: ErrorCode): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.closeReason = reason;
    this.closeCode = code;
    this.state = "closing";
    this.upstream?.close();
    // engine.io would flush what waits for the client before closing: a client too slow to read never takes it.
    if (code === "SWY_ERR_CLIENT_TOO_SLOW") discardClientSession(this.socket);
    else this.socket.close();
  }

  private bind(bound: BoundUpstream): void {
    this.upstream = bound.upstream;
    this.backend = bound.backend;
    this.shadowed = bound.shadowed;
    this.packets = PACKET_EVENTS[bound.backend];
    this.acks = new AckTimer(bound.backend);
    publish("switchyard:session:opened", {
      sessionId: this.id,
      backend: bound.backend,
      mode: "terminate",
      transport: this.transport,
      protocol: this.protocol,
      shadowed: bound.shadowed,
    });
    this.options.onBound?.(this);
    bound.upstream.attach(this);
  }

  // ---- client → server -------------------------------------------------------------------------

  private readonly onClientMessage = (message: string | Buffer | undefined): void => {
    if (this.state !== "open" && this.state !== "routing") return;
    const verdict = this.inbound.accept(message);
    if (!verdict.ok) {
      this.fail(verdict.code, verdict.detail);
      return;
    }
    // accept() refuses anything but a string or a Buffer.
    const accepted = message as UpstreamMessage;
    if (this.upstream === undefined) {
      this.enqueue(accepted, verdict.packet?.type === PACKET_TYPE.CONNECT ? verdict.packet.data : undefined);
      return;
    }
    this.forward(accepted);
    // Only emits forwarded at once are timed: a queued one's time would include the wait for its route.
    if (verdict.packet?.id !== undefined) this.acks?.forwarded(verdict.packet);
  };

  private forward(message: UpstreamMessage): void {
    const upstream = this.upstream!;
    publish("switchyard:packet", this.packets!.client_to_server);
    upstream.send(message);
    if (this.tap !== undefined) this.tapMessage(true, message);
    const buffered = upstream.bufferedAmount;
    if (buffered > this.limits.upstreamBufferLimit) {
      publish("switchyard:limit:hit", { limit: "upstream_buffer" });
      this.fail("SWY_ERR_UPSTREAM_TOO_SLOW", `${buffered} bytes waiting for the ${this.backend} backend`);
    } else if (buffered > this.limits.upstreamBufferHighWater && !this.clientPaused) {
      // Only a WebSocket client can be paused; polling bodies are bounded by maxPayload anyway.
      const ws = clientWebSocket(this.socket);
      if (ws?.pause !== undefined) {
        ws.pause();
        this.clientPaused = true;
      }
    }
  }

  /** Unrouted: hold the message (bounded); the first CONNECT's auth decides the route. */
  private enqueue(message: UpstreamMessage, connectAuth: unknown): void {
    const queue = this.queue!;
    this.queuedBytes += typeof message === "string" ? message.length : message.byteLength;
    if (queue.length >= this.limits.maxPendingMessages || this.queuedBytes > this.limits.maxPendingBytes) {
      publish("switchyard:limit:hit", { limit: "pending_queue" });
      this.fail("SWY_ERR_QUEUE_OVERFLOW", `${queue.length} messages (${this.queuedBytes} bytes) waiting for the route`);
      return;
    }
    queue.push(message);
    const route = this.route;
    if (route === undefined) return;
    this.route = undefined;
    // A v5 client's first packet is its CONNECT; anything else is routed without auth.
    route(connectAuth ?? {}).then(
      guard(
        (bound: BoundUpstream) => {
          if (this.state !== "routing") {
            bound.upstream.close();
            return;
          }
          this.state = "open";
          const queued = this.queue ?? [];
          this.queue = undefined;
          this.bind(bound);
          for (const pending of queued) if (this.state === "open") this.forward(pending);
        },
        (error) => this.crash("client", error),
      ),
      (error: unknown) => this.fail(errorCodeOf(error, "SWY_ERR_UPSTREAM_UNREACHABLE"), (error as Error).message),
    );
  }

  /** Upstream has room again. */
  onDrain(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    try {
      clientWebSocket(this.socket)?.resume?.();
    } catch (error) {
      this.crash("backend", error);
    }
  }

  private readonly onClientClose = (reason?: string, description?: unknown): void => {
    if (this.state === "closed") return;
    // engine.io ended the session for the client's bad Engine.IO input (the gateway did not close it): a protocol
    // error of the client's, coded and counted like the Socket.IO ones.
    const engineCode = this.state === "closing" ? undefined : engineCloseCode(reason, description);
    if (engineCode !== undefined) {
      this.closeReason = "error";
      this.closeCode = engineCode;
      this.options.onError(this, engineCode, `engine.io closed the session: ${reason}`);
      publish("switchyard:protocol:error", { code: engineCode, backend: this.backend });
    } else if (reason === "ping timeout" && this.state !== "closing" && this.backend !== undefined) {
      // The client stopped answering heartbeats: it left without closing, or it stopped reading (and nothing
      // was sent to it that would have hit CLIENT_BUFFER_LIMIT_BYTES first).
      this.closeCode = "SWY_ERR_CLIENT_PING_TIMEOUT";
    }
    this.state = "closed";
    this.queue = undefined;
    try {
      this.upstream?.close();
      if (this.tap !== undefined) this.safeTap(() => this.tap?.closed());
      this.tap = undefined;
      if (this.backend === undefined) {
        // Never routed (its first CONNECT overflowed the queue, or its route's upstream failed): to
        // operators that is a refused session.
        if (this.closeCode !== undefined) publish("switchyard:handshake:refused", { code: this.closeCode });
      } else {
        publish("switchyard:session:closed", {
          sessionId: this.id,
          backend: this.backend,
          mode: "terminate",
          transport: this.transport,
          reason: this.closeReason,
          code: this.closeCode,
          durationMs: Date.now() - this.openedAt,
        });
      }
    } finally {
      // Whatever failed above, the gateway forgets the session (no leak in its maps or the registry).
      this.options.onClosed(this);
    }
  };

  // ---- server → client -------------------------------------------------------------------------

  onMessage(message: UpstreamMessage, options?: DeliveryOptions): void {
    try {
      this.deliver(message, options);
    } catch (error) {
      this.crash("backend", error);
    }
  }

  private deliver(message: UpstreamMessage, options: DeliveryOptions | undefined): void {
    if (this.state !== "open") return;
    // Room broadcast deliveries (they carry options) are counted once per broadcast (switchyard:rooms:broadcast),
    // keeping the per-recipient path free of metric calls.
    if (options === undefined) {
      publish("switchyard:packet", this.packets!.server_to_client);
      this.acks?.delivered(message);
    }
    // A room broadcast's options carry its one pre-built WebSocket frame: written straight to a client that
    // keeps up, else through engine.io (which writes that frame too; its SendOptions lack the field). Counted
    // before send: a send to a writable transport flushes (and zeroes the count) at once.
    if (options?.wsPreEncodedFrame === undefined || !writePreEncodedFrame(this.socket, options)) {
      this.clientBufferedBytes += typeof message === "string" ? message.length : message.byteLength;
      this.socket.send(message, options as Parameters<EngineSocket["send"]>[1]);
    }
    if (this.tap !== undefined) this.tapMessage(false, message);
    const waiting = pendingPacketCount(this.socket);
    const waitingBytes = this.clientBufferedBytes + transportBufferedBytes(this.socket);
    if (waiting >= this.limits.clientBufferLimit || waitingBytes > this.limits.clientBufferLimitBytes) {
      publish("switchyard:limit:hit", { limit: "client_buffer" });
      this.fail("SWY_ERR_CLIENT_TOO_SLOW", `${waiting} packets (${waitingBytes} bytes) waiting for the client`);
    } else if (waiting >= this.limits.clientBufferHighWater && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstream?.pause();
    }
  }

  private readonly onClientDrain = (): void => {
    if (!this.upstreamPaused) return;
    this.upstreamPaused = false;
    this.upstream?.resume();
  };

  onClose(code: ErrorCode | undefined, detail: string | undefined): void {
    if (this.state !== "open") return;
    if (code !== undefined) this.options.onError(this, code, detail);
    this.closeReason = code === undefined ? "upstream closed" : "error";
    this.closeCode = code;
    this.state = "closing";
    try {
      // engine.io flushes what is already buffered for the client before closing the transport.
      this.socket.close();
    } catch (error) {
      this.options.onError(this, "SWY_ERR_INTERNAL", reportContained("backend", error));
    }
  }

  private fail(code: ErrorCode, detail: string | undefined): void {
    if (this.state !== "open" && this.state !== "routing") return;
    this.options.onError(this, code, detail);
    if (code.startsWith("SWY_ERR_PROTOCOL")) publish("switchyard:protocol:error", { code, backend: this.backend });
    this.close("error", code);
  }

  /** The tap sees a message (no closure per message: this is on every shadowed delivery's path). */
  private tapMessage(fromClient: boolean, message: UpstreamMessage): void {
    try {
      if (fromClient) this.tap?.clientMessage(message);
      else this.tap?.serverMessage(message);
    } catch (error) {
      this.tapFailed(error);
    }
  }

  private safeTap(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.tapFailed(error);
    }
  }

  private tapFailed(error: unknown): void {
    // A broken tap must never affect the client: drop it (counted and logged: it is a bug).
    this.tap = undefined;
    this.options.onError(this, "SWY_ERR_INTERNAL", `shadow tap dropped: ${reportContained("shadow", error)}`);
  }

  /**
   * An exception escaped this session's handling of a client message or a backend delivery: a bug. It is
   * counted (switchyard_contained_errors_total), logged by the owner with SWY_ERR_INTERNAL, and ends this
   * session only (socket.io likewise closes the one connection whose packet it cannot handle).
   */
  private crash(boundary: ContainmentBoundary, error: unknown): void {
    const detail = reportContained(boundary, error);
    if (this.state === "open" || this.state === "routing") this.fail("SWY_ERR_INTERNAL", detail);
    else this.options.onError(this, "SWY_ERR_INTERNAL", detail);
  }
}
