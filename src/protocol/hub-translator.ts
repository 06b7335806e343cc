/**
 * One client session's translation between Socket.IO (in the client's revision) and hub frames. Pure and
 * incremental: no I/O, no timers; the hub upstream feeds it messages and forwards what it emits.
 *
 * Protocol-version quirks stay here, on the client side of the gateway, so a hub sees one protocol:
 * - v4 (2.x clients): the server connects "/" unprompted, so `start()` asks the hub at once and the hub's
 *   answer becomes the `40`; socket ids are derived by the client from the engine id, so every connect
 *   frame carries the `sid` the hub must adopt; a namespace's query string (`40/admin?role=x,`) is what
 *   socket.io hands to middleware as `auth`; CONNECT_ERROR carries `err.data || err.message`.
 * - v5 (3.x/4.x): the client asks for every namespace (auth in the CONNECT body); the hub picks the sid and
 *   the gateway relays it; CONNECT_ERROR carries `{message, data}`.
 *
 * Namespace state follows socket.io's server: a client packet for a namespace it has not joined (or a
 * second CONNECT) ends the session, as socket.io's "invalid state" does.
 */
import type { ErrorCode } from "../errors.js";
import {
  encodeConnectFrame,
  encodeDisconnectFrame,
  encodeMessageFrame,
  GATEWAY_ACK_ID_BASE,
  HubFrameError,
  INVALID_NAMESPACE_MESSAGE,
  parseHubFrame,
  validateHubFrame,
  placeholdersResolve,
  resolvePlaceholders,
  ROOM_FRAME_DEFAULTS,
  type HubInboundFrame,
  type RoomFrameLimits,
} from "./hub-frames.js";
import { invalidNamespaceDetail, parseClientNamespace } from "./namespace.js";
import { decodePacket, encodePacket, PACKET_TYPE, PacketDecodeError, parseHeader, type PacketHeader } from "./socketio.js";
import { derivedSocketId, encodeConnectError, serverConnectsDefaultNamespace, type SocketIoRevision } from "./versions.js";

/**
 * What the translator tells the session's rooms (docs/hub-protocol.md §2.6). Sockets are keyed by
 * namespace: a session has at most one socket per namespace.
 */
export interface RoomEvents {
  /** The hub accepted `nsp`: the session's socket `sid` exists (before the client hears its CONNECT). */
  socketOpened(nsp: string, sid: string, auth: Readonly<Record<string, unknown>>): void;
  /** The socket of `nsp` is gone (either side disconnected the namespace). */
  socketClosed(nsp: string): void;
  joinRooms(nsp: string, rooms: readonly string[]): void;
  leaveRooms(nsp: string, rooms: readonly string[]): void;
  /** A broadcast frame; binary values are Buffers again (placeholders resolved). */
  broadcast(nsp: string, rooms: readonly string[], except: readonly string[], data: unknown[]): void;
  /** The client answered a gateway-numbered event (a broadcast with acks from another node). */
  gatewayAck(nsp: string, id: number, args: unknown[]): void;
}

/** Where the translator writes. Calls happen synchronously, in order, inside fromClient/fromHub/start. */
export interface TranslationOutput extends Partial<RoomEvents> {
  toHub(frame: string | Buffer): void;
  toClient(message: string | Buffer): void;
}

export type TranslationVerdict =
  | { readonly ok: true; readonly endSession: boolean }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

export interface HubTranslatorOptions {
  readonly revision: SocketIoRevision;
  /** The gateway's session id: the client's engine id, from which 2.x clients derive socket ids. */
  readonly sessionId: string;
  /** The client's application query (Engine.IO parameters removed), sent with every connect frame. */
  readonly query: Readonly<Record<string, string>>;
  readonly maxAttachments: number;
  /** Bounds on join/leave/broadcast frames. Default ROOM_FRAME_DEFAULTS. */
  readonly roomLimits?: RoomFrameLimits;
}

type NamespaceState = "connecting" | "connected";

interface NamespaceEntry {
  state: NamespaceState;
  /**
   * CONNECTs the client repeated while the first was unanswered (a client calling connect() twice).
   * socket.io answers each; the hub is asked once and its answer is repeated, so a hub never sees two
   * connects for one namespace.
   */
  repeats: number;
  /** The auth the connect carried (the socket's handshake.auth). */
  auth: Readonly<Record<string, unknown>>;
}

