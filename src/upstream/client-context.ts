/**
 * What a backend needs to know about the client it is talking to through the gateway: the application
 * query string (custom parameters included, Engine.IO's own removed), the headers it authenticates and
 * logs on, and the X-Forwarded-* trail. Built once per session from the handshake request.
 */
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { reservedHeaderReason } from "../config/header-rules.js";
import { revisionOf, type EngineIoRevision } from "../protocol/engineio.js";
import { backendUrl, webSocketUrl } from "./backend-url.js";

/** Engine.IO's own query parameters; everything else in the query string belongs to the application. */
export const ENGINE_QUERY_PARAMS: ReadonlySet<string> = new Set(["EIO", "transport", "t", "sid", "b64", "j"]);

/** Headers every backend gets as the client sent them. */
export const FORWARDED_HEADERS: readonly string[] = Object.freeze(["cookie", "authorization", "user-agent", "origin", "accept-language"]);

export interface ClientContext {
  readonly eio: EngineIoRevision;
  /** Application query parameters in the client's order. */
  readonly query: readonly (readonly [string, string])[];
  /** Lower-case header names; X-Forwarded-For/-Proto/-Host included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

export interface ContextOptions {
  readonly trustProxy: boolean;
  readonly extraHeaders: readonly string[];
}

function headerValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(", ") : value;
}

/** `search`: the request's query string, when the caller has parsed it already. */
export function clientContextOf(
  req: IncomingMessage,
  options: ContextOptions,
  search = new URL(req.url ?? "/", "http://gateway.invalid").searchParams,
): ClientContext {
  const query: [string, string][] = [];
  for (const [key, value] of search) {
    if (!ENGINE_QUERY_PARAMS.has(key)) query.push([key, value]);
  }
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = headerValue(req.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  for (const name of options.extraHeaders) {
    // FORWARD_HEADERS is validated at start-up; this keeps any other caller to the same rules.
    if (reservedHeaderReason(name) !== undefined) continue;
    const value = headerValue(req.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  const remoteAddress = req.socket.remoteAddress ?? "";
  const proto = (req.socket as TLSSocket).encrypted ? "https" : "http";
  const incomingFor = options.trustProxy ? headerValue(req.headers["x-forwarded-for"]) : undefined;
  headers["x-forwarded-for"] = incomingFor ? `${incomingFor}, ${remoteAddress}` : remoteAddress;
  headers["x-forwarded-proto"] = (options.trustProxy ? headerValue(req.headers["x-forwarded-proto"]) : undefined) ?? proto;
  const host = (options.trustProxy ? headerValue(req.headers["x-forwarded-host"]) : undefined) ?? headerValue(req.headers.host);
  if (host !== undefined) headers["x-forwarded-host"] = host;
  return { eio: revisionOf(search.get("EIO")), query, headers, remoteAddress };
}

/** The backend URL for one session: the client's application query plus our own Engine.IO parameters. */
export function upstreamUrl(
  base: string,
  path: string,
  context: ClientContext,
  extra: readonly (readonly [string, string])[] = [],
): string {
  return webSocketUrl(backendUrl(base, path, [...context.query, ...extra])).toString();
}
