/**
 * A route: where one client session goes, decided once at its handshake and pinned for its lifetime
 * (Envoy's downstream → route → upstream). The decision itself is pure; see route-decider.ts.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Backend } from "../telemetry/events.js";

export interface RouteInput {
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
}

export interface Route {
  readonly backend: Backend;
  /** The backend that mirrors this session, if it is shadowed. */
  readonly shadow: Backend | undefined;
  /** Why: "split", "override", "fallback", "static"... for logs and metrics. */
  readonly reason: string;
}

export interface RouteDecider {
  decide(input: RouteInput): Route;
}

/** Everything to the legacy server: the decider of a gateway with no routing configured. */
export const LEGACY_ONLY: RouteDecider = Object.freeze({
  decide: (): Route => Object.freeze({ backend: "legacy", shadow: undefined, reason: "static" }),
});