/** A broadcast frame whose binary frames are still arriving. */
interface PendingBroadcast {
  readonly frame: Extract<HubInboundFrame, { type: "broadcast" }>;
  readonly buffers: Buffer[];
}

const OK: TranslationVerdict = Object.freeze({ ok: true, endSession: false });
const END: TranslationVerdict = Object.freeze({ ok: true, endSession: true });
/** Namespace spellings remembered per session for 2.x normalisation; beyond this, normalise every time. */
const NSP_CACHE_LIMIT = 32;

function clientError(code: ErrorCode, detail: string): TranslationVerdict {
  return { ok: false, code, detail };
}

/** socket.io's URL parse of a v4 namespace threw: it closes that connection (Client#ondata's catch). */
function invalidNamespace(raw: string): TranslationVerdict {
  return clientError("SWY_ERR_PROTOCOL_INVALID_NAMESPACE", invalidNamespaceDetail(raw));
}

function hubError(detail: string): TranslationVerdict {
  return { ok: false, code: "SWY_ERR_UPSTREAM_PROTOCOL", detail };
}

export class HubTranslator {
  private readonly revision: SocketIoRevision;
  private readonly sessionId: string;
  private readonly query: Readonly<Record<string, string>>;
  private readonly maxAttachments: number;
  private readonly roomLimits: RoomFrameLimits;
  private pendingBroadcast: PendingBroadcast | undefined;
  /** Insertion order is the order namespaces *connected* (re-inserted on connect), as socket.io's. */
  private readonly namespaces = new Map<string, NamespaceEntry>();
  private readonly nspCache = new Map<string, string>();
  /** Binary messages still expected from the client for the last binary packet, and whether they go on. */
  private clientAttachments = 0;
  private forwardClientAttachments = true;
  /** Binary frames still expected from the hub, and whether they go to the client. */
  private hubAttachments = 0;
  private forwardHubAttachments = true;
  private joinedOnce = false;

  constructor(options: HubTranslatorOptions) {
    this.revision = options.revision;
    this.sessionId = options.sessionId;
    this.query = options.query;
    this.maxAttachments = options.maxAttachments;
    this.roomLimits = options.roomLimits ?? ROOM_FRAME_DEFAULTS;
  }

  /** True once any namespace connected (socket.io closes a session that joins none within its connectTimeout). */
  get joinedAnyNamespace(): boolean {
    return this.joinedOnce;
  }

  /** The state of a namespace: connected, being connected, or undefined (not joined). */
  namespaceState(nsp: string): NamespaceState | undefined {
    return this.namespaces.get(nsp)?.state;
  }

  /** Called once the hub said hello: v4 servers connect "/" unprompted, so the hub is asked at once. */
  start(out: TranslationOutput): void {
    if (serverConnectsDefaultNamespace(this.revision)) this.requestConnect("/", {}, out);
  }

  // ---- client → hub -----------------------------------------------------------------------------

  /** A client→server Engine.IO message, already validated by the client session's InboundPacketStream. */
  fromClient(message: string | Buffer, out: TranslationOutput): TranslationVerdict {
    if (typeof message !== "string") {
      if (this.clientAttachments === 0)
        return clientError("SWY_ERR_PROTOCOL_UNEXPECTED_BINARY", `${message.length}-byte binary message without a binary packet`);
      this.clientAttachments--;
      if (this.forwardClientAttachments) out.toHub(message);
      return OK;
    }
    if (this.clientAttachments > 0) return clientError("SWY_ERR_PROTOCOL_MALFORMED", "text message while binary attachments were expected");
    let header: PacketHeader;
    try {
      header = parseHeader(message, this.maxAttachments);
    } catch (error) {
      if (!(error instanceof PacketDecodeError)) throw error;
      return clientError(
        error.reason === "too many attachments" ? "SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS" : "SWY_ERR_PROTOCOL_MALFORMED",
        error.reason,
      );
    }
    if (header.type === PACKET_TYPE.CONNECT) return this.clientConnect(message, header, out);
    const nsp = this.revision === 4 ? this.normalizedNamespace(header.nsp) : header.nsp;
    if (nsp === undefined) return invalidNamespace(header.nsp);
    if (this.namespaces.get(nsp)?.state !== "connected" || header.type === PACKET_TYPE.CONNECT_ERROR) {
      return clientError(
        "SWY_ERR_PROTOCOL_INVALID_STATE",
        `packet type ${header.type} for namespace ${JSON.stringify(nsp)} (${this.namespaceState(nsp) ?? "not connected"})`,
      );
    }
    switch (header.type) {
      case PACKET_TYPE.DISCONNECT:
        this.namespaces.delete(nsp);
        out.socketClosed?.(nsp);
        out.toHub(encodeDisconnectFrame(nsp));
        return OK;
      case PACKET_TYPE.EVENT:
      case PACKET_TYPE.BINARY_EVENT:
      case PACKET_TYPE.ACK:
      case PACKET_TYPE.BINARY_ACK:
        return this.clientMessage(message, header, nsp, out);
      default:
        return clientError("SWY_ERR_PROTOCOL_MALFORMED", `unexpected packet type ${header.type}`);
    }
  }

