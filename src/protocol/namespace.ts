/**
 * The namespace a client packet addresses, read exactly as socket.io 4's server reads it
 * (`Client#_parseNamespace` in socket.io/dist/client.js). Pure.
 *
 * - Protocol v5 (socket.io-client 3.x/4.x): the packet's namespace as it is; auth travels in the CONNECT body.
 * - Protocol v4 (socket.io-client 2.x, Engine.IO v3): the namespace is parsed as a URL relative to
 *   `https://socket.io`, for every packet: its path is the namespace and its query string the CONNECT's auth.
 *   So `/admin?token=x` is namespace `/admin`, `//x` is `/` (host `x`), `/a/../b` is `/b`, `/é` is `/%C3%A9`.
 *   socket.io runs that parse inside `Client#ondata`'s try/catch: a namespace the URL parser refuses
 *   (`//`, `//[`, `//:99999`) closes that one connection. The gateway does the same, with
 *   SWY_ERR_PROTOCOL_INVALID_NAMESPACE, instead of letting the TypeError escape.
 * The parse is Node's WHATWG URL parser, the one socket.io uses, so every quirk (control characters stripped,
 * backslashes as slashes, dot segments) is the same by construction; test/unit/namespace.test.ts compares the
 * two on hostile input against a real socket.io server.
 */
import type { SocketIoRevision } from "./versions.js";

/** The base socket.io resolves v4 namespaces against. */
const NAMESPACE_URL_BASE = "https://socket.io";

export type ClientNamespace =
  | {
      readonly ok: true;
      /** The namespace the server connects or delivers to. */
      readonly name: string;
      /** v4: the query string's parameters (the last value of a repeated key wins); v5: undefined. */
      readonly auth: Record<string, string> | undefined;
    }
  | { readonly ok: false; readonly detail: string };

/** Reads the namespace of a client packet (`raw` is the packet's namespace field, e.g. `/admin?x=1`). */
export function parseClientNamespace(raw: string, revision: SocketIoRevision): ClientNamespace {
  if (revision === 5 || raw === "/") return { ok: true, name: raw, auth: revision === 5 ? undefined : {} };
  let url: URL;
  try {
    url = new URL(raw, NAMESPACE_URL_BASE);
  } catch {
    return { ok: false, detail: invalidNamespaceDetail(raw) };
  }
  // fromEntries defines own properties, so a `__proto__` parameter stays a plain key (socket.io uses a null-prototype object).
  return { ok: true, name: url.pathname, auth: Object.fromEntries(url.searchParams.entries()) };
}

/** Why a v4 namespace was refused, for logs (long namespaces abbreviated). */
export function invalidNamespaceDetail(raw: string): string {
  return `namespace ${JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw)} is not a valid URL path`;
}
