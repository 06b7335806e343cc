/**
 * The routing configuration: one JSON document, versioned by the routing store, changed at run time
 * through the admin API. This module holds its type, named defaults, a pure validator (every problem
 * names its JSON path; unknown keys are refused) and helpers. Omitted optional sections take defaults.
 *
 *   {
 *     "version": 7,                         // assigned by the store; a PUT names the version it read in If-Match
 *     "hubPercent": 30,                     // 0-100, two decimals; bucket < hubPercent × 100 → hub
 *     "key": {
 *       "sources": ["query:userId", "header:x-user-id", "cookie:uid", "auth:userId", "address"],
 *       "fallback": "address",              // no source yielded a key: "address" (hash the client address),
 *                                           // "legacy" or "hub" (every keyless session there)
 *       "salt": "switchyard-v1"             // part of the hash input; changing it reshuffles everyone
 *     },
 *     "overrides": {                        // testers forcing a backend, value "legacy" or "hub"
 *       "enabled": false,
 *       "sources": ["header:x-switchyard-backend", "cookie:switchyard-backend", "query:switchyard-backend"],
 *       "trustedNetworks": ["127.0.0.0/8", "::1/128"]   // honoured only from these client addresses
 *     },
 *     "lists": { "alwaysHub": ["alice"], "neverHub": ["bob"] },  // keys pinned regardless of the split
 *     "shadow": { ... }                     // see shadow-config.ts
 *   }
 *
 * Key sources, tried in order: `query:<param>`, `header:<name>` (case-insensitive), `cookie:<name>`,
 * `auth:<field or dot path>` (the auth payload of the first CONNECT; Engine.IO v4 clients only) and
 * `address` (the client address).
 */
import { SwitchyardError } from "../errors.js";
import { parseNetwork } from "../routing/networks.js";
import { Problems, array, boolean, deepFreeze, describe, integer, join, noDuplicates, object, percent, string } from "./config-checks.js";
import { SHADOW_DEFAULTS, parseDotPath, validateShadowConfig, type ShadowConfig } from "./shadow-config.js";
import { isActive } from "../rollout/decision.js";
import { validateRolloutSection, type RolloutSection } from "../rollout/rollout-section.js";

export type { ShadowConfig, ShadowRule } from "./shadow-config.js";

export type KeyFallback = "address" | "legacy" | "hub";
export type KeySourceKind = "query" | "header" | "cookie" | "auth" | "address";

export interface KeySource {
  readonly kind: KeySourceKind;
  /** Parameter, header (lower case), cookie name or auth dot path; "" for `address`. */
  readonly name: string;
  /** As written, e.g. "query:userId": safe for logs and metric labels (it names a source, not a key). */
  readonly spec: string;
}

export interface RoutingConfig {
  readonly version: number;
  readonly hubPercent: number;
  readonly key: { readonly sources: readonly string[]; readonly fallback: KeyFallback; readonly salt: string };
  readonly overrides: { readonly enabled: boolean; readonly sources: readonly string[]; readonly trustedNetworks: readonly string[] };
  readonly lists: { readonly alwaysHub: readonly string[]; readonly neverHub: readonly string[] };
  readonly shadow: ShadowConfig;
  /** A progressive rollout's plan and state (src/rollout/); absent when none was ever started. */
  readonly rollout?: RolloutSection;
}