  private clientMessage(message: string, header: PacketHeader, nsp: string, out: TranslationOutput): TranslationVerdict {
    const isAck = header.type === PACKET_TYPE.ACK || header.type === PACKET_TYPE.BINARY_ACK;
    if (header.attachments > 0 && !clientPlaceholdersResolve(message, header)) {
      // socket.io-parser throws "illegal attachments" and the server drops the connection; the hub never sees it.
      return clientError("SWY_ERR_PROTOCOL_MALFORMED", "a binary placeholder outside the packet's attachments");
    }
    this.clientAttachments = header.attachments;
    if (isAck && header.id !== undefined && header.id >= GATEWAY_ACK_ID_BASE) return this.clientGatewayAck(message, header, nsp, out);
    // socket.io ignores an event without arguments and an ack without an id; so does the hub, by never seeing them.
    const forward = header.dataStart < message.length && (!isAck || header.id !== undefined);
    this.forwardClientAttachments = forward;
    if (forward)
      out.toHub(encodeMessageFrame(isAck ? "ack" : "event", nsp, header.id, header.attachments, message.slice(header.dataStart)));
    return OK;
  }

  /**
   * The answer to an event the gateway numbered (a broadcast with acks another socket.io node asked for):
   * it goes to the requester, never to the hub. Binary answers are dropped (with their attachments).
   */
  private clientGatewayAck(message: string, header: PacketHeader, nsp: string, out: TranslationOutput): TranslationVerdict {
    this.forwardClientAttachments = false;
    if (header.attachments > 0 || header.dataStart >= message.length) return OK;
    let args: unknown;
    try {
      args = JSON.parse(message.slice(header.dataStart));
    } catch {
      return clientError("SWY_ERR_PROTOCOL_MALFORMED", "an ack with an invalid payload");
    }
    if (Array.isArray(args)) out.gatewayAck?.(nsp, header.id!, args);
    return OK;
  }

  private clientConnect(message: string, header: PacketHeader, out: TranslationOutput): TranslationVerdict {
    let nsp: string;
    let auth: Record<string, unknown>;
    if (this.revision === 4) {
      // socket.io 4 reads a v4 namespace as a URL: the path is the namespace, the query string the auth.
      const parsed = parseClientNamespace(header.nsp, 4);
      if (!parsed.ok) return invalidNamespace(header.nsp);
      nsp = parsed.name;
      auth = parsed.auth ?? {};
    } else {
      nsp = header.nsp;
      let data: unknown;
      try {
        data = decodePacket(message, this.maxAttachments).data;
      } catch {
        return clientError("SWY_ERR_PROTOCOL_MALFORMED", "CONNECT with an invalid payload");
      }
      auth = (data as Record<string, unknown> | undefined) ?? {};
    }
    const entry = this.namespaces.get(nsp);
    if (entry?.state === "connected") {
      // socket.io closes the connection on a CONNECT for a namespace the client has joined.
      return clientError("SWY_ERR_PROTOCOL_INVALID_STATE", `CONNECT for namespace ${JSON.stringify(nsp)}, which is already connected`);
    }
    if (entry !== undefined) entry.repeats++;
    else this.requestConnect(nsp, auth, out);
    return OK;
  }

  private requestConnect(nsp: string, auth: Record<string, unknown>, out: TranslationOutput): void {
    this.namespaces.set(nsp, { state: "connecting", repeats: 0, auth });
    const sid = this.revision === 4 ? derivedSocketId(this.sessionId, nsp) : undefined;
    out.toHub(encodeConnectFrame(nsp, auth, this.query, sid));
  }

