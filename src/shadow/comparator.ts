/**
 * SessionComparator: compares what the primary and the shadow backend deliver to one shadowed session.
 * Pure and synchronous: the caller feeds it deliveries with arrival times from its clock and drives
 * expiry with `expire(now)` from one shared timer; outcomes come out through `onOutcome`.
 *
 * Algorithm
 * - Events (server→client EVENTs, and CONNECT/CONNECT_ERROR/DISCONNECT as the pseudo-events `$connect`,
 *   `$connect_error` [payload], `$disconnect`) go to a bucket per namespace+name. Each side's pending
 *   events sit in the bucket in arrival order and in a Map by canonical payload key (noise.ts: the
 *   rule's ignored paths, multisets and the shadow→primary id mapping are already applied in the key).
 * - An arriving event looks for the oldest pending event of the other side in its bucket with the
 *   same key (FIFO among equals); with a numeric tolerance, failing that, for the oldest one equal
 *   under the tolerance (a scan of the bucket). Found: a `match`, with delayMs = shadow arrival minus
 *   primary arrival, and `reordered` when the pair inverts the order of an earlier match (one side of
 *   the new pair is the newest of its side, so it suffices to compare the other side's sequence
 *   number with the highest one matched so far). Not found: the event waits, charged one unit to the
 *   instance's PendingBudget; when the budget or the per-session cap is full it is not buffered and
 *   an `overflow` outcome is reported instead.
 * - expire(now) resolves, in arrival order across both sides, the events whose window (windowMs, read
 *   live) has passed. An expired event pairs with the oldest event of the other side of its bucket
 *   that has also expired unmatched: a `mismatch` (with a bounded structural diff and both payloads).
 *   When the other side has nothing pending in the bucket, it is unpaired: `missing` (primary) or
 *   `extra` (shadow). Otherwise the other side's oldest pending event is still inside its window and
 *   the expired event is held: that event may yet match exactly (its own twin being on its way), or
 *   expire and pair with the held one. A held event is unpaired when the other side has nothing
 *   pending any more, and at the latest two windows after its arrival.
 *   Why not pair a primary with the oldest pending shadow event as soon as its window expires: when
 *   the shadow is early, that event is often the exact twin of a primary event still on its way, and
 *   taking it would turn one `missing` into a `mismatch` plus a wrong `missing`. Holding also keeps an
 *   altered event a mismatch when the shadow delivers it first.
 *   Known limit: with a steady stream of identical payloads (FIFO among equals), a dropped event's
 *   gap moves to the newest equal event and is reported `missing` only when the stream pauses for a
 *   window (or at close); an altered event near such a gap can come out as `extra` + `missing`.
 * - Acks of client-initiated requests are paired by namespace+ack id, not by payload: the client
 *   tells us "event E with ack id N" (clientAckRequest), both sides answer ack N, the pair is a match
 *   or a mismatch at once; an answer whose counterpart does not come within the window is missing
 *   (primary) or extra (shadow). Outcomes carry kind "ack" and the client's event name.
 * - Rules and the window are read live: a bucket remembers the config object and id-mapping version
 *   its keys were computed under and recomputes them (and pairs what has become equal) when either
 *   changed. Every resolution releases its budget unit.
 * - missing/extra outcomes within a window of an overflow of this session carry afterOverflow: their
 *   counterpart may have been the event that was not buffered.
 */
import type { ShadowConfig } from "../config/shadow-config.js";
import type { PendingBudget } from "./budget.js";
import { PACKET_TYPE } from "../protocol/socketio.js";
import { DEFAULT_MAX_DIFFS, diffPayloads, IdMapping, payloadKey, payloadsEqual, ruleFor, type CompiledRule } from "./noise.js";
import { AckBook } from "./ack-book.js";
import { eventOf, type SocketIoPacket } from "./packet-reader.js";
import type { ComparisonOutcome, SessionComparatorOptions, ShadowSide } from "./outcome.js";
import {
  Bucket,
  BucketIndex,
  OverflowSpan,
  PendingQueue,
  PRIMARY,
  SHADOW,
  SIDE_NAMES,
  type PendingItem,
  type SideIndex,
} from "./pending-index.js";