export type RoutingConfigResult =
  | { readonly ok: true; readonly config: RoutingConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

export const DEFAULT_KEY_SOURCES: readonly string[] = Object.freeze(["query:userId", "header:x-user-id", "cookie:uid", "auth:userId"]);
export const DEFAULT_SALT = "switchyard-v1";
export const DEFAULT_OVERRIDE_SOURCES: readonly string[] = Object.freeze([
  "header:x-switchyard-backend",
  "cookie:switchyard-backend",
  "query:switchyard-backend",
]);
export const DEFAULT_TRUSTED_NETWORKS: readonly string[] = Object.freeze(["127.0.0.0/8", "::1/128"]);

/** Everything on legacy: what an instance routes on before any document was stored. */
export const DEFAULT_ROUTING_CONFIG: RoutingConfig = deepFreeze({
  version: 0,
  hubPercent: 0,
  key: { sources: [...DEFAULT_KEY_SOURCES], fallback: "address", salt: DEFAULT_SALT },
  overrides: { enabled: false, sources: [...DEFAULT_OVERRIDE_SOURCES], trustedNetworks: [...DEFAULT_TRUSTED_NETWORKS] },
  lists: { alwaysHub: [], neverHub: [] },
  shadow: SHADOW_DEFAULTS,
});

const TOP_KEYS = ["version", "hubPercent", "key", "overrides", "lists", "shadow", "rollout"] as const;
const KEY_KEYS = ["sources", "fallback", "salt"] as const;
const OVERRIDE_KEYS = ["enabled", "sources", "trustedNetworks"] as const;
const LIST_KEYS = ["alwaysHub", "neverHub"] as const;
const FALLBACKS: readonly KeyFallback[] = ["address", "legacy", "hub"];
const MAX_SOURCES = 16;
const MAX_NETWORKS = 1000;
const MAX_LIST_ENTRIES = 10_000;
const MAX_KEY_LENGTH = 512;
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses one source spec; returns a reason when it is not one of `allowed`. */
export function parseKeySource(spec: string, allowed: readonly KeySourceKind[]): KeySource | string {
  if (spec === "address") return allowed.includes("address") ? { kind: "address", name: "", spec } : `"address" is not allowed here`;
  const colon = spec.indexOf(":");
  const kind = spec.slice(0, colon) as KeySourceKind;
  const name = spec.slice(colon + 1);
  const written = allowed.map((k) => (k === "address" ? "address" : `${k}:<name>`)).join(", ");
  if (colon < 1 || !allowed.includes(kind) || kind === "address") return `must be one of ${written} (got ${JSON.stringify(spec)})`;
  if (name.length === 0 || name.length > 128) return `the name after "${kind}:" must be 1-128 characters`;
  if (kind === "header" && !HTTP_TOKEN.test(name)) return `"${name}" is not a valid header name`;
  if (kind === "cookie" && !HTTP_TOKEN.test(name)) return `"${name}" is not a valid cookie name`;
  if (kind === "auth" && parseDotPath(name) === undefined) return `"${name}" is not a dot path into the auth payload`;
  return { kind, name: kind === "header" ? name.toLowerCase() : name, spec };
}

function sources(value: unknown, path: string, allowed: readonly KeySourceKind[], problems: Problems): string[] | undefined {
  const list = array(value, path, MAX_SOURCES, problems, (item, itemPath) => {
    const spec = string(item, itemPath, 1, 200, problems);
    if (spec === undefined) return undefined;
    const parsed = parseKeySource(spec, allowed);
    return typeof parsed === "string" ? problems.add(itemPath, parsed) : spec;
  });
  noDuplicates(value, path, problems, (item) =>
    typeof item !== "string" ? undefined : item.startsWith("header:") ? item.toLowerCase() : item,
  );
  return list;
}

function keySection(value: unknown, problems: Problems): RoutingConfig["key"] | undefined {
  const defaults = DEFAULT_ROUTING_CONFIG.key;
  if (value === undefined) return defaults;
  const raw = object(value, "key", KEY_KEYS, problems);
  if (raw === undefined) return undefined;
  const list =
    raw.sources === undefined
      ? [...defaults.sources]
      : sources(raw.sources, "key.sources", ["query", "header", "cookie", "auth", "address"], problems);
  let fallback: KeyFallback | undefined = defaults.fallback;
  if (raw.fallback !== undefined) {
    fallback = FALLBACKS.includes(raw.fallback as KeyFallback)
      ? (raw.fallback as KeyFallback)
      : problems.add("key.fallback", `must be one of ${FALLBACKS.join(", ")} (got ${describe(raw.fallback)})`);
  }
  const salt = raw.salt === undefined ? defaults.salt : string(raw.salt, "key.salt", 0, 256, problems);
  if (list === undefined || fallback === undefined || salt === undefined) return undefined;
  return { sources: list, fallback, salt };
}

function overridesSection(value: unknown, problems: Problems): RoutingConfig["overrides"] | undefined {
  const defaults = DEFAULT_ROUTING_CONFIG.overrides;
  if (value === undefined) return defaults;
  const raw = object(value, "overrides", OVERRIDE_KEYS, problems);
  if (raw === undefined) return undefined;
  const enabled = raw.enabled === undefined ? defaults.enabled : boolean(raw.enabled, "overrides.enabled", problems);
  const list =
    raw.sources === undefined ? [...defaults.sources] : sources(raw.sources, "overrides.sources", ["query", "header", "cookie"], problems);
  const networks =
    raw.trustedNetworks === undefined
      ? [...defaults.trustedNetworks]
      : array(raw.trustedNetworks, "overrides.trustedNetworks", MAX_NETWORKS, problems, (item, itemPath) => {
          const network = typeof item === "string" ? parseNetwork(item) : `must be a CIDR string (got ${describe(item)})`;
          return typeof network === "string" ? problems.add(itemPath, network) : (item as string);
        });
  if (enabled === undefined || list === undefined || networks === undefined) return undefined;
  return { enabled, sources: list, trustedNetworks: networks };
}

function listsSection(value: unknown, problems: Problems): RoutingConfig["lists"] | undefined {
  if (value === undefined) return DEFAULT_ROUTING_CONFIG.lists;
  const raw = object(value, "lists", LIST_KEYS, problems);
  if (raw === undefined) return undefined;
  const keys = (field: "alwaysHub" | "neverHub"): string[] | undefined => {
    if (raw[field] === undefined) return [];
    const list = array(raw[field], `lists.${field}`, MAX_LIST_ENTRIES, problems, (item, itemPath) =>
      string(item, itemPath, 1, MAX_KEY_LENGTH, problems),
    );
    noDuplicates(raw[field], `lists.${field}`, problems);
    return list;
  };
  const alwaysHub = keys("alwaysHub");
  const neverHub = keys("neverHub");
  if (alwaysHub === undefined || neverHub === undefined) return undefined;
  const onHub = new Set(alwaysHub);
  neverHub.forEach((key, index) => {
    if (onHub.has(key)) problems.add(join("lists.neverHub", index), `${JSON.stringify(key)} is also in lists.alwaysHub`);
  });
  return { alwaysHub, neverHub };
}

/** Validates a routing document. Pure: returns the deep-frozen config or every problem found. */
export function validateRoutingConfig(input: unknown): RoutingConfigResult {
  const problems = new Problems();
  const raw = object(input, "", TOP_KEYS, problems);
  if (raw === undefined) return { ok: false, problems: Object.freeze(problems.list) };
  const version = raw.version === undefined ? 0 : integer(raw.version, "version", 0, Number.MAX_SAFE_INTEGER, problems);
  const hubPercent =
    raw.hubPercent === undefined
      ? problems.add("hubPercent", "is required (a number 0-100 with at most two decimals)")
      : percent(raw.hubPercent, "hubPercent", problems);
  const key = keySection(raw.key, problems);
  const overrides = overridesSection(raw.overrides, problems);
  const lists = listsSection(raw.lists, problems);
  const shadow = validateShadowConfig(raw.shadow, "shadow", problems);
  const rollout = raw.rollout === undefined || raw.rollout === null ? undefined : validateRolloutSection(raw.rollout, "rollout", problems);
  if (rollout !== undefined && hubPercent !== undefined && isActive(rollout.state) && rollout.state.weight !== hubPercent) {
    // While a rollout runs, it owns the split: a hand-made change would be undone at its next step.
    problems.add(
      "hubPercent",
      `a rollout is ${rollout.state.phase} at ${rollout.state.weight}%: pause, promote or abort it to change the split`,
    );
  }
  if (
    !problems.empty ||
    version === undefined ||
    hubPercent === undefined ||
    key === undefined ||
    overrides === undefined ||
    lists === undefined ||
    shadow === undefined
  ) {
    return { ok: false, problems: Object.freeze(problems.list) };
  }
  // A fresh copy: the frozen config shares nothing with the caller's objects.
  const config: RoutingConfig = structuredClone({ version, hubPercent, key, overrides, lists, shadow, ...(rollout ? { rollout } : {}) });
  return { ok: true, config: deepFreeze(config) };
}

/** A SWY_ERR_ROUTING_INVALID error that keeps the list of problems for API answers. */
export class RoutingConfigError extends SwitchyardError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super("SWY_ERR_ROUTING_INVALID", problems.join("; "));
    this.problems = problems;
  }
}

