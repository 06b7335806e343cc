/**
 * The multiplexed hub link (`switchyard-hub.v2`, docs/hub-protocol.md §11): many client sessions share one
 * WebSocket between a gateway process and a hub. Every v1 session frame travels unchanged apart from one
 * added field, `"session"`, naming the client session it belongs to; binary frames carry the session id as a
 * short prefix, so the attachments of different sessions may interleave on the link. A session is opened
 * with an `open` frame carrying what a v1 hub reads from the upgrade request, and ended with a `close`
 * frame carrying what a v1 WebSocket close carries. Pure: no I/O.
 *
 * The field is `session`, not `sid`: `sid` already means a socket id in v1's connect frames.
 */
import type { EngineIoRevision } from "./engineio.js";
import { isPlainObject } from "./json-values.js";

export const HUB_SUBPROTOCOL_V2 = "switchyard-hub.v2";
export const HUB_LINK_VERSION = 2;

/** The field of every session frame on a link. */
export const LINK_SESSION_FIELD = "session";

/**
 * Session ids on a link: base64url, 1 to 64 characters (engine.io ids are 20). Restricting them keeps the
 * binary prefix one byte of length plus ASCII, and lets the gateway splice the field in without escaping.
 */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function isLinkSessionId(value: unknown): value is string {
  return typeof value === "string" && SESSION_ID.test(value);
}

export class LinkFrameError extends Error {}

/** What a v1 hub reads from a session's upgrade request, sent in the session's `open` frame instead. */
export interface LinkSessionOpening {
  readonly session: string;
  /** The client's Engine.IO revision (3: socket.io-client 2.x; 4: 3.x and 4.x). */
  readonly eio: EngineIoRevision;
  /** Application query parameters (Engine.IO's removed); the same object every connect frame carries. */
  readonly query: Readonly<Record<string, string>>;
  /** The upgrade headers a v1 hub would get (forwarded client headers, X-Forwarded-*), without ours. */
  readonly headers: Readonly<Record<string, string>>;
  /** The client's address as the gateway saw it (the last hop of x-forwarded-for). */
  readonly address: string;
  /** A shadow session (v1: `x-switchyard-shadow: 1`). */
  readonly shadow: boolean;
}

/** A frame received on a link, validated as far as the link needs; session frames go on to the session. */
export type LinkInboundFrame =
  /** The hub's first frame on the link. `maxSessions`: the most sessions the hub takes on this link. */
  | { readonly type: "hello"; readonly version: number; readonly server: string | undefined; readonly maxSessions: number | undefined }
  /** The hub accepted the session (v1: its hello on the session's own socket). */
  | { readonly type: "opened"; readonly session: string }
  /** The session ends (v1: the session's WebSocket closes with `code`). Before `opened`: a refusal. */
  | { readonly type: "close"; readonly session: string; readonly code: number; readonly reason: string }
  /** A v1 frame of the session, parsed: the session's translator validates it (docs §2). */
  | { readonly type: "session"; readonly session: string; readonly frame: Record<string, unknown> }
  /** A frame type without a session this version does not know: ignored. */
  | { readonly type: "unknown"; readonly name: string };

/** Close codes a `close` frame may carry: the registered ones v1 uses, and 4000-4999. */
function isCloseCode(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && ((value >= 1000 && value <= 1014) || (value >= 4000 && value <= 4999));
}

