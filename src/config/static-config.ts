/**
 * Static configuration: read once at start-up from the environment and the optional file named by
 * SWITCHYARD_CONFIG (JSON or YAML, same keys as the environment variables; the environment wins),
 * validated as a whole, then frozen. Every problem is reported at once, each naming its setting.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import { SwitchyardError } from "../errors.js";
import type { HubProtocolChoice } from "./hub-link-settings.js";
import type { RoutingConfig } from "./routing-config.js";
import { tlsPairProblem } from "./tls-files.js";
import {
  SETTINGS,
  SettingError,
  type LegacyMode,
  type LogLevel,
  type RawValue,
  type SameSite,
  type SettingName,
  type SettingSpec,
} from "./settings.js";

export interface HandshakeOverrides {
  readonly pingIntervalMs: number | undefined;
  readonly pingTimeoutMs: number | undefined;
  readonly maxPayloadBytes: number | undefined;
}

export interface Limits {
  readonly maxPendingMessages: number;
  readonly maxPendingBytes: number;
  readonly maxAttachments: number;
  readonly clientBufferHighWater: number;
  readonly clientBufferLimit: number;
  readonly upstreamBufferHighWater: number;
  readonly upstreamBufferLimit: number;
  readonly earlyBufferBytes: number;
  readonly shadowQueueBytes: number;
  readonly clientBufferLimitBytes: number;
}

/** The client listener's own bounds (slowloris, headers) and the session caps. */
export interface ListenerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxHeaderBytes: number;
  /** The client listener's listen(2) backlog (LISTEN_BACKLOG). */
  readonly backlog: number;
  readonly maxSessions: number;
  readonly maxSessionsPerAddress: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
}

export interface HubLinkConfig {
  readonly protocol: HubProtocolChoice;
  readonly links: number;
  readonly maxSessions: number;
  readonly maxFrameBytes: number;
  readonly pausedBytes: number;
}

export interface StaticConfig {
  readonly port: number;
  readonly host: string;
  readonly legacyUrl: string | undefined;
  readonly hubUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly opsPort: number;
  readonly opsHost: string;
  readonly adminToken: string | undefined;
  readonly logLevel: LogLevel;
  readonly socketIoPath: string;
  readonly legacyMode: LegacyMode;
  readonly handshake: HandshakeOverrides;
  readonly upgradeTimeoutMs: number;
  readonly cors: { readonly origin: string[] | "*"; readonly credentials: boolean } | undefined;
  readonly cookie: { readonly name: string; readonly path: string; readonly sameSite: SameSite; readonly secure: boolean } | undefined;
  /** TLS_CERT_FILE and TLS_KEY_FILE: the client listener serves https and wss. */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly reloadIntervalMs: number } | undefined;
  readonly trustProxy: boolean;
  /** TRUSTED_PROXIES: the load balancers whose X-Forwarded-For gives the client address. */
  readonly trustedProxies: readonly string[];
  readonly forwardHeaders: readonly string[];
  readonly upstreamConnectTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly limits: Limits;
  readonly listener: ListenerLimits;
  readonly instanceId: string;
  /** WORKERS: worker processes serving PORT (1: this process is the gateway, no primary). */
  readonly workers: number;
  readonly internalUrl: string | undefined;
  readonly redisKeyPrefix: string;
  /** PROMETHEUS_URL: where a rollout's PromQL gates are asked. */
  readonly prometheusUrl: string | undefined;
  /** ROUTING_CONFIG: the routing document a store starts from (and seeds Redis with when it holds none). */
  readonly routingConfig: RoutingConfig | undefined;
  readonly legacyShadowUrl: string | undefined;
  readonly hubShadowUrl: string | undefined;
  /** switchyard-hub.v2 (docs/hub-protocol.md §11). */
  readonly hubLink: HubLinkConfig;
  readonly hubFallback: boolean;
  readonly shadowEvidenceLimit: number;
  readonly shadowBacklogLimit: number;
  readonly rooms: RoomsConfig;
}