export type { ComparisonKind, ComparisonOutcome, ComparisonResult, SessionComparatorOptions, ShadowSide } from "./outcome.js";

export { UNKNOWN_ACK_EVENT } from "./ack-book.js";

export class SessionComparator {
  private readonly config: () => ShadowConfig;
  private readonly budget: PendingBudget;
  private readonly emit: (outcome: ComparisonOutcome) => void;
  private readonly maxSessionPending: number;
  private readonly maxDiffs: number;
  private readonly ids = new IdMapping();
  private readonly buckets = new BucketIndex();
  private readonly holdingBuckets = new Set<Bucket>();
  private readonly expiry: readonly [PendingQueue, PendingQueue] = [new PendingQueue(), new PendingQueue()];
  private primaryClosed = false;
  private readonly acks: AckBook;
  private readonly seqs: [number, number] = [0, 0];
  private readonly maxMatchedSeq: [number, number] = [-1, -1];
  private readonly overflows = new OverflowSpan();
  private pendingCount = 0;
  private refreshedConfig: ShadowConfig | undefined;
  private refreshedVersion = 0;
  private isClosed = false;

  constructor(options: SessionComparatorOptions) {
    this.config = options.config;
    this.budget = options.budget;
    this.emit = options.onOutcome;
    this.maxSessionPending = options.maxSessionPending ?? 2000;
    this.acks = new AckBook(options.maxTrackedAcks ?? 1000);
    this.maxDiffs = options.maxDiffs ?? DEFAULT_MAX_DIFFS;
  }