/** Validates or throws RoutingConfigError. */
export function routingConfigOrThrow(input: unknown): RoutingConfig {
  const result = validateRoutingConfig(input);
  if (!result.ok) throw new RoutingConfigError(result.problems);
  return result.config;
}

/** Parses JSON text (ROUTING_CONFIG, stored documents) and validates it. */
export function parseRoutingConfig(text: string): RoutingConfigResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`(document): not valid JSON (${(error as Error).message})`] };
  }
  return validateRoutingConfig(parsed);
}

/** The same config with another hub share (validated: throws RoutingConfigError when out of range). */
export function withHubPercent(config: RoutingConfig, hubPercent: number): RoutingConfig {
  return routingConfigOrThrow({ ...config, hubPercent });
}

/** Sessions whose bucket is below this go to the hub: hubPercent in basis points (0..10000). */
export function hubThresholdOf(config: RoutingConfig): number {
  return Math.round(config.hubPercent * 100);
}

function summarize(value: unknown): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** What changed between two configs, one line per changed leaf ("hubPercent: 10 → 30"), version excluded. */
export function diffRoutingConfigs(before: RoutingConfig, after: RoutingConfig): string[] {
  const changes: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    const aIsObject = a !== null && typeof a === "object" && !Array.isArray(a);
    const bIsObject = b !== null && typeof b === "object" && !Array.isArray(b);
    if (aIsObject && bIsObject) {
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const key of keys) {
        if (path === "" && key === "version") continue;
        walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], join(path, key));
      }
      return;
    }
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    if (Array.isArray(a) && Array.isArray(b) && (a.length > 10 || b.length > 10)) {
      const inA = new Set(a.map((item) => JSON.stringify(item)));
      const inB = new Set(b.map((item) => JSON.stringify(item)));
      const added = [...inB].filter((item) => !inA.has(item)).length;
      const removed = [...inA].filter((item) => !inB.has(item)).length;
      changes.push(`${path}: ${a.length} → ${b.length} entries (+${added} −${removed})`);
      return;
    }
    changes.push(`${path}: ${summarize(a)} → ${summarize(b)}`);
  };
  walk(before, after, "");
  return changes;
}
