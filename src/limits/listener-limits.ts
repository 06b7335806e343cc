/**
 * The bounds of an HTTP listener (the client listener and the operations listener alike): how long a client
 * may take to send a request's headers and the whole request, and how large the headers may be. node enforces
 * them; this module sets node's options and answers what its parser reports with the right status, counted in
 * switchyard_limit_hits_total.
 */
import type { ServerOptions } from "node:http";
import type { Duplex } from "node:stream";
import type { ListenerLimits } from "../config/static-config.js";
import { publish } from "../telemetry/events.js";

export type HttpLimits = Pick<ListenerLimits, "headersTimeoutMs" | "requestTimeoutMs" | "maxHeaderBytes">;

/**
 * What node's HTTP parser reports for a client that breaks a listener bound, and the answer it gets: a
 * slowloris request (headers or body not sent in time, an upgrade's headers included, or nothing sent at all)
 * and oversized headers.
 */
const CLIENT_ERRORS: Readonly<Record<string, { status: string; limit: "request_timeout" | "header_size" }>> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: "408 Request Timeout", limit: "request_timeout" },
  HPE_HEADER_OVERFLOW: { status: "431 Request Header Fields Too Large", limit: "header_size" },
};

/** node's server options for these limits; absent limits: node's defaults. */
export function listenerOptions(limits: HttpLimits | undefined): ServerOptions {
  if (limits === undefined) return {};
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // How often node looks for requests over their time (its default, 30 s, would let a slowloris sit that long).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** A listener's "clientError" handler: 408 or 431 for a bound (counted), 400 for anything else; then close. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const known = CLIENT_ERRORS[error.code ?? ""];
  if (known !== undefined) publish("switchyard:limit:hit", { limit: known.limit });
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${known?.status ?? "400 Bad Request"}\r\nconnection: close\r\n\r\n`);
}
