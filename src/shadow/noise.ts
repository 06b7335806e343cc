/**
 * How two deliveries of an event are compared despite noise: the event's ShadowRule (ignored dot paths
 * into the first argument, numeric tolerance, arrays compared as multisets) and the mapping of the
 * shadow's per-session socket ids onto the primary's. Pure.
 *
 * Two tools share one walk over a payload so that they always agree:
 * - `payloadKey` renders a payload as a canonical string (ignored paths left out, object keys sorted,
 *   multiset arrays sorted, Buffers by content, shadow ids mapped). Equal keys mean equal payloads, so
 *   the comparator finds a counterpart with one Map lookup; without tolerance the converse holds too.
 *   Long keys are replaced by a SHA-1 fingerprint to bound what a pending event holds and what a lookup
 *   compares; keys are memoized per argument list (a broadcast's recipients share one).
 * - `diffPayloads` walks two payloads side by side and lists where they differ (bounded), applying the
 *   tolerance; `payloadsEqual` is the same walk stopping at the first difference.
 *
 * Paths (noise-rules.ts): `ignore` and `unordered` dot paths point into the FIRST argument (`ts` is
 * `args[0].ts`); `*` matches every key or index at its level; index segments of a multiset array refer
 * to the original positions. `unordered: true` makes every array inside every argument a multiset.
 * Payloads nested deeper than MAX_DEPTH are not looked into below that depth (the packet reader refuses
 * them anyway). Object properties whose value is undefined count as absent, as in JSON.
 */
import { createHash } from "node:crypto";
import { mapped, NONE, step, terminal, type CompiledRule, type IdMap, type PathNode } from "./noise-rules.js";
import { bytesOf, INLINE_BUFFER_BYTES, kindOf, preview, stringsOf } from "./payload-values.js";

export { compileRule, IdMapping, NO_RULE, ruleFor, type CompiledRule, type IdMap } from "./noise-rules.js";
export { preview } from "./payload-values.js";

/** One place where the payloads differ. `path` is like `$[0].user.name` ($ is the argument list). */
export interface Difference {
  readonly path: string;
  /** Bounded previews (see `preview`); undefined when the side has nothing there. */
  readonly primary: unknown;
  readonly shadow: unknown;
  readonly note?: "only in primary" | "only in shadow" | "type" | "multiset";
}

export const MAX_DEPTH = 200;
export const DEFAULT_MAX_DIFFS = 20;
/** Longer keys are replaced by a SHA-1 fingerprint (with the length): 27 characters of base64 plus the length. */
const FINGERPRINT_ABOVE = 64;

