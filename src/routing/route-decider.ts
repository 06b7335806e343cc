/**
 * The route decider: pure, from a routing config and one handshake (or first CONNECT) to a Route.
 *
 * Precedence:
 *  1. override — overrides.enabled, the client address is in overrides.trustedNetworks, and one of
 *     overrides.sources carries "legacy" or "hub" (case-insensitive; the first such source wins);
 *  2. the routing key — the first of key.sources that yields a non-empty value; `auth:` sources read
 *     the first CONNECT's auth payload, so at an EIO4 handshake an `auth:` source reached before any
 *     key was found defers the decision to that CONNECT; EIO3 clients have no auth and skip them;
 *     no key → key.fallback: "address" hashes the client address, "legacy"/"hub" pin the session;
 *  3. lists — a key in lists.alwaysHub goes to the hub, in lists.neverHub to legacy;
 *  4. split — bucket(key) < hubPercent × 100 → hub, else legacy (see hash.ts). Monotonic by
 *     construction: raising hubPercent only moves buckets from legacy to the hub.
 * Shadowing: legacy-route sessions are mirrored to the hub, hub-route sessions to the dark legacy
 * deployment (only with `legacyShadow`), for a sticky sample: bucket under a derived salt of the routing
 * key (or the client address when there is none) < shadow.percent × 100.
 */
import type { IncomingHttpHeaders } from "node:http";
import { hubThresholdOf, parseKeySource, type KeySource, type RoutingConfig } from "../config/routing-config.js";
import { revisionOf, type EngineIoRevision } from "../protocol/engineio.js";
import type { Backend } from "../domain.js";
import { BUCKETS, bucketOf, keyHashHex, routingHash, shadowSaltOf } from "./hash.js";
import { NetworkList } from "./networks.js";
import type { Route, RouteDecider, RouteInput, RouteReason, RouteVerdict } from "./route.js";

export interface RouteDeciderOptions {
  /** LEGACY_SHADOW_URL is set: hub-route sessions may be shadowed to the dark legacy deployment. */
  readonly legacyShadow: boolean;
  /** A hub to shadow legacy-route sessions to exists (default true). */
  readonly hubShadow?: boolean;
}

/** A config prepared for fast decisions; built once per config object. */
interface CompiledConfig {
  readonly config: RoutingConfig;
  readonly keySources: readonly KeySource[];
  readonly overrideSources: readonly KeySource[];
  readonly trusted: NetworkList;
  readonly alwaysHub: ReadonlySet<string>;
  readonly neverHub: ReadonlySet<string>;
  readonly hubThreshold: number;
  readonly shadowThreshold: number;
  readonly shadowSalt: string;
  /**
   * Whether the routing key can change the outcome at all. When it cannot (hubPercent 0 or 100, no
   * lists, shadowing all-or-nothing), a handshake is never deferred for an `auth:` key: that keeps the
   * common "everything on legacy" case on the cheap pipe path.
   */
  readonly keyMatters: boolean;
}

const compiledConfigs = new WeakMap<RoutingConfig, CompiledConfig>();

function parsedSources(specs: readonly string[]): KeySource[] {
  return specs.map((spec) => {
    const source = parseKeySource(spec, ["query", "header", "cookie", "auth", "address"]);
    // Configs are validated before they get here; a bad one is a programming error.
    if (typeof source === "string") throw new TypeError(`invalid routing source ${spec}: ${source}`);
    return source;
  });
}

function compile(config: RoutingConfig): CompiledConfig {
  let compiled = compiledConfigs.get(config);
  if (compiled === undefined) {
    const hubThreshold = hubThresholdOf(config);
    const shadowThreshold = Math.round(config.shadow.percent * 100);
    const partial = (threshold: number) => threshold > 0 && threshold < BUCKETS;
    compiled = {
      config,
      keySources: parsedSources(config.key.sources),
      overrideSources: parsedSources(config.overrides.sources),
      trusted: new NetworkList(config.overrides.trustedNetworks),
      alwaysHub: new Set(config.lists.alwaysHub),
      neverHub: new Set(config.lists.neverHub),
      hubThreshold,
      shadowThreshold,
      shadowSalt: shadowSaltOf(config.key.salt),
      keyMatters:
        partial(hubThreshold) || partial(shadowThreshold) || config.lists.alwaysHub.length > 0 || config.lists.neverHub.length > 0,
    };
    compiledConfigs.set(config, compiled);
  }
  return compiled;
}

