/**
 * The static settings: one row per environment variable (the same names are accepted as keys of the
 * optional JSON/YAML file named by SWITCHYARD_CONFIG). Each row parses and validates its raw value; the
 * table in docs/configuration.md is generated from this list (`npm run docs:config`) and a unit test checks it.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isHeaderName, reservedHeaderReason } from "./header-rules.js";
import { parseNetwork } from "../routing/networks.js";
import { HUB_LINK_SETTINGS } from "./hub-link-settings.js";
import { LIMIT_SETTINGS } from "./limit-settings.js";
import { parseRoutingConfig, type RoutingConfig } from "./routing-config.js";
import { boolean, integer, list, oneOf, type RawValue, setting, SettingError, text, url } from "./setting-parsers.js";

export { SettingError, type RawValue, type SettingSpec } from "./setting-parsers.js";

/** FORWARD_HEADERS: header names a backend may receive from the client, none the gateway owns (header-rules.ts). */
function forwardHeaders(raw: RawValue): string[] {
  const names = list(raw).map((name) => name.toLowerCase());
  const problems: string[] = [];
  for (const name of names) {
    const reason = isHeaderName(name) ? reservedHeaderReason(name) : "it is not a header name";
    if (reason !== undefined) problems.push(`${JSON.stringify(name)} (${reason})`);
  }
  if (problems.length > 0) throw new SettingError(`must not name ${problems.join(", ")}`);
  return names;
}

/** ADMIN_TOKEN: what a client can send as `Authorization: Bearer <token>`, long enough not to be guessed. */
function adminToken(raw: RawValue): string {
  const value = text(16, "at least 16 characters long")(raw);
  // A Bearer token is one HTTP token: whitespace (a pasted newline, say) would make it unusable.
  if (/\s/.test(value)) throw new SettingError("must not contain whitespace (a Bearer token cannot carry it)");
  return value;
}

/** TRUSTED_PROXIES: addresses or CIDR networks, each checked as the routing document's trusted networks are. */
function networks(raw: RawValue): string[] {
  const entries = list(raw);
  const problems = entries.map(parseNetwork).filter((network): network is string => typeof network === "string");
  if (problems.length > 0) throw new SettingError(`must list addresses or CIDR networks: ${problems.join("; ")}`);
  return entries;
}