export interface RoomsConfig {
  /** REDIS_URL set and BRIDGE not off: rooms span legacy nodes and instances through the Redis adapter. */
  readonly bridge: boolean;
  readonly adapterKey: string;
  readonly shadowAdapterKey: string;
  readonly maxRooms: number;
  readonly maxRoomLength: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

type Values = { -readonly [K in SettingName]: (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T | undefined : never };

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new SwitchyardError("SWY_ERR_CONFIG_INVALID", `SWITCHYARD_CONFIG: cannot read ${file} (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new SwitchyardError(
      "SWY_ERR_CONFIG_INVALID",
      `SWITCHYARD_CONFIG: ${file} is not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"} (${(error as Error).message})`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new SwitchyardError("SWY_ERR_CONFIG_INVALID", `SWITCHYARD_CONFIG: ${file} must hold an object of settings`);
  }
  return parsed as Record<string, unknown>;
}

function collectRaw(env: Environment): { raw: Map<SettingName, RawValue>; problems: string[] } {
  const raw = new Map<SettingName, RawValue>();
  const problems: string[] = [];
  const file = env.SWITCHYARD_CONFIG;
  if (file !== undefined && file !== "") {
    for (const [key, value] of Object.entries(readConfigFile(file))) {
      if (!(key in SETTINGS)) {
        problems.push(`${key}: unknown setting in ${file}`);
      } else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
        raw.set(key as SettingName, value);
      } else if (Array.isArray(value) && value.every((item) => typeof item === "string")) {
        raw.set(key as SettingName, value.join(","));
      } else if (value !== null) {
        problems.push(`${key}: must be a string, number or boolean in ${file}`);
      }
    }
  }
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const value = env[name];
    if (value !== undefined && value !== "") raw.set(name, value);
  }
  return { raw, problems };
}

/** Parses and validates every setting; throws one SWY_ERR_CONFIG_INVALID error listing every problem. */
export function loadStaticConfig(env: Environment = process.env): StaticConfig {
  const { raw, problems } = collectRaw(env);
  const values = {} as Record<SettingName, unknown>;
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec<unknown>][]) {
    const input = raw.get(name);
    if (input === undefined) {
      values[name] = spec.defaultValue;
      continue;
    }
    try {
      values[name] = spec.parse(input);
    } catch (error) {
      if (!(error instanceof SettingError)) throw error;
      problems.push(`${name} ${error.message}`);
    }
  }
  const v = values as Values;
  problems.push(...crossProblems(v, env));
  if (problems.length > 0) {
    throw new SwitchyardError("SWY_ERR_CONFIG_INVALID", problems.join("; "));
  }
  return buildConfig(v);
}

/**
 * Settings that are each valid but cannot work together, or are unsafe together: refused at start-up, each
 * problem named. NODE_ENV=production without LEGACY_URL is refused rather than warned about: it would serve the
 * bundled demo chat as the production backend, which no operator means.
 */
