/**
 * The shadow of one client session. It mirrors every client→server message to a shadow backend session
 * and feeds both sides' server→client packets to a SessionComparator. It sits on the client session as a
 * tap, so it can never alter what the client receives, and it defers its own work: the tap only records
 * (message, time) in a bounded backlog that is processed after the relay has moved on. Anything going
 * wrong on the shadow side (cannot open, slow, dead, garbage, over a bound) ends the shadow, counted, and
 * never the client session.
 */
import type { ErrorCode } from "../errors.js";
import type { SessionTap } from "../downstream/client-session.js";
import { parseClientNamespace } from "../protocol/namespace.js";
import { namespaceName, PACKET_TYPE, parseHeader } from "../protocol/socketio.js";
import type { SocketIoRevision } from "../protocol/versions.js";
import { guard, reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import type { Upstream, UpstreamMessage, UpstreamSink } from "../upstream/upstream.js";
import { SessionComparator } from "./comparator.js";
import type { ComparisonOutcome, SessionComparatorOptions } from "./outcome.js";
import type { FrameCache } from "./frame-cache.js";
import { PacketReader } from "./packet-reader.js";
import type { ScheduledWork, ShadowScheduler } from "./shadow-scheduler.js";

export interface ShadowTapLimits {
  /** Messages recorded by the tap and not processed yet. */
  readonly maxBacklog: number;
  /** Client messages waiting for the shadow session to open. */
  readonly maxQueuedMessages: number;
  /**
   * Bytes of messages the tap holds (the backlog, the messages waiting for the shadow to open and those held
   * for a namespace), together: each queue also has its message bound above, but a message may be maxPayload long.
   */
  readonly maxQueuedBytes: number;
  /** Bytes waiting to be written to the shadow backend. */
  readonly maxBufferedBytes: number;
  readonly maxAttachments: number;
}

export interface ShadowTapDeps {
  readonly sessionId: string;
  /**
   * Engine.IO v3 (Socket.IO 2.x) clients derive socket ids from the engine id and their CONNECT carries
   * no sid, so the comparator cannot learn the ids from it: the primary's and the shadow's engine ids
   * are mapped instead (they differ for a dark legacy shadow; a hub adopts the primary's).
   */
  readonly derivedSocketIds?: boolean;
  /**
   * The backend connects namespace "/" by itself (Engine.IO v3 clients, which never send a CONNECT for
   * it): client packets for "/" wait for the shadow's CONNECT as if the client had asked for it.
   */
  readonly implicitRootNamespace?: boolean;
  /** The client's Socket.IO revision: v4 namespaces are read as URLs, as the backends read them. Default 5. */
  readonly socketIoRevision?: SocketIoRevision;
  readonly open: () => Promise<Upstream>;
  readonly comparator: Omit<SessionComparatorOptions, "onOutcome">;
  readonly limits: ShadowTapLimits;
  readonly now: () => number;
  /** Runs the tap's deferred work in batches shared with the instance's other taps (default: its own setImmediate). */
  readonly scheduler?: ShadowScheduler;
  /** Server→client text packets decoded once for all sessions (a broadcast's recipients share one text). */
  readonly frameCache?: FrameCache;
  readonly onOutcome: (outcome: ComparisonOutcome) => void;
  readonly onOpened: () => void;
  /** The shadow ended; `code` says why when it failed. Called once. */
  readonly onEnded: (code: ErrorCode | undefined, detail: string | undefined, overflow: "queue" | "buffer" | undefined) => void;
}

type State = "opening" | "open" | "ended";

/** Longest time a shadow is heard out after its client session ended (the comparison window, capped). */
const MAX_DRAIN_MS = 10_000;
/** What becomes of one mirrored client message (see `routeOf`). */
type Routing = "forward" | "hold" | "drop";
type Origin = "client" | "primary" | "shadow";
type BacklogItem = { readonly origin: Origin; readonly message: UpstreamMessage; readonly at: number };

function sizeOf(message: UpstreamMessage): number {
  return typeof message === "string" ? message.length : message.byteLength;
}

export class ShadowTap implements SessionTap, UpstreamSink, ScheduledWork {
  readonly comparator: SessionComparator;
  private state: State = "opening";
  private upstream: Upstream | undefined;
  private waiting: UpstreamMessage[] = [];
  private backlog: BacklogItem[] = [];
  /** Bytes in `backlog`, `waiting` and `held` (see ShadowTapLimits.maxQueuedBytes). */
  private queuedBytes = { backlog: 0, waiting: 0, held: 0 };
  /**
   * The shadow backend's view of the session's namespaces. The client sends a namespace's events once
   * the *primary* accepted it, which may be before the shadow did: such packets are held (in order,
   * with everything after them) until the shadow's CONNECT, as a backend refuses them before it
   * (socket.io closes the connection: "invalid state"). A namespace the shadow refused or left gets
   * nothing more until the client connects it again.
   */
  private readonly shadowNamespaces = new Map<string, "connecting" | "connected">();
  private held: UpstreamMessage[] = [];
  private attachmentsLeft = 0;
  private attachmentsRouting: Routing = "forward";
  /** Waiting to be run by the scheduler (or its own setImmediate). */
  private scheduled = false;
  private immediate: NodeJS.Immediate | undefined;
  /** Set once the client session ended: the shadow is heard out until then. */
  private draining: NodeJS.Timeout | undefined;
  private readonly clientReader: PacketReader;
  private readonly primaryReader: PacketReader;
  private readonly shadowReader: PacketReader;

  constructor(private readonly deps: ShadowTapDeps) {
    const readerLimits = { maxAttachments: deps.limits.maxAttachments };
    // Client packets are each client's own: caching them would only evict the broadcasts.
    this.clientReader = new PacketReader(readerLimits);
    const serverLimits = deps.frameCache === undefined ? readerLimits : { ...readerLimits, cache: deps.frameCache };
    this.primaryReader = new PacketReader(serverLimits);
    this.shadowReader = new PacketReader(serverLimits);
    this.comparator = new SessionComparator({ ...deps.comparator, onOutcome: deps.onOutcome });
    deps.open().then(
      guard((upstream: Upstream) => this.onOpen(upstream), this.crash),
      (error: unknown) => this.end((error as { code?: ErrorCode }).code ?? "SWY_ERR_SHADOW", (error as Error).message),
    );
  }

  get ended(): boolean {
    return this.state === "ended";
  }

  /** Shadowing a live client session (not ended, and not hearing out the shadow after the client left). */
  get active(): boolean {
    return this.state !== "ended" && this.draining === undefined;
  }

  // ---- SessionTap: called on the relay path, so it only records --------------------------------

  clientMessage(message: UpstreamMessage): void {
    this.record("client", message);
  }

  serverMessage(message: UpstreamMessage): void {
    this.record("primary", message);
  }

  /**
   * The client session ended. The shadow lags the primary, so what it has in flight is still compared
   * for up to one window (the primary's last deliveries would otherwise all count as missing); then the
   * shadow session ends.
   */
  closed(): void {
    this.processGuarded();
    if (this.state !== "open") return this.end(undefined, undefined);
    this.comparator.closePrimary();
    this.draining = setTimeout(() => this.end(undefined, undefined), Math.min(this.deps.comparator.config().windowMs, MAX_DRAIN_MS));
  }

  private record(origin: Origin, message: UpstreamMessage): void {
    if (this.state === "ended") return;
    if (this.backlog.length >= this.deps.limits.maxBacklog) {
      this.end(undefined, "the shadow tap fell behind", "queue");
      return;
    }
    if (!this.reserve("backlog", message)) return;
    this.backlog.push({ origin, message, at: this.deps.now() });
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.deps.scheduler !== undefined) this.deps.scheduler.schedule(this);
    else this.immediate = setImmediate(this.processGuarded);
  }

  /** ScheduledWork: the scheduler's batch has come. */
  runScheduled(): void {
    this.processGuarded();
  }

  /**
   * An exception in the tap's own work (a bug): counted and logged as SWY_ERR_INTERNAL, and the shadow ends.
   * The client session never sees it: every entry point of the tap is guarded.
   */
  private readonly crash = (error: unknown): void => {
    this.end("SWY_ERR_INTERNAL", reportContained("shadow", error));
  };

  private readonly processGuarded = guard(() => this.process(), this.crash);

  /** Everything recorded so far, in the order it happened on the relay and the shadow socket. */
  private process(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.scheduled = false;
    const items = this.backlog;
    this.backlog = [];
    this.queuedBytes.backlog = 0;
    for (const item of items) {
      if (this.state === "ended") return;
      if (item.origin === "client") this.mirror(item.message);
      else if (item.origin === "primary") this.observe(this.primaryReader, "primary", item.message, item.at);
      else this.observe(this.shadowReader, "shadow", item.message, item.at);
    }
  }

  private mirror(message: UpstreamMessage): void {
    const read = this.clientReader.read(message);
    if (read.ok && read.packet !== undefined) this.comparator.clientPacket(read.packet);
    if (this.state === "opening") {
      if (this.waiting.length >= this.deps.limits.maxQueuedMessages)
        return this.end(undefined, "too many messages before the shadow opened", "queue");
      if (!this.reserve("waiting", message)) return;
      this.waiting.push(message);
      return;
    }
    this.forward(message);
  }

  /** Sends a client message to the open shadow, or holds it until the shadow accepted its namespace. */
  private forward(message: UpstreamMessage): void {
    if (this.held.length > 0) return this.hold(message);
    const routing = this.routeOf(message);
    if (routing === "forward") this.sendNow(message);
    else if (routing === "hold") {
      // Its attachments follow it into `held` and are routed again with it.
      this.attachmentsLeft = 0;
      this.hold(message);
    }
  }

  private hold(message: UpstreamMessage): void {
    if (this.held.length >= this.deps.limits.maxQueuedMessages)
      return this.end(undefined, "too many messages waiting for the shadow to accept a namespace", "queue");
    if (!this.reserve("held", message)) return;
    this.held.push(message);
  }

  /** The shadow accepted, refused or left a namespace: held messages that may go now go, in order. */
  private releaseHeld(): void {
    while (this.held.length > 0 && this.state === "open") {
      const message = this.held[0]!;
      const routing = this.routeOf(message);
      if (routing === "hold") {
        this.attachmentsLeft = 0;
        return;
      }
      this.held.shift();
      this.queuedBytes.held -= sizeOf(message);
      if (routing === "forward") this.sendNow(message);
    }
  }

  /** Counts a message into one of the tap's queues; false (and the shadow ended) when that passes the byte bound. */
  private reserve(queue: "backlog" | "waiting" | "held", message: UpstreamMessage): boolean {
    this.queuedBytes[queue] += sizeOf(message);
    const { backlog, waiting, held } = this.queuedBytes;
    if (backlog + waiting + held <= this.deps.limits.maxQueuedBytes) return true;
    publish("switchyard:limit:hit", { limit: "shadow_queue" });
    this.end(undefined, `${backlog + waiting + held} bytes held by the shadow tap`, "queue");
    return false;
  }

  private sendNow(message: UpstreamMessage): void {
    const upstream = this.upstream!;
    upstream.send(message);
    if (upstream.bufferedAmount > this.deps.limits.maxBufferedBytes)
      this.end(undefined, `${upstream.bufferedAmount} bytes waiting for the shadow`, "buffer");
  }

  /**
   * Whether a client message may reach the shadow now. Binary attachments go with their packet. What
   * cannot be read is forwarded: the client session validated it, the shadow backend judges it.
   */
  private routeOf(message: UpstreamMessage): Routing {
    if (typeof message !== "string") {
      if (this.attachmentsLeft === 0) return "forward";
      this.attachmentsLeft--;
      return this.attachmentsRouting;
    }
    let type: number;
    let nsp: string;
    let attachments: number;
    try {
      const header = parseHeader(message, this.deps.limits.maxAttachments);
      ({ type, attachments } = header);
      if (this.deps.socketIoRevision === 4) {
        const parsed = parseClientNamespace(header.nsp, 4);
        // A namespace socket.io cannot parse: the shadow backend closes its session on it, as the primary did.
        if (!parsed.ok) return "forward";
        nsp = parsed.name;
      } else {
        nsp = namespaceName(header.nsp);
      }
    } catch {
      return "forward";
    }
    const state = this.shadowNamespaces.get(nsp);
    let routing: Routing;
    if (type === PACKET_TYPE.CONNECT) {
      if (state === undefined) this.shadowNamespaces.set(nsp, "connecting");
      routing = "forward";
    } else {
      routing = state === "connected" ? "forward" : state === "connecting" ? "hold" : "drop";
      if (routing === "forward" && type === PACKET_TYPE.DISCONNECT) this.shadowNamespaces.delete(nsp);
    }
    this.attachmentsLeft = attachments;
    this.attachmentsRouting = routing;
    return routing;
  }

  private observe(reader: PacketReader, side: "primary" | "shadow", message: UpstreamMessage, at: number): void {
    const read = reader.read(message);
    if (!read.ok) {
      // The primary's stream is what the client got: a packet we cannot read is only a lost comparison.
      if (side === "shadow") this.end("SWY_ERR_SHADOW", `${read.reason}: ${read.detail}`);
      return;
    }
    if (read.packet === undefined) return;
    const shadowEngineId = side === "shadow" && this.deps.derivedSocketIds === true ? this.upstream?.sessionId : undefined;
    if (shadowEngineId !== undefined && read.packet.type === PACKET_TYPE.CONNECT)
      this.comparator.setIdMapping(read.packet.nsp, this.deps.sessionId, shadowEngineId);
    this.comparator.serverPacket(side, read.packet, at);
    if (side === "shadow") this.shadowPacket(read.packet.type, read.packet.nsp);
  }

  private shadowPacket(type: number, nsp: string): void {
    if (type === PACKET_TYPE.CONNECT) this.shadowNamespaces.set(nsp, "connected");
    else if (type === PACKET_TYPE.CONNECT_ERROR || type === PACKET_TYPE.DISCONNECT) this.shadowNamespaces.delete(nsp);
    else return;
    this.releaseHeld();
  }

  // ---- the shadow backend session ---------------------------------------------------------------

  private onOpen(upstream: Upstream): void {
    if (this.state === "ended") {
      upstream.close();
      return;
    }
    this.state = "open";
    this.upstream = upstream;
    if (this.deps.implicitRootNamespace === true) this.shadowNamespaces.set("/", "connecting");
    this.deps.onOpened();
    upstream.attach(this);
    const waiting = this.waiting;
    this.waiting = [];
    this.queuedBytes.waiting = 0;
    for (const message of waiting) {
      if (this.state !== "open") return;
      this.forward(message);
    }
  }

  /** A shadow delivery: recorded behind the primary's deliveries that came before it, compared in the batch. */
  onMessage(message: UpstreamMessage): void {
    if (this.state !== "open") return;
    this.record("shadow", message);
  }

  onClose(code: ErrorCode | undefined, detail: string | undefined): void {
    // What the shadow delivered before it closed is still compared.
    this.processGuarded();
    if (this.state === "ended") return;
    // After the client left, the shadow closing is no failure.
    if (this.draining !== undefined) return this.end(undefined, undefined);
    this.end(code ?? "SWY_ERR_SHADOW", detail ?? "the shadow backend closed the session");
  }

  onDrain(): void {}

  private end(code: ErrorCode | undefined, detail: string | undefined, overflow?: "queue" | "buffer"): void {
    if (this.state === "ended") return;
    this.state = "ended";
    clearTimeout(this.draining);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.backlog = [];
    this.waiting = [];
    this.held = [];
    this.queuedBytes = { backlog: 0, waiting: 0, held: 0 };
    this.upstream?.close();
    this.upstream = undefined;
    // Pending comparisons resolve as their windows pass (the manager keeps calling expire).
    this.comparator.close();
    this.deps.onEnded(code, detail, overflow);
  }
}