/** The canonical key of one value (see the file comment). `ids` is given for shadow payloads only. */
function keyOf(
  value: unknown,
  rule: CompiledRule,
  ids: IdMap | undefined,
  ignore: readonly PathNode[],
  unordered: readonly PathNode[],
  depth: number,
): string {
  switch (kindOf(value)) {
    case "null":
      return "null";
    case "undefined":
      return "u";
    case "boolean":
    case "number":
      return String(value);
    case "string":
      return JSON.stringify(mapped(value as string, ids));
    case "buffer": {
      const bytes = bytesOf(value as ArrayBufferView);
      return bytes.length <= INLINE_BUFFER_BYTES
        ? `<${bytes.toString("base64")}>`
        : `<#${createHash("sha1").update(bytes).digest("base64")}>`;
    }
    case "other":
      return "?";
    default:
  }
  if (depth >= MAX_DEPTH) return "…";
  const tracked = ignore.length > 0 || unordered.length > 0;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      const segment = tracked ? String(i) : "";
      const childIgnore = step(ignore, segment);
      parts.push(terminal(childIgnore) ? "~" : valueKey(value[i], rule, ids, childIgnore, step(unordered, segment), depth + 1));
    }
    return `[${parts.join(",")}]`;
  }
  const object = value as Record<string, unknown>;
  const names = Object.keys(object);
  // Keys are compared after mapping; the common case (no shadow id among the keys) needs no remapping.
  let originals: Map<string, string> | undefined;
  if (ids !== undefined && names.some((name) => ids.has(name))) {
    originals = new Map(names.map((name) => [mapped(name, ids), name]));
    names.length = 0;
    names.push(...originals.keys());
  }
  names.sort();
  let out = "{";
  for (const key of names) {
    const child = object[originals === undefined ? key : (originals.get(key) as string)];
    if (child === undefined) continue;
    const childIgnore = step(ignore, key);
    if (terminal(childIgnore)) continue;
    const childKey = valueKey(child, rule, ids, childIgnore, step(unordered, key), depth + 1);
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${childKey}`;
  }
  return `${out}}`;
}

/** The elements of an array that the rule does not ignore, each with its key and its share of the paths. */
function keyedElements(
  array: readonly unknown[],
  rule: CompiledRule,
  ids: IdMap | undefined,
  ignore: readonly PathNode[],
  unordered: readonly PathNode[],
  depth: number,
): Keyed[] {
  const items: Keyed[] = [];
  for (let i = 0; i < array.length; i++) {
    const segment = String(i);
    const childIgnore = step(ignore, segment);
    if (terminal(childIgnore)) continue;
    const childUnordered = step(unordered, segment);
    items.push({
      value: array[i],
      key: valueKey(array[i], rule, ids, childIgnore, childUnordered, depth + 1),
      ignore: childIgnore,
      unordered: childUnordered,
    });
  }
  return items;
}

function multisetKey(
  array: readonly unknown[],
  rule: CompiledRule,
  ids: IdMap | undefined,
  ignore: readonly PathNode[],
  unordered: readonly PathNode[],
  depth: number,
): string {
  const keys = keyedElements(array, rule, ids, ignore, unordered, depth).map((item) => item.key);
  return `[${keys.sort().join(",")}]`;
}

/** keyOf, plus the multiset treatment when `value` itself is an array the rule makes unordered. */
function valueKey(
  value: unknown,
  rule: CompiledRule,
  ids: IdMap | undefined,
  ignore: readonly PathNode[],
  unordered: readonly PathNode[],
  depth: number,
): string {
  if (Array.isArray(value) && depth < MAX_DEPTH && (rule.unorderedEverywhere || terminal(unordered)))
    return multisetKey(value, rule, ids, ignore, unordered, depth);
  return keyOf(value, rule, ids, ignore, unordered, depth);
}

function canonicalKey(args: readonly unknown[], rule: CompiledRule, ids: IdMap | undefined): string {
  let key = "";
  for (let i = 0; i < args.length; i++) {
    // The rule's paths start at the first argument; `unordered: true` reaches every argument.
    const root = i === 0;
    key += `${i === 0 ? "" : ","}${valueKey(args[i], rule, ids, root ? rule.ignore : NONE, root ? rule.unordered : NONE, 0)}`;
  }
  // A fingerprint stands for a long key: pending events hold it, and lookups hash and compare it.
  return key.length > FINGERPRINT_ABOVE ? `#${createHash("sha1").update(key).digest("base64")}:${key.length}` : key;
}

interface KeyMemo {
  readonly rule: CompiledRule;
  readonly key: string;
  /** Every string and object key of the payload (to within MAX_DEPTH), computed when a shadow id map asks. */
  strings: ReadonlySet<string> | undefined;
}

/**
 * Keys by argument list: a broadcast's recipients share one decoded packet (frame-cache.ts), hence one
 * list, so its key is computed once per rule, not once per recipient. Argument lists are never modified.
 */
const keyMemo = new WeakMap<readonly unknown[], KeyMemo>();

