/**
 * The error catalog. Every failure Switchyard reports to a client, an operator or a metric carries one of
 * these stable codes; tests and metric labels use the codes, never the messages.
 */
export const ERROR_CATALOG = {
  SWY_ERR_CONFIG_INVALID: "a configuration setting is invalid",
  SWY_ERR_UPSTREAM_UNREACHABLE: "the backend could not be reached",
  SWY_ERR_UPSTREAM_TIMEOUT: "the backend did not complete its handshake in time",
  SWY_ERR_UPSTREAM_REJECTED: "the backend refused the connection",
  SWY_ERR_UPSTREAM_HANDSHAKE: "the backend sent an invalid handshake",
  SWY_ERR_UPSTREAM_CLOSED: "the backend closed the session",
  SWY_ERR_UPSTREAM_PING_TIMEOUT: "the backend stopped answering heartbeats",
  SWY_ERR_UPSTREAM_PROTOCOL: "the backend sent a frame that breaks the protocol",
  SWY_ERR_UPSTREAM_TOO_SLOW: "the backend does not read fast enough",
  SWY_ERR_CLIENT_TOO_SLOW: "the client does not read fast enough",
  SWY_ERR_CLIENT_PING_TIMEOUT: "the client stopped answering heartbeats (it left without closing, or stopped reading)",
  SWY_ERR_PROTOCOL_MALFORMED: "the client sent a malformed Socket.IO packet",
  SWY_ERR_PROTOCOL_UNEXPECTED_BINARY: "the client sent a binary frame no packet announced",
  SWY_ERR_PROTOCOL_TOO_MANY_ATTACHMENTS: "the client announced more binary attachments than allowed",
  SWY_ERR_PROTOCOL_INVALID_STATE: "the client sent a packet for a namespace it has not joined (or joined twice)",
  SWY_ERR_PROTOCOL_INVALID_NAMESPACE: "the client sent a namespace socket.io cannot read (a 2.x client's namespace is parsed as a URL)",
  SWY_ERR_ENGINE_REFUSED:
    "engine.io refused the request with its own error (unknown transport or session id, a handshake that is not a GET, a bad request)",
  SWY_ERR_UNSUPPORTED_PROTOCOL:
    "the handshake names no Engine.IO revision (no EIO parameter); refused as engine.io refuses an unsupported protocol version",
  SWY_ERR_PROTOCOL_ENGINE_MALFORMED:
    "the client sent a malformed Engine.IO packet, polling payload or WebSocket frame (engine.io closed the session)",
  SWY_ERR_PROTOCOL_TOO_LARGE: "the client sent a message or polling payload larger than maxPayload (engine.io closed the session)",
  SWY_ERR_QUEUE_OVERFLOW: "too many client messages arrived before the backend session opened",
  SWY_ERR_EARLY_OVERFLOW: "the backend sent more than EARLY_BUFFER_BYTES before the client session attached",
  SWY_ERR_DRAINING: "this gateway instance is shutting down",
  SWY_ERR_SESSION_LIMIT: "this gateway instance holds MAX_SESSIONS sessions; retry later",
  SWY_ERR_ADDRESS_LIMIT: "this client address holds MAX_SESSIONS_PER_ADDRESS sessions",
  SWY_ERR_RATE_LIMITED: "this gateway instance takes no more handshakes per second (HANDSHAKE_RATE); retry later",
  SWY_ERR_REQUEST_TIMEOUT: "the client did not send its request (headers or body) in time",
  SWY_ERR_HEADERS_TOO_LARGE: "the request's headers exceed MAX_HEADER_BYTES",
  SWY_ERR_PASSTHROUGH_UNREACHABLE: "the legacy application could not be reached",
  SWY_ERR_HUB_UNAVAILABLE: "the hub is unavailable",
  SWY_ERR_HUB_LINK_LOST: "the multiplexed hub link (switchyard-hub.v2) the session was on closed or broke; every session on it ended",
  SWY_ERR_HUB_LINK_FULL: "every hub link of this process holds HUB_LINK_MAX_SESSIONS sessions (or the hub's maxSessions)",
  SWY_ERR_HUB_LINK_FRAME_TOO_LARGE: "a frame of the session exceeds HUB_LINK_MAX_FRAME_BYTES",
  SWY_ERR_HUB_LINK_OVERFLOW: "the hub sent more than HUB_LINK_PAUSED_BYTES for a session it was asked to pause",
  SWY_ERR_STORE_UNAVAILABLE: "the routing store is unavailable",
  SWY_ERR_ROUTING_INVALID: "the routing configuration is invalid",
  SWY_ERR_ROUTING_CONFLICT: "the routing configuration changed since it was read",
  SWY_ERR_ADMIN_UNAUTHORIZED: "the admin request lacks a valid token",
  SWY_ERR_ADMIN_DISABLED: "admin mutations are disabled because no ADMIN_TOKEN is configured",
  SWY_ERR_ADMIN_BAD_REQUEST: "the admin request is invalid",
  SWY_ERR_ADMIN_NOT_FOUND: "no such admin resource",
  SWY_ERR_ROLLOUT_ACTIVE: "a rollout is already active; abort it or let it finish first",
  SWY_ERR_ROLLOUT_NONE: "no rollout is active",
  SWY_ERR_OWNER_UNREACHABLE: "the gateway instance that owns the session could not be reached",
  SWY_ERR_SHADOW: "the shadow session failed",
  SWY_ERR_BAD_REQUEST: "the HTTP request cannot be served: its URL cannot be parsed",
  SWY_ERR_STORE_MALFORMED: "an entry read from the routing store is malformed; it is treated as absent",
  SWY_ERR_INTERNAL: "an unexpected error inside the gateway (a bug); only the session or request it happened in was ended",
  SWY_ERR_UNCAUGHT_EXCEPTION: "an exception reached the process (a bug outside every guard); the instance drains and exits with status 70",
  SWY_ERR_WORKER_EXITED:
    "a worker process of the instance (WORKERS > 1) exited unexpectedly; its clients reconnect to the other workers and it is restarted",
  SWY_ERR_WORKER_UNAVAILABLE: "no worker process of the instance (WORKERS > 1) could answer the admin call; retry",
  SWY_ERR_UNHANDLED_REJECTION:
    "a promise rejection nobody handled reached the process (a bug); it is logged and the instance keeps serving",
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class SwitchyardError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? ERROR_CATALOG[code] : `${ERROR_CATALOG[code]}: ${detail}`, options);
    this.name = "SwitchyardError";
    this.code = code;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isSwitchyardError(value: unknown): value is SwitchyardError {
  return value instanceof SwitchyardError;
}

/** The code of any thrown value: our own errors keep theirs; anything else is reported under `fallback`. */
export function errorCodeOf(value: unknown, fallback: ErrorCode): ErrorCode {
  return isSwitchyardError(value) ? value.code : fallback;
}