/** A Redis adapter key: a channel prefix without `#` (the adapter's separator) or glob characters. */
function adapterKey(raw: RawValue): string {
  const value = String(raw).trim();
  if (value.length === 0 || /[#*?[\]\s]/.test(value)) {
    throw new SettingError(`must be a non-empty channel prefix without "#", "*", "?", "[", "]" or spaces (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/** WORKERS: a count of processes, or `auto` for one per core (os.availableParallelism()). */
function workerCount(raw: RawValue): number {
  if (String(raw).trim().toLowerCase() === "auto") return availableParallelism();
  return integer(1, 1024)(raw);
}

function path(raw: RawValue): string {
  const value = String(raw).trim();
  if (!/^\/([\w.~-]+\/)*$/.test(value)) {
    throw new SettingError(`must be an absolute path that starts and ends with "/" (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/** A routing document inline (JSON text) or in a JSON file; validated with every problem named. */
function routingDocument(raw: RawValue): RoutingConfig {
  const value = String(raw).trim();
  let textValue = value;
  if (!value.startsWith("{")) {
    try {
      textValue = readFileSync(value, "utf8");
    } catch (error) {
      throw new SettingError(
        `must be a JSON document or the path of one (cannot read ${JSON.stringify(value)}: ${(error as Error).message})`,
      );
    }
  }
  const result = parseRoutingConfig(textValue);
  if (!result.ok) throw new SettingError(`is not a valid routing config: ${result.problems.join("; ")}`);
  return result.config;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LegacyMode = "pipe" | "terminate";
export type SameSite = "lax" | "strict" | "none";

const MAX_PORT = 65535;
const DAY_MS = 86_400_000;

export const SETTINGS = {
  PORT: setting("PORT", 3000, "Port of the client-facing listener (Socket.IO and pass-through).", integer(0, MAX_PORT)),
  HOST: setting("HOST", "0.0.0.0", "Address the client-facing listener binds.", text(1, "an address")),
  TLS_CERT_FILE: setting<string>(
    "TLS_CERT_FILE",
    undefined,
    "PEM certificate (chain) of the client listener: with TLS_KEY_FILE it serves https:// and wss://. Both files are " +
      "read again when they change (TLS_RELOAD_INTERVAL_MS), without a restart. Unset: plain http.",
    text(1, "a file path"),
  ),
  TLS_KEY_FILE: setting<string>("TLS_KEY_FILE", undefined, "PEM private key of TLS_CERT_FILE.", text(1, "a file path")),
  TLS_RELOAD_INTERVAL_MS: setting(
    "TLS_RELOAD_INTERVAL_MS",
    10_000,
    "How often the TLS files are checked for a change (a renewed certificate is served from the next connection on).",
    integer(100, 3_600_000),
  ),
  LEGACY_URL: setting<string>(
    "LEGACY_URL",
    undefined,
    "The legacy socket.io server (http/https). Unset: `npm start` runs the bundled sample legacy chat.",
    url("http:", "https:"),
  ),
  HUB_URL: setting<string>(
    "HUB_URL",
    undefined,
    "The hub (ws/wss/http/https). Unset: `npm start` runs the bundled sample hub.",
    url("ws:", "wss:", "http:", "https:"),
  ),
  REDIS_URL: setting<string>(
    "REDIS_URL",
    undefined,
    "Redis for the shared routing state. Unset: an in-memory store (one instance).",
    url("redis:", "rediss:"),
  ),
  OPS_PORT: setting("OPS_PORT", 9464, "Port of the operations listener: /metrics, /healthz, /readyz, /admin.", integer(0, MAX_PORT)),
  OPS_HOST: setting(
    "OPS_HOST",
    "0.0.0.0",
    "Address the operations listener binds. Every interface by default: Prometheus and health checks come " +
      "from other hosts; user data there needs ADMIN_TOKEN. Bind it to a private interface and firewall it.",
    text(1, "an address"),
  ),
  ADMIN_TOKEN: setting<string>(
    "ADMIN_TOKEN",
    undefined,
    "Bearer token for admin mutations and the reads of sessions, audit and shadow evidence (16+ characters, no " +
      "whitespace). Unset: those are refused, except in the npm start demo (no LEGACY_URL, no HUB_URL), which " +
      "generates one for the run and saves it for the CLI.",
    adminToken,
  ),
  LOG_LEVEL: setting<LogLevel>("LOG_LEVEL", "info", "pino log level.", oneOf(...LOG_LEVELS)),
  SOCKETIO_PATH: setting("SOCKETIO_PATH", "/socket.io/", "The Socket.IO path clients use (the same as the legacy server's).", path),
  LEGACY_MODE: setting<LegacyMode>(
    "LEGACY_MODE",
    "pipe",
    "`pipe`: unshadowed legacy sessions are proxied byte for byte, pinned by sid; `terminate`: " +
      "every session is terminated and relayed packet by packet.",
    oneOf("pipe", "terminate"),
  ),
  PING_INTERVAL_MS: setting<number>(
    "PING_INTERVAL_MS",
    undefined,
    "Override the pingInterval clients get. Unset: the legacy server's, learned by a probe handshake.",
    integer(1, DAY_MS),
  ),
  PING_TIMEOUT_MS: setting<number>(
    "PING_TIMEOUT_MS",
    undefined,
    "Override the pingTimeout clients get. Unset: learned from the legacy server.",
    integer(1, DAY_MS),
  ),
  MAX_PAYLOAD_BYTES: setting<number>(
    "MAX_PAYLOAD_BYTES",
    undefined,
    "Override maxPayload (maxHttpBufferSize). Unset: learned from the legacy server.",
    integer(1, 1 << 30),
  ),
  UPGRADE_TIMEOUT_MS: setting(
    "UPGRADE_TIMEOUT_MS",
    10_000,
    "How long a polling→WebSocket upgrade may take (engine.io upgradeTimeout).",
    integer(1, DAY_MS),
  ),
  CORS_ORIGIN: setting<string[]>(
    "CORS_ORIGIN",
    undefined,
    "Comma-separated allowed origins, or `*`, for the terminated Socket.IO endpoint (socket.io's " +
      "`cors.origin`). Unset: no CORS headers, as socket.io.",
    list,
  ),
  CORS_CREDENTIALS: setting("CORS_CREDENTIALS", false, "Send Access-Control-Allow-Credentials (socket.io's `cors.credentials`).", boolean),
  COOKIE_NAME: setting<string>(
    "COOKIE_NAME",
    undefined,
    "Set the engine.io session cookie with this name (socket.io's `cookie`). Unset: no cookie, as socket.io.",
    text(1, "a cookie name"),
  ),
  COOKIE_PATH: setting("COOKIE_PATH", "/", "Path attribute of that cookie.", text(1, "a path")),
  COOKIE_SAME_SITE: setting<SameSite>(
    "COOKIE_SAME_SITE",
    "lax",
    "SameSite attribute of that cookie (`none` needs COOKIE_SECURE: browsers drop such a cookie otherwise).",
    oneOf("lax", "strict", "none"),
  ),
  COOKIE_SECURE: setting("COOKIE_SECURE", false, "Secure attribute of that cookie (the clients reach the gateway over https).", boolean),
  TRUST_PROXY: setting(
    "TRUST_PROXY",
    false,
    "Keep (append to) incoming X-Forwarded-* headers instead of replacing them: set when a trusted load balancer is in front.",
    boolean,
  ),
  TRUSTED_PROXIES: setting<string[]>(
    "TRUSTED_PROXIES",
    [],
    "Load balancers (comma-separated addresses or CIDR networks) whose X-Forwarded-For the gateway believes for the client " +
      "address that routing and MAX_SESSIONS_PER_ADDRESS see: the nearest address not in the list. A client that reaches " +
      "the gateway directly cannot pass for another then. Empty: TRUST_PROXY decides (the last address appended).",
    networks,
  ),
  FORWARD_HEADERS: setting<string[]>(
    "FORWARD_HEADERS",
    [],
    "Extra request headers (comma-separated) to forward to the backends besides cookie, " +
      "authorization, user-agent, origin, accept-language. Never hop-by-hop headers, host, " +
      "sec-websocket-*, x-forwarded-* or x-switchyard-* (refused at start-up).",
    forwardHeaders,
  ),
  UPSTREAM_CONNECT_TIMEOUT_MS: setting(
    "UPSTREAM_CONNECT_TIMEOUT_MS",
    5_000,
    "Time allowed to open a backend session (TCP, upgrade and open packet).",
    integer(1, 120_000),
  ),
  DRAIN_TIMEOUT_MS: setting(
    "DRAIN_TIMEOUT_MS",
    10_000,
    "On SIGTERM: time to close sessions (paced) before the process exits.",
    integer(0, 600_000),
  ),
  MAX_PENDING_MESSAGES: setting(
    "MAX_PENDING_MESSAGES",
    256,
    "Client messages queued while its backend session opens; one more closes the session (SWY_ERR_QUEUE_OVERFLOW).",
    integer(1, 1_000_000),
  ),
  MAX_PENDING_BYTES: setting("MAX_PENDING_BYTES", 4 * 1024 * 1024, "Bytes queued while a backend session opens.", integer(1024, 1 << 30)),
  MAX_ATTACHMENTS: setting(
    "MAX_ATTACHMENTS",
    10,
    "Binary attachments one Socket.IO packet may announce (socket.io-parser's limit).",
    integer(1, 10_000),
  ),
  CLIENT_BUFFER_HIGH_WATER: setting(
    "CLIENT_BUFFER_HIGH_WATER",
    1024,
    "Packets waiting for a client before reading from its backend pauses.",
    integer(1, 1_000_000),
  ),
  CLIENT_BUFFER_LIMIT: setting(
    "CLIENT_BUFFER_LIMIT",
    16_384,
    "Packets waiting for a client before its session closes (SWY_ERR_CLIENT_TOO_SLOW).",
    integer(1, 10_000_000),
  ),
  UPSTREAM_BUFFER_HIGH_WATER: setting(
    "UPSTREAM_BUFFER_HIGH_WATER",
    1024 * 1024,
    "Bytes waiting for a backend before reading from the client pauses.",
    integer(1024, 1 << 30),
  ),
  UPSTREAM_BUFFER_LIMIT: setting(
    "UPSTREAM_BUFFER_LIMIT",
    16 * 1024 * 1024,
    "Bytes waiting for a backend before the session closes (SWY_ERR_UPSTREAM_TOO_SLOW).",
    integer(1024, 1 << 30),
  ),
  ...LIMIT_SETTINGS,
  ...HUB_LINK_SETTINGS,
  INSTANCE_ID: setting<string>(
    "INSTANCE_ID",
    undefined,
    "This instance's name in metrics, logs and the session registry. Unset: hostname-pid.",
    text(1, "a name"),
  ),
  WORKERS: setting<number>(
    "WORKERS",
    1,
    "Worker processes of this instance, all serving PORT (`auto`: one per core). Each worker is an instance of its own " +
      "in Redis (INSTANCE_ID-w1, -w2, ...), so more than 1 needs REDIS_URL; the primary process owns OPS_PORT and " +
      "aggregates the workers' metrics. See docs/operating.md#workers-one-instance-on-every-core.",
    workerCount,
  ),
  INTERNAL_URL: setting<string>(
    "INTERNAL_URL",
    undefined,
    "How other instances reach this one's client listener (http:, or https: with TLS_CERT_FILE; the certificate must " +
      "name its host), for forwarding sessions it owns. Unset: http(s)://<hostname>:PORT.",
    url("http:", "https:"),
  ),
  REDIS_KEY_PREFIX: setting(
    "REDIS_KEY_PREFIX",
    "switchyard:",
    "Prefix of every Redis key and channel Switchyard uses (several deployments, or tests, can share one Redis).",
    text(1, "a prefix"),
  ),
  PROMETHEUS_URL: setting(
    "PROMETHEUS_URL",
    undefined,
    "Prometheus's base URL, for a rollout plan's `promql` gates (each query must return one number). Unset: those gates are inconclusive.",
    url("http:", "https:"),
  ),
  ROUTING_CONFIG: setting<RoutingConfig>(
    "ROUTING_CONFIG",
    undefined,
    "Initial routing config: a JSON document (starting with `{`) or the path of a JSON file. Seeds " +
      "Redis only when it holds none. Unset: everything on legacy.",
    routingDocument,
  ),
  LEGACY_SHADOW_URL: setting<string>(
    "LEGACY_SHADOW_URL",
    undefined,
    "A dark legacy deployment (http/https) that hub-route sessions may be shadowed to. Unset: hub-route sessions are never shadowed.",
    url("http:", "https:"),
  ),
  SHADOW_EVIDENCE_LIMIT: setting(
    "SHADOW_EVIDENCE_LIMIT",
    500,
    "How many shadow mismatches are kept as evidence (GET /admin/shadow/diffs; a capped Redis stream when REDIS_URL is set).",
    integer(1, 100_000),
  ),
  SHADOW_BACKLOG_LIMIT: setting(
    "SHADOW_BACKLOG_LIMIT",
    10_000,
    "Messages a shadowed session's tap may hold before its shadow is dropped (counted in switchyard_shadow_overflow_total).",
    integer(1, 10_000_000),
  ),
  HUB_FALLBACK: setting(
    "HUB_FALLBACK",
    true,
    "A new hub-route session whose hub is down or refusing goes to the legacy server instead (counted in switchyard_hub_fallbacks_total).",
    boolean,
  ),
  HUB_SHADOW_URL: setting<string>(
    "HUB_SHADOW_URL",
    undefined,
    "The hub (ws/wss/http/https) that legacy-route sessions are shadowed to. Unset: HUB_URL.",
    url("ws:", "wss:", "http:", "https:"),
  ),
  BRIDGE: setting(
    "BRIDGE",
    true,
    "With REDIS_URL set: take part in the socket.io Redis adapter protocol, so that rooms span legacy nodes, gateway " +
      "instances and emitters (`off`: hub sessions' rooms span this instance only).",
    boolean,
  ),
  ADAPTER_KEY: setting(
    "ADAPTER_KEY",
    "socket.io",
    "The `key` of the legacy deployment's @socket.io/redis-adapter (its channel prefix): the primary room world's.",
    adapterKey,
  ),
  SHADOW_ADAPTER_KEY: setting(
    "SHADOW_ADAPTER_KEY",
    "switchyard-shadow",
    "The adapter key of the shadow room world (shadow hub sessions of every instance): must not " +
      "overlap ADAPTER_KEY, so that legacy nodes never hear it.",
    adapterKey,
  ),
  ROOMS_PER_FRAME_LIMIT: setting(
    "ROOMS_PER_FRAME_LIMIT",
    100,
    "Room names one hub join, leave or broadcast frame may list (in `rooms`, and in `except`); more is a hub protocol error.",
    integer(1, 100_000),
  ),
  ROOM_NAME_LIMIT: setting(
    "ROOM_NAME_LIMIT",
    256,
    "Characters of one room name in a hub frame; longer is a hub protocol error.",
    integer(1, 65_536),
  ),
} as const;

export type SettingName = keyof typeof SETTINGS;
