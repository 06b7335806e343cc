/**
 * The bounds a hostile or broken client (or backend) runs into: every buffer in bytes, the HTTP timeouts
 * that end slowloris requests, the accept queue, the session caps and the handshake rate. Each has a named
 * default here, a row in docs/operating.md's limits table and a label of switchyard_limit_hits_total (but the
 * accept queue: the kernel drops what overflows it, counted in the host's TcpExtListenOverflows).
 */
import { integer, setting } from "./setting-parsers.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB_BYTES = 1 << 30;
const HOUR_MS = 3_600_000;

export const LIMIT_SETTINGS = {
  EARLY_BUFFER_BYTES: setting(
    "EARLY_BUFFER_BYTES",
    1 * MIB,
    "Bytes a backend may send for a session before the client session attaches (while its handshake completes); " +
      "more closes the session (SWY_ERR_EARLY_OVERFLOW).",
    integer(KIB, GIB_BYTES),
  ),
  SHADOW_QUEUE_BYTES: setting(
    "SHADOW_QUEUE_BYTES",
    1 * MIB,
    "Bytes a shadowed session's tap may hold (messages not processed yet, waiting for the shadow to open or to " +
      'accept a namespace); more drops the shadow, never the client (switchyard_shadow_overflow_total{kind="queue"}).',
    integer(KIB, GIB_BYTES),
  ),
  CLIENT_BUFFER_LIMIT_BYTES: setting(
    "CLIENT_BUFFER_LIMIT_BYTES",
    8 * MIB,
    "Bytes waiting for a client (engine.io's buffer plus its WebSocket's) before its session closes " +
      "(SWY_ERR_CLIENT_TOO_SLOW): a client that stops reading. CLIENT_BUFFER_LIMIT bounds the same in packets.",
    integer(KIB, GIB_BYTES),
  ),
  HEADERS_TIMEOUT_MS: setting(
    "HEADERS_TIMEOUT_MS",
    10_000,
    "Time a client has to send a request's headers, WebSocket upgrades included (slowloris); then 408 and the " + "connection closes.",
    integer(100, HOUR_MS),
  ),
  REQUEST_TIMEOUT_MS: setting(
    "REQUEST_TIMEOUT_MS",
    30_000,
    "Time a client has to send a whole request, body included (not the answer: long polls are not affected); then 408.",
    integer(100, HOUR_MS),
  ),
  MAX_HEADER_BYTES: setting(
    "MAX_HEADER_BYTES",
    16 * KIB,
    "Bytes of a request's line and headers (node's maxHeaderSize); more is answered 431.",
    integer(KIB, MIB),
  ),
  LISTEN_BACKLOG: setting(
    "LISTEN_BACKLOG",
    511,
    "Connections the kernel queues for the client listener until the gateway accepts them (listen(2)'s backlog, " +
      "capped by net.core.somaxconn; node's default). Beyond it a connection is dropped and its client's TCP retries " +
      "1, 3, 7 s later; a client waits in it up to LISTEN_BACKLOG / handshakes per second, which must stay well below " +
      "clients' connect timeout (socket.io: 20 s): a deeper queue made 5,000-client storms on a starved gateway slower.",
    integer(1, 65_535),
  ),
  MAX_SESSIONS: setting(
    "MAX_SESSIONS",
    50_000,
    "Sessions one instance holds (terminated and piped); a handshake beyond gets 503 SWY_ERR_SESSION_LIMIT with " +
      "Retry-After. 0: no cap.",
    integer(0, 10_000_000),
  ),
  MAX_SESSIONS_PER_ADDRESS: setting(
    "MAX_SESSIONS_PER_ADDRESS",
    0,
    "Sessions one client address holds on one instance (with TRUST_PROXY, the address the load balancer " +
      "appended to X-Forwarded-For); beyond: 429 SWY_ERR_ADDRESS_LIMIT with Retry-After. 0: no cap (NAT and " +
      "corporate proxies put many users behind one address).",
    integer(0, 1_000_000),
  ),
  HANDSHAKE_RATE: setting(
    "HANDSHAKE_RATE",
    1000,
    "New sessions one instance accepts per second, on average (a token bucket); beyond: 503 SWY_ERR_RATE_LIMITED " +
      "with Retry-After. 0: no cap.",
    integer(0, 1_000_000),
  ),
  HANDSHAKE_BURST: setting(
    "HANDSHAKE_BURST",
    2000,
    "Handshakes accepted at once above HANDSHAKE_RATE (the bucket's size): a reconnect storm after another " +
      "instance failed fits in it.",
    integer(1, 10_000_000),
  ),
} as const;
