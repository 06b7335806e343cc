/**
 * Which request headers a backend may receive from a client through the gateway. The gateway's own
 * (`x-switchyard-*`), the connection's (hop-by-hop, RFC 9110 §7.6.1), `host`, the WebSocket handshake's and
 * the X-Forwarded-* trail (which the gateway writes itself) are never taken from a client: FORWARD_HEADERS
 * may not name them (refused at start-up), and both upstreams drop them (src/upstream/client-context.ts).
 */

/** Headers only the gateway sets: the forwarding marker between instances, the hub's session and shadow headers. */
export const GATEWAY_HEADER_PREFIX = "x-switchyard-";

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Why a client header may never be forwarded to a backend, or undefined when it may. `name` in lower case. */
export function reservedHeaderReason(name: string): string | undefined {
  if (name.startsWith(GATEWAY_HEADER_PREFIX)) return "only the gateway sets x-switchyard-* headers";
  if (HOP_BY_HOP.has(name)) return "a hop-by-hop header belongs to one connection";
  if (name === "host" || name === "content-length") return "it describes the gateway's own request to the backend";
  if (name.startsWith("sec-websocket-")) return "it belongs to the WebSocket handshake";
  if (name.startsWith("x-forwarded-") || name === "forwarded") return "the gateway writes the forwarding trail itself";
  return undefined;
}

/** An HTTP field name (RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(name);
}
