/**
 * The compiled form of a ShadowRule (noise.ts applies it) and the shadow→primary socket-id mapping.
 *
 * Paths: `ignore` and `unordered` dot paths point into the FIRST argument (`ts` is `args[0].ts`);
 * `*` matches every key or index at its level. They are compiled into a trie walked alongside the
 * payload: at each step the set of trie nodes reached (usually zero or one) says whether the value
 * there is ignored or is a multiset array.
 */
import { ANY_EVENT, parseDotPath, shadowRuleFor, type ShadowConfig, type ShadowRule } from "../config/shadow-config.js";

export interface PathNode {
  terminal: boolean;
  readonly children: Map<string, PathNode>;
  wildcard: PathNode | undefined;
  /** `[this]`, kept to avoid allocating it on every step. */
  readonly alone: readonly PathNode[];
}

export interface CompiledRule {
  readonly source: ShadowRule | undefined;
  readonly ignore: readonly PathNode[];
  readonly unordered: readonly PathNode[];
  readonly unorderedEverywhere: boolean;
  readonly tolerance: number;
}

/** Shadow string → primary string, built by IdMapping. */
export type IdMap = ReadonlyMap<string, string>;

export const NONE: readonly PathNode[] = [];
const MAX_ID_MAPPINGS = 256;
const PSEUDO_EVENTS = new Set(["$connect", "$connect_error", "$disconnect"]);

function node(): PathNode {
  const created: PathNode = { terminal: false, children: new Map(), wildcard: undefined, alone: [] };
  (created as { alone: readonly PathNode[] }).alone = [created];
  return created;
}

function trie(paths: readonly string[]): readonly PathNode[] {
  if (paths.length === 0) return NONE;
  const root = node();
  for (const path of paths) {
    let at = root;
    for (const segment of parseDotPath(path) ?? []) {
      if (segment === "*") at = at.wildcard ??= node();
      else {
        let next = at.children.get(segment);
        if (next === undefined) {
          next = node();
          at.children.set(segment, next);
        }
        at = next;
      }
    }
    if (at !== root) at.terminal = true;
  }
  return root.alone;
}

export const NO_RULE: CompiledRule = Object.freeze({
  source: undefined,
  ignore: NONE,
  unordered: NONE,
  unorderedEverywhere: false,
  tolerance: 0,
});

const compiled = new WeakMap<ShadowRule, CompiledRule>();

export function compileRule(rule: ShadowRule | undefined): CompiledRule {
  if (rule === undefined) return NO_RULE;
  let result = compiled.get(rule);
  if (result === undefined) {
    result = {
      source: rule,
      ignore: trie(rule.ignore),
      unordered: Array.isArray(rule.unordered) ? trie(rule.unordered) : NONE,
      unorderedEverywhere: rule.unordered === true,
      tolerance: rule.tolerance,
    };
    compiled.set(rule, result);
  }
  return result;
}

const MAX_CACHED_NAMES = 4096;
const ruleCache = new WeakMap<ShadowConfig, Map<string, CompiledRule>>();

/**
 * The compiled rule for an event under a config, cached per config object (a new config object, as a
 * routing-config change produces, starts a new cache: that is how rule changes apply live). The
 * lifecycle pseudo-events ($connect...) only take a rule naming them, never the "*" rule.
 */
export function ruleFor(config: ShadowConfig, nsp: string, event: string): CompiledRule {
  if (config.rules.length === 0) return NO_RULE;
  let cache = ruleCache.get(config);
  if (cache === undefined) {
    cache = new Map();
    ruleCache.set(config, cache);
  }
  const cacheKey = `${nsp}\u0000${event}`;
  let result = cache.get(cacheKey);
  if (result === undefined) {
    const rule = shadowRuleFor(config, nsp, event);
    result = rule !== undefined && rule.event === ANY_EVENT && PSEUDO_EVENTS.has(event) ? NO_RULE : compileRule(rule);
    if (cache.size >= MAX_CACHED_NAMES) cache.clear();
    cache.set(cacheKey, result);
  }
  return result;
}

/** Namespaces whose socket ids one session learns (a session connecting namespaces forever must not grow it). */
const MAX_LEARNT_NAMESPACES = 64;

/** The shadow's socket ids → the primary's, per namespace, as learnt from each side's CONNECT. */
export class IdMapping {
  private readonly entries = new Map<string, string>();
  /** Per namespace, the socket id each side's CONNECT announced: [primary, shadow]. */
  private readonly announced = new Map<string, [string | undefined, string | undefined]>();
  /** Changes whenever a mapping is added, so that keys computed before can be recomputed. */
  version = 0;

  get map(): IdMap | undefined {
    return this.entries.size === 0 ? undefined : this.entries;
  }

  /** Shadow strings equal to `shadowId` or `${nsp}#${shadowId}` then compare as the primary's. */
  set(nsp: string, primaryId: string, shadowId: string): void {
    if (primaryId === shadowId || primaryId === "" || shadowId === "") return;
    const qualified = `${nsp}#${shadowId}`;
    if (this.entries.get(shadowId) === primaryId && this.entries.has(qualified)) return;
    // Bounded: a session reconnecting namespaces over and over must not grow it forever.
    if (this.entries.size >= MAX_ID_MAPPINGS) return;
    this.entries.set(shadowId, primaryId);
    this.entries.set(qualified, `${nsp}#${primaryId}`);
    this.version++;
  }

  /** One side's CONNECT in `nsp` announced `sid` (side 0: primary, 1: shadow); once both did, they map. */
  learn(side: 0 | 1, nsp: string, sid: string): void {
    let known = this.announced.get(nsp);
    if (known === undefined) {
      if (this.announced.size >= MAX_LEARNT_NAMESPACES) return;
      known = [undefined, undefined];
      this.announced.set(nsp, known);
    }
    known[side] = sid;
    if (known[0] !== undefined && known[1] !== undefined) this.set(nsp, known[0], known[1]);
  }
}

export function step(nodes: readonly PathNode[], segment: string): readonly PathNode[] {
  if (nodes.length === 0) return NONE;
  if (nodes.length === 1) {
    const only = nodes[0] as PathNode;
    const child = only.children.get(segment);
    const wildcard = only.wildcard;
    if (child === undefined) return wildcard === undefined ? NONE : wildcard.alone;
    return wildcard === undefined ? child.alone : [child, wildcard];
  }
  const next: PathNode[] = [];
  for (const at of nodes) {
    const child = at.children.get(segment);
    if (child !== undefined) next.push(child);
    if (at.wildcard !== undefined) next.push(at.wildcard);
  }
  return next;
}

export function terminal(nodes: readonly PathNode[]): boolean {
  for (const at of nodes) if (at.terminal) return true;
  return false;
}

export function mapped(value: string, ids: IdMap | undefined): string {
  return ids === undefined ? value : (ids.get(value) ?? value);
}
