/**
 * A route: where one client session goes, decided once at its handshake and pinned for its lifetime
 * (Envoy's downstream → route → upstream). The decision itself is pure; see route-decider.ts.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { EngineIoRevision } from "../protocol/engineio.js";
import type { Backend, RouteReason } from "../domain.js";

export interface RouteInput {
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  /** The client's Engine.IO revision. Undefined: read from the query's EIO (anything but "4" is 3). */
  readonly eio?: EngineIoRevision;
  /**
   * The auth payload of the session's first CONNECT (Socket.IO v5 clients), when deciding at that
   * CONNECT. Undefined: not known (at the handshake) or not sent; `auth:` sources are then skipped.
   */
  readonly auth?: unknown;
}

export type { RouteReason } from "../domain.js";

export interface Route {
  readonly backend: Backend;
  /** The backend that mirrors this session, if it is shadowed ("legacy" = the dark legacy deployment). */
  readonly shadow: Backend | undefined;
  readonly reason: RouteReason;
  /** The key's bucket 0..9999 (undefined when no key was hashed). */
  readonly bucket: number | undefined;
  /** The routing hash of the key as 8 hex digits, for logs (never the raw key; never a metric label). */
  readonly keyHash: string | undefined;
  /** Which source yielded the key ("query:userId", "address"...): low cardinality, safe for labels. */
  readonly keySource: string | undefined;
  /** The routing config version the decision was made under (0 for static routes). */
  readonly configVersion: number;
}

/** "Not yet": the route depends on the auth payload of the first CONNECT (Engine.IO v4 clients only). */
export interface DeferredRoute {
  readonly deferred: true;
  /** The auth source that is awaited, e.g. "auth:userId". */
  readonly awaiting: string;
  readonly configVersion: number;
}

export type RouteVerdict = Route | DeferredRoute;

export function isDeferred(verdict: RouteVerdict): verdict is DeferredRoute {
  return "deferred" in verdict;
}

export interface RouteDecider {
  /**
   * A route now, never deferred: `auth:` sources are used only when `input.auth` is given. Used for
   * EIO3 handshakes, for the first CONNECT of a deferred session, and by callers that cannot defer.
   */
  decide(input: RouteInput): Route;
  /** At the Engine.IO handshake: a route, or "deferred" when an `auth:` source comes first (EIO4 only). */
  decideAtHandshake(input: RouteInput): RouteVerdict;
}
