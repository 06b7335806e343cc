/**
 * The `shadow` section of the routing config: which share of sessions is mirrored to the other backend
 * and how their events are compared. Validated here so that a document accepted now keeps working when
 * the shadowing feature reads it.
 *
 *   "shadow": {
 *     "percent": 100,          // 0-100, two decimals; sticky sampling by the routing key
 *     "windowMs": 5000,        // how long an event waits for its counterpart before it counts as missing
 *     "maxPending": 10000,     // comparisons waiting at once, per instance; beyond it events are not compared
 *     "rules": [{
 *       "event": "msg",        // an event name, or "*" for every event without a rule of its own
 *       "namespace": "/chat",  // optional; omitted = every namespace
 *       "ignore": ["ts", "user.lastSeen", "items.*.id"],   // dot paths into the event's first argument
 *       "tolerance": 0.001,    // numbers compare equal when |a - b| <= tolerance (default 0)
 *       "unordered": ["members"] // arrays compared as multisets: a list of dot paths, or true for every
 *     }]                          // array in the argument, or false (default: order matters)
 *   }
 *
 * Dot paths: segments separated by ".", each a property name or array index; "*" matches every key or
 * index at its level. The empty path is not allowed (to ignore the whole argument, don't shadow the event).
 */
import { type Problems, array, deepFreeze, integer, join, noDuplicates, object, percent, string } from "./config-checks.js";

export interface ShadowRule {
  readonly event: string;
  /** Undefined: the rule applies in every namespace. */
  readonly namespace?: string;
  readonly ignore: readonly string[];
  readonly tolerance: number;
  /** true: every array is compared as a multiset; a list: only the arrays at those paths. */
  readonly unordered: boolean | readonly string[];
}

export interface ShadowConfig {
  readonly percent: number;
  readonly windowMs: number;
  readonly maxPending: number;
  readonly rules: readonly ShadowRule[];
}

export const SHADOW_DEFAULTS: ShadowConfig = deepFreeze({ percent: 0, windowMs: 5000, maxPending: 10_000, rules: [] });

export const ANY_EVENT = "*";
const MAX_RULES = 1000;
const MAX_PATHS = 100;
const MAX_WINDOW_MS = 600_000;
const MAX_PENDING = 1_000_000;
const SHADOW_KEYS = ["percent", "windowMs", "maxPending", "rules"] as const;
const RULE_KEYS = ["event", "namespace", "ignore", "tolerance", "unordered"] as const;

/** Splits a dot path into segments; undefined when it is malformed. */
export function parseDotPath(path: string): string[] | undefined {
  if (path === "") return undefined;
  const segments = path.split(".");
  return segments.every((segment) => segment.length > 0) ? segments : undefined;
}

function dotPath(value: unknown, path: string, problems: Problems): string | undefined {
  const text = string(value, path, 1, 256, problems);
  if (text === undefined) return undefined;
  if (parseDotPath(text) === undefined)
    return problems.add(path, `must be a dot path such as "user.lastSeen" or "items.*.id" (got ${JSON.stringify(text)})`);
  return text;
}

function paths(value: unknown, path: string, problems: Problems): string[] | undefined {
  const list = array(value, path, MAX_PATHS, problems, (item, itemPath) => dotPath(item, itemPath, problems));
  noDuplicates(value, path, problems);
  return list;
}

function rule(value: unknown, path: string, problems: Problems): ShadowRule | undefined {
  const raw = object(value, path, RULE_KEYS, problems);
  if (raw === undefined) return undefined;
  const before = problems.list.length;
  const event = string(raw.event, join(path, "event"), 1, 256, problems);
  let namespace: string | undefined;
  if (raw.namespace !== undefined) {
    namespace = string(raw.namespace, join(path, "namespace"), 1, 256, problems);
    if (namespace !== undefined && !namespace.startsWith("/"))
      namespace = problems.add(join(path, "namespace"), `must start with "/" (got ${JSON.stringify(namespace)})`);
  }
  const ignore = raw.ignore === undefined ? [] : paths(raw.ignore, join(path, "ignore"), problems);
  let tolerance: number | undefined = 0;
  if (raw.tolerance !== undefined) {
    tolerance =
      typeof raw.tolerance === "number" && Number.isFinite(raw.tolerance) && raw.tolerance >= 0
        ? raw.tolerance
        : problems.add(join(path, "tolerance"), "must be a number >= 0");
  }
  let unordered: boolean | string[] | undefined = false;
  if (raw.unordered !== undefined) {
    unordered =
      typeof raw.unordered === "boolean"
        ? raw.unordered
        : Array.isArray(raw.unordered)
          ? paths(raw.unordered, join(path, "unordered"), problems)
          : problems.add(join(path, "unordered"), "must be true, false or a list of dot paths");
  }
  if (problems.list.length > before || event === undefined || ignore === undefined || tolerance === undefined || unordered === undefined)
    return undefined;
  return namespace === undefined ? { event, ignore, tolerance, unordered } : { event, namespace, ignore, tolerance, unordered };
}

/** Validates the `shadow` section (`path` is its JSON path); omitted fields take SHADOW_DEFAULTS. */
export function validateShadowConfig(value: unknown, path: string, problems: Problems): ShadowConfig | undefined {
  if (value === undefined) return SHADOW_DEFAULTS;
  const raw = object(value, path, SHADOW_KEYS, problems);
  if (raw === undefined) return undefined;
  const shadowPercent = raw.percent === undefined ? SHADOW_DEFAULTS.percent : percent(raw.percent, join(path, "percent"), problems);
  const windowMs =
    raw.windowMs === undefined ? SHADOW_DEFAULTS.windowMs : integer(raw.windowMs, join(path, "windowMs"), 1, MAX_WINDOW_MS, problems);
  const maxPending =
    raw.maxPending === undefined ? SHADOW_DEFAULTS.maxPending : integer(raw.maxPending, join(path, "maxPending"), 1, MAX_PENDING, problems);
  const rules =
    raw.rules === undefined
      ? []
      : array(raw.rules, join(path, "rules"), MAX_RULES, problems, (item, itemPath) => rule(item, itemPath, problems));
  noDuplicates(raw.rules, join(path, "rules"), problems, (item) => {
    const candidate = item as Partial<ShadowRule> | null;
    return candidate !== null && typeof candidate === "object" && typeof candidate.event === "string"
      ? `${String(candidate.namespace ?? "*")} ${candidate.event}`
      : undefined;
  });
  if (shadowPercent === undefined || windowMs === undefined || maxPending === undefined || rules === undefined) return undefined;
  return { percent: shadowPercent, windowMs, maxPending, rules };
}

/** The rule for an event: the namespace-specific one first, then the any-namespace one, then "*". */
export function shadowRuleFor(config: ShadowConfig, namespace: string, event: string): ShadowRule | undefined {
  let fallback: ShadowRule | undefined;
  let wildcard: ShadowRule | undefined;
  for (const candidate of config.rules) {
    if (candidate.event === event) {
      if (candidate.namespace === namespace) return candidate;
      if (candidate.namespace === undefined) fallback ??= candidate;
    } else if (candidate.event === ANY_EVENT && (candidate.namespace === undefined || candidate.namespace === namespace)) {
      wildcard ??= candidate;
    }
  }
  return fallback ?? wildcard;
}
