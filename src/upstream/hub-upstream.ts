/**
 * The gateway as a client of the hub (docs/hub-protocol.md): one WebSocket per client session, subprotocol
 * `switchyard-hub.v1`, carrying the client's forwarded headers plus the session id the gateway chose.
 * Towards the client session it behaves exactly like the legacy upstream (Engine.IO messages in the
 * client's revision); HubTranslator does the Socket.IO ⇄ hub-frame work, this file the I/O around it:
 * handshake, early queue, backpressure, heartbeats and turning every way a hub session can end into
 * one sink.onClose().
 */
import WebSocket from "ws";
import type { ErrorCode } from "../errors.js";
import {
  encodeRoomsFrame,
  HUB_CLOSE_CODE,
  HUB_PROTOCOL_VERSION,
  HUB_SESSION_HEADER,
  HUB_SHADOW_HEADER,
  HUB_SUBPROTOCOL,
  closeReason,
  HubFrameError,
  parseHubFrame,
  type RoomFrameLimits,
} from "../protocol/hub-frames.js";
import { HubTranslator, queryObject, type TranslationOutput, type TranslationVerdict } from "../protocol/hub-translator.js";
import type { RoomMember, RoomSocket } from "../rooms/room-socket.js";
import type { RoomWorld } from "../rooms/room-world.js";
import { socketIoRevisionOf } from "../protocol/versions.js";
import { generateSessionId } from "../session-id.js";
import { guard, reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import type { ClientContext } from "./client-context.js";
import { webSocketUrl } from "./backend-url.js";
import { DrainSignal, openUpstreamSocket } from "./upstream-socket.js";
import { SinkGate } from "./sink-gate.js";
import type { DeliveryOptions, Upstream, UpstreamMessage, UpstreamSink } from "./upstream.js";
import type { UpstreamRole } from "../domain.js";

export interface HubUpstreamOptions {
  /** ws(s):// or http(s):// URL of the hub (HUB_URL). */
  readonly hubUrl: string;
  /** The client's engine id; one is generated (engine.io's format) when absent. */
  readonly sessionId?: string;
  readonly context: ClientContext;
  readonly role: UpstreamRole;
  /** Adds `x-switchyard-shadow: 1`. Default: role === "shadow". */
  readonly shadow?: boolean;
  /** Time allowed for TCP, the upgrade and the hub's hello. */
  readonly connectTimeoutMs: number;
  /** Bytes queued for the hub below which a paused client resumes. */
  readonly drainLowWater: number;
  /** Bytes the hub may send before the client session attaches (EARLY_BUFFER_BYTES). Default: no bound. */
  readonly earlyBufferBytes?: number;
  /** Binary attachments one packet may announce (MAX_ATTACHMENTS). Default 10. */
  readonly maxAttachments?: number;
  /** WebSocket ping period; a hub that has not answered the previous ping by the next one is gone. Default 25 s. */
  readonly pingIntervalMs?: number;
  /** socket.io's connectTimeout: a session that joins no namespace in this time is closed. Default 45 s. */
  readonly namespaceConnectTimeoutMs?: number;
  /**
   * The room world the session's sockets live in (join/leave/broadcast frames, docs/hub-protocol.md
   * §2.6): the primary world for primary sessions, the shadow world for shadow ones. Without one, rooms
   * frames are ignored.
   */
  readonly rooms?: RoomWorld;
  readonly roomLimits?: RoomFrameLimits;
}

export const HUB_DEFAULTS = Object.freeze({ maxAttachments: 10, pingIntervalMs: 25_000, namespaceConnectTimeoutMs: 45_000 });

const BACKEND: Backend = "hub";

/**
 * Headers a forwarded client context must never set on the hub upgrade: the WebSocket handshake's own,
 * and ours (a client must not be able to mark itself a shadow or pick a session id).
 */
function isReservedUpgradeHeader(name: string): boolean {
  return (
    name.startsWith("x-switchyard-") ||
    name.startsWith("sec-websocket-") ||
    ["host", "connection", "upgrade", "content-length", "transfer-encoding"].includes(name)
  );
}

/** The upgrade headers of a hub session: the client's forwarded context plus ours. */
export function hubUpgradeHeaders(context: ClientContext, sessionId: string, shadow: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(context.headers)) if (!isReservedUpgradeHeader(name)) headers[name] = value;
  headers[HUB_SESSION_HEADER] = sessionId;
  if (shadow) headers[HUB_SHADOW_HEADER] = "1";
  return headers;
}

