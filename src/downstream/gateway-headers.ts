/**
 * Headers only the gateway may set (the forwarding marker between instances, the hub's session and shadow
 * headers) are removed from every client request before anything reads it or a backend sees it: a client must
 * not mark itself a shadow session, pick a hub session id, or pass as another instance's forwarded request.
 * The one such header that legitimately arrives from outside is the forwarding marker another instance sets
 * (src/passthrough/owner-forwarder.ts); it is recognised by its value, a keyed hash of settings every instance
 * of a deployment shares, and remembered before it is removed. Other `x-switchyard-*` names stay:
 * `x-switchyard-backend` is a routing override that clients send on purpose.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HUB_SESSION_HEADER, HUB_SHADOW_HEADER } from "../protocol/hub-frames.js";

export const FORWARDED_HEADER = "x-switchyard-forwarded";

/** What only the gateway writes on a request (lower case). */
export const GATEWAY_SET_HEADERS: ReadonlySet<string> = new Set([FORWARDED_HEADER, HUB_SESSION_HEADER, HUB_SHADOW_HEADER]);

const forwardedRequests = new WeakSet<IncomingMessage>();

/**
 * The value of the forwarding marker: an HMAC of the settings the instances of one deployment share (the
 * admin token, the Redis URL with its password, the key prefix), which a client does not know.
 */
export function forwardingMarker(shared: {
  adminToken?: string | undefined;
  redisUrl?: string | undefined;
  redisKeyPrefix: string;
}): string {
  const secret = createHash("sha256")
    .update([shared.adminToken ?? "", shared.redisUrl ?? "", shared.redisKeyPrefix].join("\0"))
    .digest();
  return createHmac("sha256", secret).update(FORWARDED_HEADER).digest("base64url");
}

function sameText(a: string, b: string): boolean {
  const [left, right] = [Buffer.from(a), Buffer.from(b)];
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Removes the gateway's own headers from a client request; remembers an authentic forwarding marker. */
export function stripGatewayHeaders(req: IncomingMessage, marker: string): void {
  let found = false;
  for (const name in req.headers) {
    if (!GATEWAY_SET_HEADERS.has(name)) continue;
    if (name === FORWARDED_HEADER) {
      const value = req.headers[name];
      if (typeof value === "string" && sameText(value, marker)) forwardedRequests.add(req);
    }
    delete req.headers[name];
    found = true;
  }
  if (!found) return;
  const raw: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (!GATEWAY_SET_HEADERS.has(req.rawHeaders[i]!.toLowerCase())) raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  req.rawHeaders = raw;
}

/** Whether another instance of this deployment forwarded the request (it is never forwarded again). */
export function wasForwarded(req: IncomingMessage): boolean {
  return forwardedRequests.has(req);
}