  /** Deliveries waiting for their counterpart. */
  get pending(): number {
    return this.pendingCount;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Closed and nothing left to resolve: the caller can forget this comparator. */
  get done(): boolean {
    return this.isClosed && this.pendingCount === 0;
  }

  primaryEvent(nsp: string, event: string, args: readonly unknown[], at: number): void {
    this.event(PRIMARY, nsp, event, args, at);
  }

  shadowEvent(nsp: string, event: string, args: readonly unknown[], at: number): void {
    this.event(SHADOW, nsp, event, args, at);
  }

  /** The client sent `event` with ack id `ackId` in `nsp`: both sides' ack `ackId` are compared under its name. */
  clientAckRequest(nsp: string, event: string, ackId: number): void {
    if (!this.isClosed) this.acks.request(nsp, event, ackId);
  }

  primaryAck(nsp: string, ackId: number, args: readonly unknown[], at: number): void {
    this.ack(PRIMARY, nsp, ackId, args, at);
  }

  shadowAck(nsp: string, ackId: number, args: readonly unknown[], at: number): void {
    this.ack(SHADOW, nsp, ackId, args, at);
  }

  /** From now on the shadow's `shadowId` (and `nsp#shadowId`) in shadow payloads stands for the primary's `primaryId`. */
  setIdMapping(nsp: string, primaryId: string, shadowId: string): void {
    this.ids.set(nsp, primaryId, shadowId);
  }

  /** A client→server packet (from a PacketReader): registers ack requests. */
  clientPacket(packet: SocketIoPacket): void {
    if (packet.id === undefined) return;
    const event = eventOf(packet);
    if (event !== undefined) this.clientAckRequest(packet.nsp, event.name, packet.id);
  }

  /** A server→client packet of one side (from a PacketReader), dispatched to the inputs above. */
  serverPacket(side: ShadowSide, packet: SocketIoPacket, at: number): void {
    const index: SideIndex = side === "primary" ? PRIMARY : SHADOW;
    switch (packet.type) {
      case PACKET_TYPE.CONNECT: {
        const sid = (packet.data as { sid?: unknown } | undefined)?.sid;
        if (typeof sid === "string") this.ids.learn(index, packet.nsp, sid);
        return this.event(index, packet.nsp, "$connect", [], at);
      }
      case PACKET_TYPE.CONNECT_ERROR:
        return this.event(index, packet.nsp, "$connect_error", [packet.data], at);
      case PACKET_TYPE.DISCONNECT:
        return this.event(index, packet.nsp, "$disconnect", [], at);
      case PACKET_TYPE.ACK:
      case PACKET_TYPE.BINARY_ACK:
        if (packet.id !== undefined && Array.isArray(packet.data)) this.ack(index, packet.nsp, packet.id, packet.data, at);
        return;
      default: {
        const event = eventOf(packet);
        if (event !== undefined) this.event(index, packet.nsp, event.name, event.args, at);
      }
    }
  }

  /** Resolves every delivery whose window has passed at `now` (see the algorithm above). */
  expire(now: number): void {
    // Called for every shadowed session ten times a second: most have nothing waiting.
    if (this.pendingCount === 0) return;
    const config = this.config();
    const windowMs = config.windowMs;
    if (config !== this.refreshedConfig || this.ids.version !== this.refreshedVersion) {
      // A rule or id-mapping change: pending pairs that have become equal match now, not at expiry.
      this.refreshedConfig = config;
      this.refreshedVersion = this.ids.version;
      for (const bucket of this.buckets.all()) this.refresh(bucket);
    }
    for (;;) {
      const primary = this.expiry[PRIMARY].front();
      const shadow = this.expiry[SHADOW].front();
      const next = primary !== undefined && (shadow === undefined || primary.at <= shadow.at) ? primary : shadow;
      if (next === undefined || !(next.at + windowMs <= now)) break;
      this.expiry[next.side].shift();
      if (next.kind === "ack") this.unpaired(next, windowMs);
      else this.expireEvent(next, windowMs);
    }
    for (const bucket of this.holdingBuckets) this.reviewHeld(bucket, now, windowMs);
  }

  /**
   * The client session ended: the primary delivers nothing more, but what the shadow has in flight may
   * still pair with what the primary delivered last (a match or a mismatch). Shadow deliveries that pair
   * with nothing are not counted: no recipient was left to be wrong for. Call `close` when the shadow is
   * done.
   */
  closePrimary(): void {
    this.primaryClosed = true;
  }

  /**
   * No more deliveries are accepted. What is pending resolves as its window passes (keep calling
   * expire until `done`), or at once with `flush`.
   */
  close(options: { readonly flush?: boolean } = {}): void {
    this.isClosed = true;
    this.acks.forgetAllRequests();
    if (options.flush === true) this.expire(Number.POSITIVE_INFINITY);
  }

  // ---- events ----------------------------------------------------------------------------------

  private event(side: SideIndex, nsp: string, event: string, args: readonly unknown[], at: number): void {
    if (this.isClosed || (side === PRIMARY && this.primaryClosed)) return;
    const seq = this.seqs[side]++;
    const bucket = this.bucketFor(nsp, event);
    const key = this.keyOf(side, args, bucket.rule);
    const other = (1 - side) as SideIndex;
    const counterpart = this.findCounterpart(bucket, other, key, args);
    if (counterpart !== undefined) {
      this.resolve(counterpart);
      if (side === PRIMARY) this.matched(nsp, event, seq, at, counterpart.seq, counterpart.at);
      else this.matched(nsp, event, counterpart.seq, counterpart.at, seq, at);
      if (bucket.empty) this.buckets.delete(bucket);
      return;
    }
    const orphan = this.primaryClosed;
    const ackId = undefined;
    const item = this.buffer({ side, kind: "event", nsp, event, args, at, seq, key, bucket, ackId, resolved: false, held: false, orphan });
    if (item === undefined && bucket.empty) this.buckets.delete(bucket);
  }

  private bucketFor(nsp: string, event: string): Bucket {
    const existing = this.buckets.get(nsp, event);
    if (existing !== undefined) {
      this.refresh(existing);
      // Refreshing may have paired everything and dropped the bucket.
      if (this.buckets.get(nsp, event) === existing) return existing;
    }
    const bucket = new Bucket(nsp, event);
    bucket.config = this.config();
    bucket.mappingVersion = this.ids.version;
    bucket.rule = ruleFor(bucket.config, nsp, event);
    this.buckets.set(bucket);
    return bucket;
  }

  /** Brings a bucket's keys up to date with the live rules and id mapping, pairing what became equal. */
  private refresh(bucket: Bucket): void {
    const config = this.config();
    if (bucket.config === config && bucket.mappingVersion === this.ids.version) return;
    const rule = ruleFor(config, bucket.nsp, bucket.event);
    const ruleChanged = rule !== bucket.rule;
    const idsChanged = bucket.mappingVersion !== this.ids.version;
    bucket.config = config;
    bucket.mappingVersion = this.ids.version;
    bucket.rule = rule;
    if (bucket.empty || (!ruleChanged && !idsChanged)) return;
    const keyOf = (item: PendingItem): string => this.keyOf(item.side, item.args, rule);
    bucket.rekey(SHADOW, keyOf);
    const primaries = ruleChanged ? bucket.rekey(PRIMARY, keyOf) : bucket.queues[PRIMARY].unresolved();
    for (const primary of primaries) {
      const shadow = this.findCounterpart(bucket, SHADOW, primary.key, primary.args);
      if (shadow === undefined) continue;
      this.resolve(primary);
      this.resolve(shadow);
      this.matched(bucket.nsp, bucket.event, primary.seq, primary.at, shadow.seq, shadow.at);
    }
    if (bucket.empty) this.buckets.delete(bucket);
  }

  private keyOf(side: SideIndex, args: readonly unknown[], rule: CompiledRule): string {
    return payloadKey(args, rule, side === SHADOW ? this.ids.map : undefined);
  }

  private findCounterpart(bucket: Bucket, side: SideIndex, key: string, args: readonly unknown[]): PendingItem | undefined {
    const exact = bucket.firstWithKey(side, key);
    if (exact !== undefined || bucket.rule.tolerance === 0 || bucket.live[side] === 0) return exact;
    for (const item of bucket.queues[side].unresolved()) {
      const equal =
        side === SHADOW
          ? payloadsEqual(args, item.args, bucket.rule, this.ids.map)
          : payloadsEqual(item.args, args, bucket.rule, this.ids.map);
      if (equal) return item;
    }
    return undefined;
  }

  /** A pair of events matched (sequence numbers and arrival times of each side: no object per match). */
  private matched(nsp: string, event: string, primarySeq: number, primaryAt: number, shadowSeq: number, shadowAt: number): void {
    const reordered = primarySeq < this.maxMatchedSeq[PRIMARY] || shadowSeq < this.maxMatchedSeq[SHADOW];
    this.maxMatchedSeq[PRIMARY] = Math.max(this.maxMatchedSeq[PRIMARY], primarySeq);
    this.maxMatchedSeq[SHADOW] = Math.max(this.maxMatchedSeq[SHADOW], shadowSeq);
    const delayMs = shadowAt - primaryAt;
    this.emit({ result: "match", kind: "event", nsp, event, delayMs, reordered });
  }

  /** An event whose window has passed: a mismatch, unpaired, or held (see the algorithm above). */
  private expireEvent(item: PendingItem, windowMs: number): void {
    const bucket = item.bucket as Bucket;
    this.refresh(bucket);
    if (item.resolved) return;
    const other = bucket.queues[1 - item.side]?.front();
    if (other?.held === true) return this.mismatched(item, other, bucket);
    if (other === undefined) return this.unpaired(item, windowMs);
    item.held = true;
    this.holdingBuckets.add(bucket);
  }

  private reviewHeld(bucket: Bucket, now: number, windowMs: number): void {
    let stillHeld = false;
    for (const side of [PRIMARY, SHADOW] as const) {
      for (const item of bucket.queues[side].unresolved()) {
        if (!item.held) break;
        if (item.resolved) continue;
        const other = bucket.queues[1 - side]?.front();
        if (other?.held === true) this.mismatched(item, other, bucket);
        else if (other === undefined || item.at + 2 * windowMs <= now) this.unpaired(item, windowMs);
        else stillHeld = true;
      }
    }
    if (!stillHeld) this.holdingBuckets.delete(bucket);
  }

  // ---- acks ------------------------------------------------------------------------------------

  private ack(side: SideIndex, nsp: string, ackId: number, args: readonly unknown[], at: number): void {
    if (this.isClosed || (side === PRIMARY && this.primaryClosed)) return;
    const event = this.acks.eventOf(nsp, ackId);
    const waiting = this.acks.waitingFor(nsp, ackId);
    const counterpart = waiting?.[1 - side];
    if (counterpart !== undefined) {
      this.resolve(counterpart);
      this.acks.forget(nsp, ackId);
      const [primary, shadow] = side === PRIMARY ? [{ args, at }, counterpart] : [counterpart, { args, at }];
      const rule = ruleFor(this.config(), nsp, event);
      const ids = this.ids.map;
      if (
        payloadKey(primary.args, rule) === payloadKey(shadow.args, rule, ids) ||
        (rule.tolerance > 0 && payloadsEqual(primary.args, shadow.args, rule, ids))
      ) {
        this.emit({ result: "match", kind: "ack", nsp, event, ackId, delayMs: shadow.at - primary.at });
      } else {
        const diff = diffPayloads(primary.args, shadow.args, rule, ids, this.maxDiffs);
        this.emit({
          result: "mismatch",
          kind: "ack",
          nsp,
          event,
          ackId,
          delayMs: shadow.at - primary.at,
          diff,
          primary: primary.args,
          shadow: shadow.args,
        });
      }
      return;
    }
    const duplicate = waiting?.[side];
    // The same ack id answered twice by one side: the first answer stays unpaired.
    if (duplicate !== undefined) this.unpaired(duplicate, this.config().windowMs);
    const orphan = this.primaryClosed;
    const bucket = undefined;
    this.buffer({ side, kind: "ack", nsp, event, args, at, seq: -1, key: "", bucket, ackId, resolved: false, held: false, orphan });
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  /**
   * Holds a delivery until its counterpart comes or its window passes; undefined (an overflow) when full.
   * The caller builds the item whole (one object literal per delivery: this runs for every shadowed delivery).
   */
  private buffer(item: PendingItem): PendingItem | undefined {
    const { side, kind, nsp, event, at, bucket, ackId } = item;
    const reason = this.pendingCount >= this.maxSessionPending ? "session" : this.budget.tryAcquire() ? undefined : "budget";
    if (reason !== undefined) {
      this.overflows.record(at, this.config().windowMs);
      this.emit({ result: "overflow", kind, nsp, event, side: SIDE_NAMES[side], reason, ...(ackId === undefined ? {} : { ackId }) });
      return undefined;
    }
    this.pendingCount++;
    this.expiry[side].push(item);
    if (bucket !== undefined) bucket.add(item);
    else this.acks.add(item);
    return item;
  }

  private resolve(item: PendingItem): void {
    if (item.resolved) return;
    item.resolved = true;
    this.pendingCount--;
    this.budget.release();
    if (item.bucket !== undefined) item.bucket.remove(item);
    else this.acks.remove(item);
  }

  /** A delivery that found no counterpart: missing (primary) or extra (shadow). */
  private unpaired(item: PendingItem, windowMs: number): void {
    this.resolve(item);
    if (item.kind === "ack") this.acks.forget(item.nsp, item.ackId);
    if (item.bucket?.empty) this.buckets.delete(item.bucket);
    // Delivered after the client left, and paired with nothing: there was no recipient to be wrong for.
    if (item.orphan) return;
    const base = {
      kind: item.kind,
      nsp: item.nsp,
      event: item.event,
      ...(item.ackId === undefined ? {} : { ackId: item.ackId }),
      ...(this.overflows.near(item.at, windowMs) ? { afterOverflow: true as const } : {}),
    };
    this.emit(item.side === PRIMARY ? { result: "missing", ...base, primary: item.args } : { result: "extra", ...base, shadow: item.args });
  }

  private mismatched(item: PendingItem, other: PendingItem, bucket: Bucket): void {
    const [primary, shadow] = item.side === PRIMARY ? [item, other] : [other, item];
    this.resolve(primary);
    this.resolve(shadow);
    if (bucket.empty) this.buckets.delete(bucket);
    const diff = diffPayloads(primary.args, shadow.args, bucket.rule, this.ids.map, this.maxDiffs);
    this.emit({
      result: "mismatch",
      kind: "event",
      nsp: primary.nsp,
      event: primary.event,
      delayMs: shadow.at - primary.at,
      diff,
      primary: primary.args,
      shadow: shadow.args,
    });
  }
}