type State = "open" | "closed";

export class HubUpstream implements Upstream, TranslationOutput, RoomMember {
  readonly backend: Backend = BACKEND;
  readonly role: UpstreamRole;
  readonly sessionId: string;
  readonly context: ClientContext;
  /** What the hub said about itself in its hello (for logs). */
  readonly hubServer: string | undefined;
  private readonly ws: WebSocket;
  private readonly translator: HubTranslator;
  private readonly pinger: NodeJS.Timeout;
  private namespaceTimer: NodeJS.Timeout | undefined;
  private readonly gate: SinkGate;
  private readonly world: RoomWorld | undefined;
  /** This session's sockets in the room world, by namespace. */
  private readonly roomSockets = new Map<string, RoomSocket>();
  /** Set by a room event that breaks the protocol, checked once the frame is handled. */
  private roomFault: string | undefined;
  private readonly drain: DrainSignal;
  private state: State = "open";
  private paused = false;
  private awaitingPong = false;

  constructor(ws: WebSocket, sessionId: string, hubServer: string | undefined, options: HubUpstreamOptions) {
    this.ws = ws;
    this.sessionId = sessionId;
    this.hubServer = hubServer;
    this.role = options.role;
    this.context = options.context;
    this.world = options.rooms;
    this.gate = new SinkGate(options.earlyBufferBytes, (detail) => this.fail("SWY_ERR_EARLY_OVERFLOW", detail, HUB_CLOSE_CODE.policy));
    this.drain = new DrainSignal(ws, options.drainLowWater, () => this.gate.drain());
    this.translator = new HubTranslator({
      revision: socketIoRevisionOf(options.context.eio),
      sessionId,
      query: queryObject(options.context.query),
      maxAttachments: options.maxAttachments ?? HUB_DEFAULTS.maxAttachments,
      ...(options.roomLimits !== undefined ? { roomLimits: options.roomLimits } : {}),
    });
    // Every listener and timer is guarded: an exception ends this hub session (SWY_ERR_INTERNAL), never the process.
    const crash = (error: unknown) => this.crash(error);
    ws.on(
      "message",
      guard((data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary), crash),
    );
    ws.on("pong", () => {
      this.awaitingPong = false;
    });
    ws.on(
      "close",
      guard((code: number, reason: Buffer) => this.onSocketClose(code, reason.toString()), crash),
    );
    ws.on(
      "error",
      guard((error: Error) => this.fail("SWY_ERR_UPSTREAM_CLOSED", error.message, undefined), crash),
    );
    this.pinger = setInterval(
      guard(() => this.heartbeat(), crash),
      options.pingIntervalMs ?? HUB_DEFAULTS.pingIntervalMs,
    );
    this.namespaceTimer = setTimeout(
      guard(() => this.onNamespaceTimeout(), crash),
      options.namespaceConnectTimeoutMs ?? HUB_DEFAULTS.namespaceConnectTimeoutMs,
    );
    this.translator.start(this);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  attach(sink: UpstreamSink): void {
    this.gate.attach(sink, this.state === "open");
  }

  send(message: UpstreamMessage): void {
    if (this.state !== "open") return;
    let verdict: TranslationVerdict;
    try {
      verdict = this.translator.fromClient(message, this);
    } catch (error) {
      // The translator answers every client input with a verdict; a throw is a bug, contained to this session.
      this.end("SWY_ERR_INTERNAL", reportContained(this.role === "shadow" ? "shadow" : "client", error), HUB_CLOSE_CODE.internal);
      return;
    }
    if (!verdict.ok) {
      // The client broke Socket.IO's rules; socket.io would close its connection. The hub did nothing wrong.
      // (A shadow's failures are counted by the shadow, not as client protocol errors.)
      if (this.role === "primary") publish("switchyard:protocol:error", { code: verdict.code });
      this.end(verdict.code, verdict.detail, HUB_CLOSE_CODE.normal);
      return;
    }
    this.drain.sent();
  }

  pause(): void {
    this.paused = true;
    this.ws.pause();
  }

  resume(): void {
    this.paused = false;
    // A paused socket cannot read pongs: the heartbeat starts afresh.
    this.awaitingPong = false;
    this.ws.resume();
  }

  close(): void {
    this.gate.detach();
    this.shutdown(HUB_CLOSE_CODE.normal, "the client session ended");
  }

  // ---- TranslationOutput --------------------------------------------------------------------------

  toHub(frame: string | Buffer): void {
    this.ws.send(frame, this.drain.written);
  }

  toClient(message: string | Buffer): void {
    this.gate.message(message);
  }

  // ---- RoomEvents (from the translator) -----------------------------------------------------------

  socketOpened(nsp: string, sid: string, auth: Readonly<Record<string, unknown>>): void {
    if (this.world === undefined) return;
    const socket = this.world.addSocket(nsp, sid, this, auth);
    if (socket === undefined)
      this.roomFault = `connect for ${JSON.stringify(nsp)} with sid ${JSON.stringify(sid)}, which another session uses`;
    else this.roomSockets.set(nsp, socket);
  }

  socketClosed(nsp: string): void {
    const socket = this.roomSockets.get(nsp);
    if (socket === undefined) return;
    this.roomSockets.delete(nsp);
    this.world!.removeSocket(socket);
  }

  joinRooms(nsp: string, rooms: readonly string[]): void {
    const socket = this.roomSockets.get(nsp);
    if (socket !== undefined) this.world!.join(socket, rooms);
  }

  leaveRooms(nsp: string, rooms: readonly string[]): void {
    const socket = this.roomSockets.get(nsp);
    if (socket !== undefined) this.world!.leave(socket, rooms);
  }

  broadcast(nsp: string, rooms: readonly string[], except: readonly string[], data: unknown[]): void {
    this.world?.broadcast(nsp, rooms, except, data);
  }

  gatewayAck(nsp: string, id: number, args: unknown[]): void {
    this.roomSockets.get(nsp)?.answerAck(id, args);
  }

  // ---- RoomMember (from the room world) -----------------------------------------------------------

  deliver(message: UpstreamMessage, options: DeliveryOptions | undefined): void {
    if (this.state === "open") this.gate.message(message, options);
  }

  disconnectSocket(nsp: string, close: boolean): void {
    if (this.state !== "open") return;
    const verdict = this.translator.serverDisconnect(nsp, close, this);
    if (verdict.ok && verdict.endSession) this.end(undefined, "disconnected by another socket.io node", HUB_CLOSE_CODE.normal);
  }

  roomsChanged(nsp: string, type: "join" | "leave", rooms: readonly string[]): void {
    if (this.state === "open") this.toHub(encodeRoomsFrame(type, nsp, rooms));
  }

  // ---- internals ----------------------------------------------------------------------------------

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state !== "open") return;
    let verdict: TranslationVerdict;
    try {
      verdict = this.translator.fromHub(data, isBinary, this);
    } catch (error) {
      // Protocol breaches come back as verdicts; a throw is the gateway's own bug.
      this.crash(error);
      return;
    }
    if (verdict.ok && this.roomFault !== undefined) verdict = { ok: false, code: "SWY_ERR_UPSTREAM_PROTOCOL", detail: this.roomFault };
    if (!verdict.ok) {
      // The hub broke the protocol: the session closes with SWY_ERR_UPSTREAM_PROTOCOL (counted with the
      // session's close, or as a shadow error); switchyard_protocol_errors_total is for clients.
      this.fail(verdict.code, verdict.detail, HUB_CLOSE_CODE.protocolError);
    } else if (verdict.endSession) {
      this.end(undefined, "the hub ended the session", HUB_CLOSE_CODE.normal);
    }
  }

  private heartbeat(): void {
    if (this.state !== "open" || this.paused) return;
    if (this.awaitingPong) {
      this.fail("SWY_ERR_UPSTREAM_PING_TIMEOUT", "the hub did not answer a WebSocket ping", undefined);
      return;
    }
    this.awaitingPong = true;
    this.ws.ping();
  }

  private onNamespaceTimeout(): void {
    this.namespaceTimer = undefined;
    // socket.io closes a connection that joined no namespace within connectTimeout; so does the gateway.
    if (this.state === "open" && !this.translator.joinedAnyNamespace)
      this.end(undefined, "no namespace joined in time", HUB_CLOSE_CODE.normal);
  }

  private onSocketClose(code: number, reason: string): void {
    if (this.state !== "open") return;
    const detail = `the hub closed the WebSocket (${code}${reason ? ` ${reason}` : ""})`;
    this.end(code === HUB_CLOSE_CODE.normal ? undefined : "SWY_ERR_UPSTREAM_CLOSED", detail, undefined);
  }

  private fail(code: ErrorCode, detail: string, closeCode: number | undefined): void {
    if (this.state !== "open") return;
    this.end(code, detail, closeCode);
  }

  /** An exception in this session's handling (a bug): counted, and this session ends with SWY_ERR_INTERNAL. */
  private crash(error: unknown): void {
    const detail = reportContained(this.role === "shadow" ? "shadow" : "backend", error);
    if (this.state === "open") this.end("SWY_ERR_INTERNAL", detail, HUB_CLOSE_CODE.internal);
  }

  /** Ends the session and tells the sink (or the sink to come). `closeCode` undefined: terminate the socket. */
  private end(code: ErrorCode | undefined, detail: string, closeCode: number | undefined): void {
    this.shutdown(closeCode, detail);
    this.gate.ended(code, detail);
  }

  private shutdown(closeCode: number | undefined, reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    // The session's sockets leave every room at once: what is broadcast from now on is not theirs.
    for (const socket of this.roomSockets.values()) this.world!.removeSocket(socket);
    this.roomSockets.clear();
    clearInterval(this.pinger);
    clearTimeout(this.namespaceTimer);
    this.namespaceTimer = undefined;
    if (closeCode === undefined) this.ws.terminate();
    else this.ws.close(closeCode, closeReason(reason));
  }
}