  /** A v4 namespace as socket.io reads it; undefined when socket.io could not (it closes the connection). */
  private normalizedNamespace(raw: string): string | undefined {
    if (raw === "/") return raw;
    const cached = this.nspCache.get(raw);
    if (cached !== undefined) return cached;
    const parsed = parseClientNamespace(raw, 4);
    if (!parsed.ok) return undefined;
    if (this.nspCache.size < NSP_CACHE_LIMIT) this.nspCache.set(raw, parsed.name);
    return parsed.name;
  }

  // ---- hub → client -----------------------------------------------------------------------------

  /**
   * One WebSocket frame from the hub, after its hello. `parsed`: the text frame's JSON value when the caller
   * has parsed it already (a v2 link reads each frame's session from it), so that it is parsed once.
   */
  fromHub(data: Buffer | string, isBinary: boolean, out: TranslationOutput, parsed?: unknown): TranslationVerdict {
    if (isBinary) {
      if (this.hubAttachments === 0) return hubError("binary frame without an announcing frame");
      this.hubAttachments--;
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      const pending = this.pendingBroadcast;
      if (pending !== undefined) {
        pending.buffers.push(bytes);
        if (this.hubAttachments === 0) {
          this.pendingBroadcast = undefined;
          this.emitBroadcast(pending.frame, pending.buffers, out);
        }
      } else if (this.forwardHubAttachments) out.toClient(bytes);
      return OK;
    }
    if (this.hubAttachments > 0) return hubError(`text frame while ${this.hubAttachments} binary frame(s) were expected`);
    let frame: HubInboundFrame;
    try {
      frame =
        parsed !== undefined
          ? validateHubFrame(parsed, this.maxAttachments, this.roomLimits)
          : parseHubFrame(typeof data === "string" ? data : data.toString("utf8"), this.maxAttachments, this.roomLimits);
    } catch (error) {
      if (error instanceof HubFrameError) return hubError(error.message);
      throw error;
    }
    return this.hubFrame(frame, out);
  }

  private hubFrame(frame: HubInboundFrame, out: TranslationOutput): TranslationVerdict {
    switch (frame.type) {
      case "connect":
        return this.hubConnect(frame.nsp, frame.sid, out);
      case "connect_error": {
        const entry = this.namespaces.get(frame.nsp);
        if (entry?.state !== "connecting") return hubError(`connect_error for ${JSON.stringify(frame.nsp)}, which has no pending connect`);
        this.namespaces.delete(frame.nsp);
        const packet = frame.invalidNamespace
          ? encodePacket({ type: PACKET_TYPE.CONNECT_ERROR, nsp: frame.nsp, data: { message: INVALID_NAMESPACE_MESSAGE } })
          : encodeConnectError(this.revision, frame.nsp, frame.error.message, frame.error.data);
        for (let i = 0; i <= entry.repeats; i++) out.toClient(packet);
        return OK;
      }
      case "event":
      case "ack": {
        this.hubAttachments = frame.attachments;
        // A frame for a namespace that is gone crossed the client's disconnect: dropped, as socket.io drops
        // packets for a socket that has left. Connecting namespaces get theirs (socket.io clients buffer them).
        const forward = this.namespaces.has(frame.nsp);
        this.forwardHubAttachments = forward;
        if (!forward) return OK;
        const binary = frame.attachments > 0;
        const type =
          frame.type === "event"
            ? binary
              ? PACKET_TYPE.BINARY_EVENT
              : PACKET_TYPE.EVENT
            : binary
              ? PACKET_TYPE.BINARY_ACK
              : PACKET_TYPE.ACK;
        out.toClient(
          encodePacket({ type, nsp: frame.nsp, id: frame.id, data: frame.data, attachments: binary ? frame.attachments : undefined }),
        );
        return OK;
      }
      case "disconnect":
        return this.hubDisconnect(frame.nsp, frame.close, out);
      case "join":
      case "leave":
        // A rooms frame for a namespace that is not connected crossed a disconnect (or came before the
        // hub's own connect answer): there is no socket to move, so it is ignored.
        if (this.namespaces.get(frame.nsp)?.state === "connected") {
          if (frame.type === "join") out.joinRooms?.(frame.nsp, frame.rooms);
          else out.leaveRooms?.(frame.nsp, frame.rooms);
        }
        return OK;
      case "broadcast":
        if (frame.attachments > 0) {
          this.hubAttachments = frame.attachments;
          this.forwardHubAttachments = false;
          this.pendingBroadcast = { frame, buffers: [] };
        } else this.emitBroadcast(frame, [], out);
        return OK;
      case "hello":
        return hubError("a second hello frame");
      case "unknown":
        this.hubAttachments = frame.attachments;
        this.forwardHubAttachments = false;
        return OK;
    }
  }