/** Cookie header → name/value pairs; the first occurrence of a name wins (as the `cookie` package). */
export function parseCookies(header: string | string[] | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  const text = Array.isArray(header) ? header.join("; ") : header;
  if (text === undefined) return cookies;
  for (const pair of text.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === "" || cookies.has(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: keep it as sent.
    }
    cookies.set(name, value);
  }
  return cookies;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function authValue(auth: unknown, path: string): string | undefined {
  let current: unknown = auth;
  for (const segment of path.split(".")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  if (typeof current === "string") return current;
  if (typeof current === "number" && Number.isFinite(current)) return String(current);
  return undefined;
}

/** Reads sources lazily (the cookie header is parsed at most once per decision). */
class SourceReader {
  private cookies: Map<string, string> | undefined;

  constructor(private readonly input: RouteInput) {}

  /** The trimmed, non-empty value of a non-auth source, or undefined. */
  read(source: KeySource): string | undefined {
    let value: string | undefined;
    switch (source.kind) {
      case "query":
        value = this.input.query.get(source.name) ?? undefined;
        break;
      case "header":
        value = headerValue(this.input.headers, source.name);
        break;
      case "cookie":
        this.cookies ??= parseCookies(this.input.headers.cookie);
        value = this.cookies.get(source.name);
        break;
      case "auth":
        value = this.input.auth === undefined ? undefined : authValue(this.input.auth, source.name);
        break;
      case "address":
        value = this.input.remoteAddress;
        break;
    }
    value = value?.trim();
    return value === undefined || value === "" ? undefined : value;
  }
}

function overrideOf(compiled: CompiledConfig, reader: SourceReader, remoteAddress: string): Backend | undefined {
  if (!compiled.config.overrides.enabled) return undefined;
  for (const source of compiled.overrideSources) {
    const value = reader.read(source)?.toLowerCase();
    if (value !== "legacy" && value !== "hub") continue;
    // Checked only once a tester value is present: most handshakes carry none.
    return compiled.trusted.matches(remoteAddress) ? value : undefined;
  }
  return undefined;
}

function shadowOf(compiled: CompiledConfig, backend: Backend, sampleKey: string, options: RouteDeciderOptions): Backend | undefined {
  const target: Backend | undefined =
    backend === "legacy" ? (options.hubShadow === false ? undefined : "hub") : options.legacyShadow ? "legacy" : undefined;
  if (target === undefined || compiled.shadowThreshold === 0) return undefined;
  if (compiled.shadowThreshold >= BUCKETS) return target;
  return bucketOf(compiled.shadowSalt, sampleKey) < compiled.shadowThreshold ? target : undefined;
}

/** What every route of one decision shares. */
interface Decision {
  readonly compiled: CompiledConfig;
  readonly input: RouteInput;
  readonly options: RouteDeciderOptions;
}

/** The key a route was decided by, when one was hashed. */
interface HashedKey {
  readonly key: string;
  readonly source: string;
  readonly hash: number;
}

function route(decision: Decision, backend: Backend, reason: RouteReason, keyed?: HashedKey): Route {
  const { compiled, input, options } = decision;
  return Object.freeze({
    backend,
    shadow: shadowOf(compiled, backend, keyed?.key ?? input.remoteAddress, options),
    reason,
    bucket: keyed === undefined ? undefined : keyed.hash % BUCKETS,
    keyHash: keyed === undefined ? undefined : keyHashHex(keyed.hash),
    keySource: keyed?.source,
    configVersion: compiled.config.version,
  });
}

/**
 * Decides one session's route under `config`. `mayDefer`: at an EIO4 handshake, return a deferred
 * verdict when an `auth:` source comes before any source that yielded a key.
 */
export function decideRoute(config: RoutingConfig, input: RouteInput, options: RouteDeciderOptions, mayDefer: boolean): RouteVerdict {
  const compiled = compile(config);
  const decision: Decision = { compiled, input, options };
  const reader = new SourceReader(input);
  const forced = overrideOf(compiled, reader, input.remoteAddress);
  if (forced !== undefined) return route(decision, forced, "override");

  const eio: EngineIoRevision = input.eio ?? revisionOf(input.query.get("EIO"));
  let found: { readonly key: string; readonly source: string } | undefined;
  let reason: RouteReason = "split";
  for (const source of compiled.keySources) {
    if (source.kind === "auth") {
      if (eio === 3) continue;
      if (input.auth === undefined && mayDefer && compiled.keyMatters)
        return Object.freeze({ deferred: true, awaiting: source.spec, configVersion: config.version });
    }
    const key = reader.read(source);
    if (key !== undefined) {
      found = { key, source: source.spec };
      break;
    }
  }
  if (found === undefined) {
    const fallback = config.key.fallback;
    if (fallback !== "address" || input.remoteAddress === "") {
      return route(decision, fallback === "hub" ? "hub" : "legacy", "fallback");
    }
    found = { key: input.remoteAddress, source: "address" };
    reason = "fallback";
  }
  const key = found.key;
  const keyed: HashedKey = { ...found, hash: routingHash(config.key.salt, key) };
  if (compiled.alwaysHub.has(key)) return route(decision, "hub", "list", keyed);
  if (compiled.neverHub.has(key)) return route(decision, "legacy", "list", keyed);
  return route(decision, keyed.hash % BUCKETS < compiled.hubThreshold ? "hub" : "legacy", reason, keyed);
}

/**
 * A RouteDecider over a live config: `configOf` is read at every decision (the routing store's
 * `current()`), so a config change applies to the next handshake without any wiring.
 */
export function createRouteDecider(configOf: () => RoutingConfig, options: RouteDeciderOptions): RouteDecider {
  return Object.freeze({
    decide: (input: RouteInput): Route => decideRoute(configOf(), input, options, false) as Route,
    decideAtHandshake: (input: RouteInput): RouteVerdict => decideRoute(configOf(), input, options, true),
  });
}