function crossProblems(v: Values, env: Environment): string[] {
  const problems: string[] = [];
  if (v.PORT !== undefined && v.PORT !== 0 && v.PORT === v.OPS_PORT) problems.push(`OPS_PORT must differ from PORT (both ${v.PORT})`);
  if (v.CLIENT_BUFFER_HIGH_WATER! > v.CLIENT_BUFFER_LIMIT!) problems.push("CLIENT_BUFFER_HIGH_WATER must not exceed CLIENT_BUFFER_LIMIT");
  if (v.UPSTREAM_BUFFER_HIGH_WATER! > v.UPSTREAM_BUFFER_LIMIT!)
    problems.push("UPSTREAM_BUFFER_HIGH_WATER must not exceed UPSTREAM_BUFFER_LIMIT");
  // node requires the headers to arrive within the time the whole request has.
  if (v.HEADERS_TIMEOUT_MS! > v.REQUEST_TIMEOUT_MS!) problems.push("HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS");
  const [key, shadowKey] = [v.ADAPTER_KEY, v.SHADOW_ADAPTER_KEY];
  // A legacy node PSUBSCRIBEs `<key>#<nsp>#*` and SUBSCRIBEs `<key>-request#…`: a shadow key that starts with
  // the primary one (or the reverse) could be heard across worlds.
  if (key !== undefined && shadowKey !== undefined && (key.startsWith(shadowKey) || shadowKey.startsWith(key)))
    problems.push(`SHADOW_ADAPTER_KEY must not overlap ADAPTER_KEY (${JSON.stringify(shadowKey)} and ${JSON.stringify(key)})`);
  if (v.CORS_ORIGIN?.includes("*") === true && v.CORS_CREDENTIALS === true)
    problems.push("CORS_ORIGIN=* cannot be used with CORS_CREDENTIALS=true (browsers refuse credentials for any origin): list the origins");
  if (v.COOKIE_SAME_SITE === "none" && v.COOKIE_SECURE !== true)
    problems.push("COOKIE_SAME_SITE=none needs COOKIE_SECURE=true (browsers drop a SameSite=None cookie that is not Secure)");
  // Other instances forward to INTERNAL_URL on the client listener: it must speak what the listener speaks.
  const tls = v.TLS_CERT_FILE !== undefined;
  if (v.INTERNAL_URL?.startsWith("https:") === true && !tls)
    problems.push("INTERNAL_URL must use http: (the client listener speaks plain HTTP without TLS_CERT_FILE)");
  if (v.INTERNAL_URL?.startsWith("http:") === true && tls)
    problems.push("INTERNAL_URL must use https: (the client listener serves TLS: TLS_CERT_FILE is set)");
  if ((v.TLS_CERT_FILE === undefined) !== (v.TLS_KEY_FILE === undefined))
    problems.push("TLS_CERT_FILE and TLS_KEY_FILE go together (set both, or neither)");
  else if (v.TLS_CERT_FILE !== undefined && v.TLS_KEY_FILE !== undefined) {
    const problem = tlsPairProblem(v.TLS_CERT_FILE, v.TLS_KEY_FILE);
    if (problem !== undefined) problems.push(`TLS_CERT_FILE, TLS_KEY_FILE: ${problem}`);
  }
  // Workers find each other's sessions, drains and rooms through Redis, as instances do.
  if (v.WORKERS! > 1 && v.REDIS_URL === undefined)
    problems.push(
      `WORKERS=${v.WORKERS} needs REDIS_URL (workers share routing, sessions, drains and rooms through Redis, as instances do)`,
    );
  if (env.NODE_ENV === "production" && v.LEGACY_URL === undefined)
    problems.push("LEGACY_URL must be set when NODE_ENV=production (without it the bundled demo chat would be the backend)");
  return problems;
}