  private emitBroadcast(frame: PendingBroadcast["frame"], buffers: readonly Buffer[], out: TranslationOutput): void {
    const data = buffers.length > 0 ? (resolvePlaceholders(frame.data, buffers) as unknown[]) : frame.data;
    out.broadcast?.(frame.nsp, frame.rooms, frame.except, data);
  }

  /**
   * The gateway disconnects the session's socket of `nsp` on its own (another socket.io node's
   * `disconnectSockets` through the bridge), as socket.io's server-side `socket.disconnect(close)`: the
   * client gets its DISCONNECT(s) and the hub a disconnect frame (with `close`, the session ends instead).
   */
  serverDisconnect(nsp: string, close: boolean, out: TranslationOutput): TranslationVerdict {
    if (close) return this.hubDisconnect(nsp, true, out);
    if (this.namespaces.get(nsp)?.state !== "connected") return OK;
    this.namespaces.delete(nsp);
    out.socketClosed?.(nsp);
    out.toHub(encodeDisconnectFrame(nsp));
    out.toClient(encodePacket({ type: PACKET_TYPE.DISCONNECT, nsp }));
    return OK;
  }

  private hubConnect(nsp: string, sid: string, out: TranslationOutput): TranslationVerdict {
    const entry = this.namespaces.get(nsp);
    if (entry?.state !== "connecting") return hubError(`connect for ${JSON.stringify(nsp)}, which has no pending connect`);
    if (this.revision === 4) {
      // 2.x clients compute the id themselves; a hub that did not adopt it would disagree with its client.
      const expected = derivedSocketId(this.sessionId, nsp);
      if (sid !== expected)
        return hubError(`connect for ${JSON.stringify(nsp)} with sid ${JSON.stringify(sid)} instead of ${JSON.stringify(expected)}`);
    }
    this.namespaces.delete(nsp);
    this.namespaces.set(nsp, { state: "connected", repeats: 0, auth: entry.auth });
    this.joinedOnce = true;
    out.socketOpened?.(nsp, sid, entry.auth);
    const packet = encodePacket({ type: PACKET_TYPE.CONNECT, nsp, data: this.revision === 5 ? { sid } : undefined });
    for (let i = 0; i <= entry.repeats; i++) out.toClient(packet);
    return OK;
  }

  private hubDisconnect(nsp: string, closeSession: boolean, out: TranslationOutput): TranslationVerdict {
    if (closeSession) {
      // socket.disconnect(true): every connected namespace gets its DISCONNECT, in connection order, then
      // the Engine.IO session closes.
      for (const [name, entry] of this.namespaces) {
        if (entry.state !== "connected") continue;
        out.socketClosed?.(name);
        out.toClient(encodePacket({ type: PACKET_TYPE.DISCONNECT, nsp: name }));
      }
      this.namespaces.clear();
      return END;
    }
    const state = this.namespaces.get(nsp)?.state;
    if (state === "connecting") return hubError(`disconnect for ${JSON.stringify(nsp)} before answering its connect`);
    if (state === "connected") {
      this.namespaces.delete(nsp);
      out.socketClosed?.(nsp);
      out.toClient(encodePacket({ type: PACKET_TYPE.DISCONNECT, nsp }));
    }
    return OK;
  }
}

/** Binary packets only (their JSON is small; the bytes travel as attachments): every placeholder must resolve. */
function clientPlaceholdersResolve(message: string, header: PacketHeader): boolean {
  if (header.dataStart >= message.length) return true;
  try {
    return placeholdersResolve(JSON.parse(message.slice(header.dataStart)), header.attachments);
  } catch {
    return false;
  }
}

/** The application query as the hub gets it: an object, the last value of a repeated key winning (as engine.io's). */
export function queryObject(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  // fromEntries defines own properties, so a `__proto__` parameter stays a plain key.
  return Object.fromEntries(pairs);
}
