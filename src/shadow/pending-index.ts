/**
 * The data structures behind SessionComparator: pending deliveries in arrival order, and per
 * namespace+event buckets indexing them by canonical payload key. Removal is lazy (a resolved item is
 * flagged and skipped), so every operation on the common path is O(1) amortized.
 */
import type { ShadowConfig } from "../config/shadow-config.js";
import { NO_RULE, type CompiledRule } from "./noise-rules.js";
import type { ComparisonKind, ShadowSide } from "./outcome.js";

export const PRIMARY = 0;
export const SHADOW = 1;
export type SideIndex = typeof PRIMARY | typeof SHADOW;

export const SIDE_NAMES: readonly [ShadowSide, ShadowSide] = ["primary", "shadow"];

/** One delivery waiting for its counterpart. */
export interface PendingItem {
  readonly side: SideIndex;
  readonly kind: ComparisonKind;
  readonly nsp: string;
  readonly event: string;
  readonly args: readonly unknown[];
  readonly at: number;
  /** Arrival order among the side's events (for reordering). */
  readonly seq: number;
  /** Canonical payload key under the bucket's current rule (events only). */
  key: string;
  resolved: boolean;
  readonly bucket: Bucket | undefined;
  readonly ackId: number | undefined;
  /** The event's window has passed but it waits for an event of the other side (see expireEvent). */
  held: boolean;
  /** A shadow delivery that came after the client left: it may pair, but alone it is no `extra`. */
  readonly orphan: boolean;
}

/** A FIFO of pending items in arrival order that skips resolved items. */
export class PendingQueue {
  private items: PendingItem[] = [];
  private head = 0;

  push(item: PendingItem): void {
    this.items.push(item);
  }

  /** The oldest unresolved item. */
  front(): PendingItem | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head] as PendingItem;
      if (!item.resolved) return item;
      this.head++;
    }
    this.compact();
    return undefined;
  }

  /** Removes the front item (call after front() returned it). */
  shift(): void {
    this.head++;
    this.compact();
  }

  unresolved(): PendingItem[] {
    const out: PendingItem[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as PendingItem;
      if (!item.resolved) out.push(item);
    }
    return out;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** Pending events of one namespace+event name, on both sides. */
export class Bucket {
  /** The config and id-mapping version the keys were computed under. */
  config: ShadowConfig | undefined;
  mappingVersion = -1;
  rule: CompiledRule = NO_RULE;
  readonly queues: readonly [PendingQueue, PendingQueue] = [new PendingQueue(), new PendingQueue()];
  readonly byKey: readonly [Map<string, PendingItem[]>, Map<string, PendingItem[]>] = [new Map(), new Map()];
  readonly live: [number, number] = [0, 0];

  constructor(
    readonly nsp: string,
    readonly event: string,
  ) {}

  get empty(): boolean {
    return this.live[PRIMARY] === 0 && this.live[SHADOW] === 0;
  }

  add(item: PendingItem): void {
    this.queues[item.side].push(item);
    this.index(item);
    this.live[item.side]++;
  }

  /** The oldest unresolved item of a side whose key is `key`. */
  firstWithKey(side: SideIndex, key: string): PendingItem | undefined {
    const list = this.byKey[side].get(key);
    if (list === undefined) return undefined;
    while (list.length > 0 && (list[0] as PendingItem).resolved) list.shift();
    if (list.length === 0) {
      this.byKey[side].delete(key);
      return undefined;
    }
    return list[0];
  }

  /** Bookkeeping once `item` is resolved (the caller sets `resolved`). */
  remove(item: PendingItem): void {
    this.live[item.side]--;
    const list = this.byKey[item.side].get(item.key);
    if (list === undefined) return;
    const at = list.indexOf(item);
    if (at !== -1) list.splice(at, 1);
    if (list.length === 0) this.byKey[item.side].delete(item.key);
  }

  /** Recomputes the keys of a side's pending items (after a rule or id-mapping change). */
  rekey(side: SideIndex, keyOf: (item: PendingItem) => string): PendingItem[] {
    this.byKey[side].clear();
    const items = this.queues[side].unresolved();
    for (const item of items) {
      item.key = keyOf(item);
      this.index(item);
    }
    return items;
  }

  private index(item: PendingItem): void {
    const map = this.byKey[item.side];
    const list = map.get(item.key);
    if (list === undefined) map.set(item.key, [item]);
    else list.push(item);
  }
}

/** A session's buckets by namespace, then event name: found without building a key string per delivery. */
export class BucketIndex {
  private readonly byNamespace = new Map<string, Map<string, Bucket>>();
  private count = 0;

  /** Buckets held (a comparator with nothing pending holds none). */
  get size(): number {
    return this.count;
  }

  get(nsp: string, event: string): Bucket | undefined {
    return this.byNamespace.get(nsp)?.get(event);
  }

  set(bucket: Bucket): void {
    let events = this.byNamespace.get(bucket.nsp);
    if (events === undefined) {
      events = new Map();
      this.byNamespace.set(bucket.nsp, events);
    }
    if (!events.has(bucket.event)) this.count++;
    events.set(bucket.event, bucket);
  }

  delete(bucket: Bucket): void {
    const events = this.byNamespace.get(bucket.nsp);
    if (events?.get(bucket.event) !== bucket) return;
    events.delete(bucket.event);
    this.count--;
    if (events.size === 0) this.byNamespace.delete(bucket.nsp);
  }

  /** A snapshot: refreshing a bucket may delete it. */
  all(): Bucket[] {
    const out: Bucket[] = [];
    for (const events of this.byNamespace.values()) for (const bucket of events.values()) out.push(bucket);
    return out;
  }
}

/** When a session last failed to buffer deliveries (overflows), so that unpaired ones near then can say so. */
export class OverflowSpan {
  private from = Number.NaN;
  private to = Number.NaN;

  /** A delivery arriving at `at` was not buffered; overflows within `windowMs` of the last one extend the span. */
  record(at: number, windowMs: number): void {
    if (!(at - this.to <= windowMs)) this.from = at;
    this.to = at;
  }

  /** Whether `at` lies within a window of the span (its counterpart may have been the one not buffered). */
  near(at: number, windowMs: number): boolean {
    return at >= this.from - windowMs && at <= this.to + windowMs;
  }
}
