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
import { openUpstreamSocket } from "./upstream-socket.js";
import { type HubChannel, WebSocketChannel } from "./hub-channel.js";
import type { HubLinks } from "./hub-link.js";
import { HUB_LINK_VERSION, type HubHello, parseLinkFrame } from "../protocol/hub-link-frames.js";
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
  /**
   * The process's hub links (HUB_PROTOCOL auto or v2, docs/hub-protocol.md §11): the session opens over them,
   * or on a socket of its own when the hub selects v1. Absent: v1 only, one socket per session.
   */
  readonly links?: HubLinks;
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

/** The upgrade headers of a hub session: the client's forwarded context plus ours (v2's open frame: without ours). */
export function hubUpgradeHeaders(context: ClientContext, sessionId: string | undefined, shadow: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(context.headers)) if (!isReservedUpgradeHeader(name)) headers[name] = value;
  if (sessionId !== undefined) headers[HUB_SESSION_HEADER] = sessionId;
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
  private readonly channel: HubChannel;
  private readonly translator: HubTranslator;
  private namespaceTimer: NodeJS.Timeout | undefined;
  private readonly gate: SinkGate;
  private readonly world: RoomWorld | undefined;
  /** This session's sockets in the room world, by namespace. */
  private readonly roomSockets = new Map<string, RoomSocket>();
  /** Set by a room event that breaks the protocol, checked once the frame is handled. */
  private roomFault: string | undefined;
  private state: State = "open";

  constructor(channel: HubChannel, sessionId: string, hubServer: string | undefined, options: HubUpstreamOptions) {
    this.channel = channel;
    this.sessionId = sessionId;
    this.hubServer = hubServer;
    this.role = options.role;
    this.context = options.context;
    this.world = options.rooms;
    this.gate = new SinkGate(options.earlyBufferBytes, (detail) => this.fail("SWY_ERR_EARLY_OVERFLOW", detail, HUB_CLOSE_CODE.policy));
    this.translator = new HubTranslator({
      revision: socketIoRevisionOf(options.context.eio),
      sessionId,
      query: queryObject(options.context.query),
      maxAttachments: options.maxAttachments ?? HUB_DEFAULTS.maxAttachments,
      ...(options.roomLimits !== undefined ? { roomLimits: options.roomLimits } : {}),
    });
    // Every listener and timer is guarded: an exception ends this hub session (SWY_ERR_INTERNAL), never the process.
    const crash = (error: unknown) => this.crash(error);
    channel.listen({
      frame: guard((data: Buffer, isBinary: boolean, parsed: unknown) => this.onFrame(data, isBinary, parsed), crash),
      ended: guard((code: ErrorCode | undefined, detail: string) => this.onChannelEnded(code, detail), crash),
      drained: guard(() => this.gate.drain(), crash),
    });
    this.namespaceTimer = setTimeout(
      guard(() => this.onNamespaceTimeout(), crash),
      options.namespaceConnectTimeoutMs ?? HUB_DEFAULTS.namespaceConnectTimeoutMs,
    );
    this.translator.start(this);
  }

  get bufferedAmount(): number {
    return this.channel.bufferedAmount;
  }

  /** The hub protocol version this session speaks: 1 (its own WebSocket) or 2 (a shared link). */
  get protocol(): 1 | 2 {
    return this.channel.protocol;
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
      if (this.role === "primary") publish("switchyard:protocol:error", { code: verdict.code, backend: "hub" });
      this.end(verdict.code, verdict.detail, HUB_CLOSE_CODE.normal);
      return;
    }
    this.channel.wrote();
  }

  pause(): void {
    if (this.state === "open") this.channel.pause();
  }

  resume(): void {
    if (this.state === "open") this.channel.resume();
  }

  close(): void {
    this.gate.detach();
    this.shutdown(HUB_CLOSE_CODE.normal, "the client session ended");
  }

  // ---- TranslationOutput --------------------------------------------------------------------------

  toHub(frame: string | Buffer): void {
    if (this.state === "open") this.channel.write(frame);
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

  private onFrame(data: Buffer, isBinary: boolean, parsed: unknown): void {
    if (this.state !== "open") return;
    let verdict: TranslationVerdict;
    try {
      verdict = this.translator.fromHub(data, isBinary, this, parsed);
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

  private onNamespaceTimeout(): void {
    this.namespaceTimer = undefined;
    // socket.io closes a connection that joined no namespace within connectTimeout; so does the gateway.
    if (this.state === "open" && !this.translator.joinedAnyNamespace)
      this.end(undefined, "no namespace joined in time", HUB_CLOSE_CODE.normal);
  }

  /** The hub (or the link) ended the session: nothing is sent back. */
  private onChannelEnded(code: ErrorCode | undefined, detail: string): void {
    if (this.state !== "open") return;
    this.end(code, detail, undefined);
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
    clearTimeout(this.namespaceTimer);
    this.namespaceTimer = undefined;
    this.channel.close(closeCode, reason);
  }
}

/** A hub's first frame on a socket, in the version of the subprotocol it selected. Throws HubFrameError. */
function readHello(data: Buffer, isBinary: boolean, version: 1 | 2, maxAttachments: number): HubHello {
  if (isBinary) throw new HubFrameError("a binary frame instead of hello");
  const text = data.toString("utf8");
  if (version === 2) {
    let frame: ReturnType<typeof parseLinkFrame>;
    try {
      frame = parseLinkFrame(text);
    } catch (error) {
      throw new HubFrameError((error as Error).message);
    }
    if (frame.type !== "hello") throw new HubFrameError(`expected a hello frame on the link, got ${frame.type}`);
    if (frame.version !== HUB_LINK_VERSION) throw new HubFrameError(`hello announces version ${frame.version} on a v2 link`);
    return { version: 2, server: frame.server, maxSessions: frame.maxSessions };
  }
  const frame = parseHubFrame(text, maxAttachments);
  if (frame.type !== "hello") throw new HubFrameError(`expected a hello frame, got ${frame.type === "unknown" ? frame.name : frame.type}`);
  if (frame.version !== HUB_PROTOCOL_VERSION)
    throw new HubFrameError(`hello announces version ${frame.version}, expected ${HUB_PROTOCOL_VERSION}`);
  return { version: 1, server: frame.server };
}

/**
 * Opens a hub session and resolves once the hub accepted it (v1: its hello on the session's socket; v2: its
 * opened on a link). Rejects with a coded SwitchyardError: unreachable, refused (HTTP status, or closed with
 * 1008 before hello/opened), wrong subprotocol or bad hello (handshake), timed out, links full or lost.
 */
export async function openHubUpstream(options: HubUpstreamOptions): Promise<HubUpstream> {
  const sessionId = options.sessionId ?? generateSessionId();
  const shadow = options.shadow ?? options.role === "shadow";
  const maxAttachments = options.maxAttachments ?? HUB_DEFAULTS.maxAttachments;
  const pingIntervalMs = options.pingIntervalMs ?? HUB_DEFAULTS.pingIntervalMs;
  const v1Channel = (ws: WebSocket) => new WebSocketChannel(ws, options.drainLowWater, pingIntervalMs);
  if (options.links !== undefined) {
    const { context } = options;
    const path = await options.links.openSession(options.hubUrl, {
      opening: {
        session: sessionId,
        eio: context.eio,
        query: queryObject(context.query),
        headers: hubUpgradeHeaders(context, undefined, false),
        address: context.remoteAddress,
        shadow,
      },
      role: options.role,
      connectTimeoutMs: options.connectTimeoutMs,
      v1Headers: hubUpgradeHeaders(context, sessionId, shadow),
      readHello: (data, isBinary, version) => readHello(data, isBinary, version, maxAttachments),
    });
    const channel = path.kind === "v1" ? v1Channel(path.ws) : path.channel;
    return new HubUpstream(channel, sessionId, path.server, options);
  }
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
    greeting: (data, isBinary) => readHello(data, isBinary, 1, maxAttachments).server,
    refuseGreeting: (ws, detail) => ws.close(HUB_CLOSE_CODE.protocolError, closeReason(detail)),
    opened: (ws, hubServer) => new HubUpstream(v1Channel(ws), sessionId, hubServer, options),
  });
}