/** The canonical key of an event's arguments; pass `ids` for the shadow's payloads. */
export function payloadKey(args: readonly unknown[], rule: CompiledRule, ids?: IdMap): string {
  let memo = keyMemo.get(args);
  if (memo === undefined || memo.rule !== rule) {
    memo = { rule, key: canonicalKey(args, rule, undefined), strings: undefined };
    keyMemo.set(args, memo);
  }
  if (ids === undefined) return memo.key;
  // The id map changes a key only through a string (value or object key) it maps: with none, the key stands.
  memo.strings ??= stringsOf(args, MAX_DEPTH + 2);
  for (const text of memo.strings) if (ids.has(text)) return canonicalKey(args, rule, ids);
  return memo.key;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function childPath(path: string, segment: string | number): string {
  if (typeof segment === "number") return `${path}[${segment}]`;
  return IDENTIFIER.test(segment) ? `${path}.${segment}` : `${path}[${JSON.stringify(segment)}]`;
}

class DiffWalk {
  readonly out: Difference[] = [];

  constructor(
    private readonly rule: CompiledRule,
    private readonly ids: IdMap | undefined,
    private readonly max: number,
  ) {}

  get full(): boolean {
    return this.out.length >= this.max;
  }

  add(path: string, primary: unknown, shadow: unknown, note?: Difference["note"]): void {
    if (this.full) return;
    const primaryPreview = primary === undefined ? undefined : preview(primary);
    const shadowPreview = shadow === undefined ? undefined : preview(shadow);
    this.out.push(
      note === undefined
        ? { path, primary: primaryPreview, shadow: shadowPreview }
        : { path, primary: primaryPreview, shadow: shadowPreview, note },
    );
  }

  value(p: unknown, s: unknown, path: string, ignore: readonly PathNode[], unordered: readonly PathNode[], depth: number): void {
    if (this.full) return;
    const kind = kindOf(p);
    if (kind !== kindOf(s)) return this.add(path, p, s, "type");
    // As in keyOf: containers this deep are not looked into.
    if (depth >= MAX_DEPTH && (kind === "array" || kind === "object")) return;
    switch (kind) {
      case "number":
        if (p !== s && !Object.is(p, s) && !(Math.abs((p as number) - (s as number)) <= this.rule.tolerance)) this.add(path, p, s);
        return;
      case "string":
        if (p !== mapped(s as string, this.ids)) this.add(path, p, s);
        return;
      case "buffer":
        if (!bytesOf(p as ArrayBufferView).equals(bytesOf(s as ArrayBufferView))) this.add(path, p, s);
        return;
      case "array":
        if (this.rule.unorderedEverywhere || terminal(unordered))
          return this.multiset(p as unknown[], s as unknown[], path, ignore, unordered, depth);
        return this.array(p as unknown[], s as unknown[], path, ignore, unordered, depth);
      case "object":
        return this.object(p as Record<string, unknown>, s as Record<string, unknown>, path, ignore, unordered, depth);
      case "other":
        return;
      default:
        if (p !== s) this.add(path, p, s);
    }
  }

  private array(
    p: unknown[],
    s: unknown[],
    path: string,
    ignore: readonly PathNode[],
    unordered: readonly PathNode[],
    depth: number,
  ): void {
    const tracked = ignore.length > 0 || unordered.length > 0;
    for (let i = 0; i < Math.max(p.length, s.length) && !this.full; i++) {
      // A length difference counts even at an ignored index, as in the key ("~" keeps the position).
      if (i >= s.length) this.add(childPath(path, i), p[i], undefined, "only in primary");
      else if (i >= p.length) this.add(childPath(path, i), undefined, s[i], "only in shadow");
      else {
        const segment = tracked ? String(i) : "";
        const childIgnore = step(ignore, segment);
        if (!terminal(childIgnore)) this.value(p[i], s[i], childPath(path, i), childIgnore, step(unordered, segment), depth + 1);
      }
    }
  }

  private object(
    p: Record<string, unknown>,
    s: Record<string, unknown>,
    path: string,
    ignore: readonly PathNode[],
    unordered: readonly PathNode[],
    depth: number,
  ): void {
    const shadowByKey = new Map<string, unknown>();
    for (const key of Object.keys(s)) if (s[key] !== undefined) shadowByKey.set(mapped(key, this.ids), s[key]);
    const seen = new Set<string>();
    for (const key of Object.keys(p)) {
      if (this.full) return;
      const pv = p[key];
      if (pv === undefined) continue;
      seen.add(key);
      const childIgnore = step(ignore, key);
      if (terminal(childIgnore)) continue;
      if (!shadowByKey.has(key)) this.add(childPath(path, key), pv, undefined, "only in primary");
      else this.value(pv, shadowByKey.get(key), childPath(path, key), childIgnore, step(unordered, key), depth + 1);
    }
    for (const [key, sv] of shadowByKey) {
      if (this.full) return;
      if (!seen.has(key) && !terminal(step(ignore, key))) this.add(childPath(path, key), undefined, sv, "only in shadow");
    }
  }

  /** Exact multiset difference by key, then (with a tolerance) the leftovers paired in sorted order. */
  private multiset(
    p: unknown[],
    s: unknown[],
    path: string,
    ignore: readonly PathNode[],
    unordered: readonly PathNode[],
    depth: number,
  ): void {
    const left = keyedElements(p, this.rule, undefined, ignore, unordered, depth);
    const right = keyedElements(s, this.rule, this.ids, ignore, unordered, depth);
    const counts = new Map<string, number>();
    for (const item of right) counts.set(item.key, (counts.get(item.key) ?? 0) + 1);
    const onlyPrimary = left.filter((item) => {
      const count = counts.get(item.key) ?? 0;
      if (count === 0) return true;
      counts.set(item.key, count - 1);
      return false;
    });
    const onlyShadow = right.filter((item) => {
      const count = counts.get(item.key) ?? 0;
      if (count === 0) return false;
      counts.set(item.key, count - 1);
      return true;
    });
    if (onlyPrimary.length === 0 && onlyShadow.length === 0) return;
    if (this.rule.tolerance > 0 && onlyPrimary.length === onlyShadow.length) {
      onlyPrimary.sort(compareLoosely);
      onlyShadow.sort(compareLoosely);
      if (onlyPrimary.every((item, i) => payloadsEqualAt(item, onlyShadow[i] as Keyed, this.rule, this.ids, depth))) return;
    }
    this.add(
      path,
      onlyPrimary.map((item) => item.value),
      onlyShadow.map((item) => item.value),
      "multiset",
    );
  }
}

interface Keyed {
  readonly value: unknown;
  readonly key: string;
  readonly ignore: readonly PathNode[];
  readonly unordered: readonly PathNode[];
}

/** Numbers by value first (so that near numbers pair up under a tolerance), then everything by key. */
function compareLoosely(a: Keyed, b: Keyed): number {
  const an = typeof a.value === "number";
  const bn = typeof b.value === "number";
  if (an && bn) return (a.value as number) - (b.value as number);
  if (an !== bn) return an ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function payloadsEqualAt(p: Keyed, s: Keyed, rule: CompiledRule, ids: IdMap | undefined, depth: number): boolean {
  const walk = new DiffWalk(rule, ids, 1);
  walk.value(p.value, s.value, "", p.ignore, p.unordered, depth + 1);
  return walk.out.length === 0;
}

/** Where two argument lists differ under the rule, at most `max` places. `ids` maps the shadow's ids. */
export function diffPayloads(
  primary: readonly unknown[],
  shadow: readonly unknown[],
  rule: CompiledRule,
  ids?: IdMap,
  max = DEFAULT_MAX_DIFFS,
): Difference[] {
  const walk = new DiffWalk(rule, ids, Math.max(1, max));
  for (let i = 0; i < Math.max(primary.length, shadow.length) && !walk.full; i++) {
    const path = `$[${i}]`;
    if (i >= shadow.length) walk.add(path, primary[i], undefined, "only in primary");
    else if (i >= primary.length) walk.add(path, undefined, shadow[i], "only in shadow");
    else walk.value(primary[i], shadow[i], path, i === 0 ? rule.ignore : NONE, i === 0 ? rule.unordered : NONE, 0);
  }
  return walk.out;
}

/** True when the two argument lists are equal under the rule (tolerance included). */
export function payloadsEqual(primary: readonly unknown[], shadow: readonly unknown[], rule: CompiledRule, ids?: IdMap): boolean {
  return diffPayloads(primary, shadow, rule, ids, 1).length === 0;
}