/** Parses one text frame of a link. Throws LinkFrameError when the link itself is broken (the link closes with 4400). */
export function parseLinkFrame(text: string): LinkInboundFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LinkFrameError("text frame is not JSON");
  }
  if (!isPlainObject(value)) throw new LinkFrameError("text frame is not a JSON object");
  const type = value.type;
  if (typeof type !== "string") throw new LinkFrameError('frame without a string "type"');
  const session = value[LINK_SESSION_FIELD];
  if (type === "hello") {
    if (session !== undefined) throw new LinkFrameError("hello frame with a session");
    const { version, server, maxSessions } = value;
    if (typeof version !== "number" || !Number.isSafeInteger(version)) throw new LinkFrameError('hello frame without an integer "version"');
    if (maxSessions !== undefined && (typeof maxSessions !== "number" || !Number.isSafeInteger(maxSessions) || maxSessions < 1))
      throw new LinkFrameError('hello frame with an invalid "maxSessions"');
    return { type, version, server: typeof server === "string" ? server : undefined, maxSessions };
  }
  if (session === undefined) {
    if (type === "opened" || type === "close" || V1_SESSION_TYPES.has(type)) throw new LinkFrameError(`${type} frame without a "session"`);
    return { type: "unknown", name: type };
  }
  if (!isLinkSessionId(session)) throw new LinkFrameError(`${type} frame with an invalid "session"`);
  if (type === "opened") return { type, session };
  if (type === "close") {
    const { code, reason } = value;
    if (!isCloseCode(code)) throw new LinkFrameError('close frame without a valid "code"');
    return { type, session, code, reason: typeof reason === "string" ? reason : "" };
  }
  return { type: "session", session, frame: value };
}

/** The v1 frame types that only make sense for a session: without a `session` field they break the link. */
const V1_SESSION_TYPES: ReadonlySet<string> = new Set([
  "connect",
  "connect_error",
  "event",
  "ack",
  "disconnect",
  "join",
  "leave",
  "broadcast",
]);

/** Splits a binary frame of a link into its session and its bytes (a subarray: no copy). */
export function decodeLinkBinary(frame: Buffer): { readonly session: string; readonly bytes: Buffer } {
  const length = frame.length > 0 ? frame[0]! : 0;
  if (length === 0 || frame.length < 1 + length) throw new LinkFrameError("binary frame without a session prefix");
  const session = frame.toString("latin1", 1, 1 + length);
  if (!isLinkSessionId(session)) throw new LinkFrameError("binary frame with an invalid session prefix");
  return { session, bytes: frame.subarray(1 + length) };
}

// ---- frames the gateway writes ------------------------------------------------------------------

/** A binary frame of a session: one byte of session id length, the id (ASCII), the bytes. */
export function encodeLinkBinary(session: string, bytes: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(1 + session.length + bytes.length);
  frame[0] = session.length;
  frame.write(session, 1, "latin1");
  bytes.copy(frame, 1 + session.length);
  return frame;
}

/**
 * A v1 frame of a session made a link frame: `{"session":"<id>",` spliced in front of its fields (every
 * frame the gateway writes is a JSON object; the id needs no escaping, see SESSION_ID). No re-serialising.
 */
export function encodeLinkText(session: string, v1Frame: string): string {
  return `{"${LINK_SESSION_FIELD}":"${session}",${v1Frame.slice(1)}`;
}

export function encodeOpenFrame(opening: LinkSessionOpening): string {
  const frame: Record<string, unknown> = {
    type: "open",
    [LINK_SESSION_FIELD]: opening.session,
    eio: opening.eio,
    query: opening.query,
    headers: opening.headers,
    address: opening.address,
  };
  if (opening.shadow) frame.shadow = true;
  return JSON.stringify(frame);
}

/** gateway→hub: the session ended (v1: the gateway closed its WebSocket with `code`). */
export function encodeCloseFrame(session: string, code: number, reason: string): string {
  return JSON.stringify({ type: "close", [LINK_SESSION_FIELD]: session, code, reason });
}

/**
 * gateway→hub flow control of one session (v1: the gateway stops reading the session's socket). A link is
 * shared, so the gateway cannot stop reading it for one slow client; it asks the hub to hold that session's
 * frames instead, and bounds what it takes meanwhile (HUB_LINK_PAUSED_BYTES).
 */
export function encodeFlowFrame(session: string, type: "pause" | "resume"): string {
  return `{"type":"${type}","${LINK_SESSION_FIELD}":"${session}"}`;
}

/** What a hub's first frame on a socket says, in the version its selected subprotocol calls for. */
export type HubHello =
  | { readonly version: 1; readonly server: string | undefined }
  | { readonly version: 2; readonly server: string | undefined; readonly maxSessions: number | undefined };