/**
 * Opens a hub session and resolves once the hub's hello arrived. Rejects with a coded SwitchyardError:
 * unreachable, refused (HTTP status, or closed with 1008 before hello), wrong subprotocol or bad hello
 * (handshake), timed out.
 */
export function openHubUpstream(options: HubUpstreamOptions): Promise<HubUpstream> {
  const sessionId = options.sessionId ?? generateSessionId();
  const shadow = options.shadow ?? options.role === "shadow";
  const maxAttachments = options.maxAttachments ?? HUB_DEFAULTS.maxAttachments;
  return openUpstreamSocket({
    backend: BACKEND,
    role: options.role,
    connectTimeoutMs: options.connectTimeoutMs,
    awaiting: "hello",
    connect: () =>
      new WebSocket(webSocketUrl(new URL(options.hubUrl)), [HUB_SUBPROTOCOL], {
        headers: hubUpgradeHeaders(options.context, sessionId, shadow),
        perMessageDeflate: false,
        handshakeTimeout: options.connectTimeoutMs,
        followRedirects: false,
      }),
    classifyError: (error) =>
      /subprotocol/i.test(error.message)
        ? { code: "SWY_ERR_UPSTREAM_HANDSHAKE", detail: `${error.message} (expected ${HUB_SUBPROTOCOL})` }
        : undefined,
    closeCode: (code) => (code === HUB_CLOSE_CODE.policy ? "SWY_ERR_UPSTREAM_REJECTED" : "SWY_ERR_UPSTREAM_HANDSHAKE"),
    greeting: (data, isBinary) => {
      if (isBinary) throw new HubFrameError("a binary frame instead of hello");
      const frame = parseHubFrame(data.toString("utf8"), maxAttachments);
      if (frame.type !== "hello")
        throw new HubFrameError(`expected a hello frame, got ${frame.type === "unknown" ? frame.name : frame.type}`);
      if (frame.version !== HUB_PROTOCOL_VERSION)
        throw new HubFrameError(`hello announces version ${frame.version}, expected ${HUB_PROTOCOL_VERSION}`);
      return frame.server;
    },
    refuseGreeting: (ws, detail) => ws.close(HUB_CLOSE_CODE.protocolError, closeReason(detail)),
    opened: (ws, hubServer) => new HubUpstream(ws, sessionId, hubServer, options),
  });
}