function buildConfig(v: Values): StaticConfig {
  const corsOrigin = v.CORS_ORIGIN;
  const config: StaticConfig = {
    port: v.PORT!,
    host: v.HOST!,
    legacyUrl: v.LEGACY_URL,
    hubUrl: v.HUB_URL,
    redisUrl: v.REDIS_URL,
    opsPort: v.OPS_PORT!,
    opsHost: v.OPS_HOST!,
    adminToken: v.ADMIN_TOKEN,
    logLevel: v.LOG_LEVEL!,
    socketIoPath: v.SOCKETIO_PATH!,
    legacyMode: v.LEGACY_MODE!,
    handshake: Object.freeze({
      pingIntervalMs: v.PING_INTERVAL_MS,
      pingTimeoutMs: v.PING_TIMEOUT_MS,
      maxPayloadBytes: v.MAX_PAYLOAD_BYTES,
    }),
    upgradeTimeoutMs: v.UPGRADE_TIMEOUT_MS!,
    cors:
      corsOrigin === undefined || corsOrigin.length === 0
        ? undefined
        : Object.freeze({
            origin: corsOrigin.includes("*") ? ("*" as const) : (Object.freeze([...corsOrigin]) as string[]),
            credentials: v.CORS_CREDENTIALS!,
          }),
    cookie:
      v.COOKIE_NAME === undefined
        ? undefined
        : Object.freeze({ name: v.COOKIE_NAME, path: v.COOKIE_PATH!, sameSite: v.COOKIE_SAME_SITE!, secure: v.COOKIE_SECURE! }),
    tls:
      v.TLS_CERT_FILE === undefined || v.TLS_KEY_FILE === undefined
        ? undefined
        : Object.freeze({ certFile: v.TLS_CERT_FILE, keyFile: v.TLS_KEY_FILE, reloadIntervalMs: v.TLS_RELOAD_INTERVAL_MS! }),
    trustProxy: v.TRUST_PROXY!,
    trustedProxies: Object.freeze([...(v.TRUSTED_PROXIES ?? [])]),
    forwardHeaders: Object.freeze((v.FORWARD_HEADERS ?? []).map((h) => h.toLowerCase())),
    upstreamConnectTimeoutMs: v.UPSTREAM_CONNECT_TIMEOUT_MS!,
    drainTimeoutMs: v.DRAIN_TIMEOUT_MS!,
    limits: Object.freeze({
      maxPendingMessages: v.MAX_PENDING_MESSAGES!,
      maxPendingBytes: v.MAX_PENDING_BYTES!,
      maxAttachments: v.MAX_ATTACHMENTS!,
      clientBufferHighWater: v.CLIENT_BUFFER_HIGH_WATER!,
      clientBufferLimit: v.CLIENT_BUFFER_LIMIT!,
      upstreamBufferHighWater: v.UPSTREAM_BUFFER_HIGH_WATER!,
      upstreamBufferLimit: v.UPSTREAM_BUFFER_LIMIT!,
      earlyBufferBytes: v.EARLY_BUFFER_BYTES!,
      shadowQueueBytes: v.SHADOW_QUEUE_BYTES!,
      clientBufferLimitBytes: v.CLIENT_BUFFER_LIMIT_BYTES!,
    }),
    listener: Object.freeze({
      headersTimeoutMs: v.HEADERS_TIMEOUT_MS!,
      requestTimeoutMs: v.REQUEST_TIMEOUT_MS!,
      maxHeaderBytes: v.MAX_HEADER_BYTES!,
      backlog: v.LISTEN_BACKLOG!,
      maxSessions: v.MAX_SESSIONS!,
      maxSessionsPerAddress: v.MAX_SESSIONS_PER_ADDRESS!,
      handshakeRate: v.HANDSHAKE_RATE!,
      handshakeBurst: v.HANDSHAKE_BURST!,
    }),
    instanceId: v.INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    workers: v.WORKERS!,
    internalUrl: v.INTERNAL_URL,
    redisKeyPrefix: v.REDIS_KEY_PREFIX!,
    prometheusUrl: v.PROMETHEUS_URL,
    routingConfig: v.ROUTING_CONFIG,
    legacyShadowUrl: v.LEGACY_SHADOW_URL,
    hubShadowUrl: v.HUB_SHADOW_URL,
    hubLink: Object.freeze({
      protocol: v.HUB_PROTOCOL!,
      links: v.HUB_LINKS!,
      maxSessions: v.HUB_LINK_MAX_SESSIONS!,
      maxFrameBytes: v.HUB_LINK_MAX_FRAME_BYTES!,
      pausedBytes: v.HUB_LINK_PAUSED_BYTES!,
    }),
    hubFallback: v.HUB_FALLBACK!,
    shadowEvidenceLimit: v.SHADOW_EVIDENCE_LIMIT!,
    shadowBacklogLimit: v.SHADOW_BACKLOG_LIMIT!,
    rooms: Object.freeze({
      bridge: v.REDIS_URL !== undefined && v.BRIDGE!,
      adapterKey: v.ADAPTER_KEY!,
      shadowAdapterKey: v.SHADOW_ADAPTER_KEY!,
      maxRooms: v.ROOMS_PER_FRAME_LIMIT!,
      maxRoomLength: v.ROOM_NAME_LIMIT!,
    }),
  };
  return Object.freeze(config);
}
