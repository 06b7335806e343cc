/** What the shadow comparator reports, and how it is set up. */
import type { ShadowConfig } from "../config/shadow-config.js";
import type { PendingBudget } from "./budget.js";
import type { Difference } from "./noise.js";

export type ShadowSide = "primary" | "shadow";
export type ComparisonKind = "event" | "ack";
export type ComparisonResult = "match" | "mismatch" | "missing" | "extra" | "overflow";

export interface ComparisonOutcome {
  readonly result: ComparisonResult;
  readonly kind: ComparisonKind;
  readonly nsp: string;
  /** The event name (for acks: the client's event); pseudo-events start with "$". */
  readonly event: string;
  /** kind "ack": the ack id. */
  readonly ackId?: number;
  /** match, mismatch: shadow arrival minus primary arrival (negative when the shadow was first). */
  readonly delayMs?: number;
  /** match of kind "event": the pair inverts the order of an earlier matched pair. */
  readonly reordered?: boolean;
  /** mismatch: where the payloads differ (bounded). */
  readonly diff?: readonly Difference[];
  /** The primary's arguments (mismatch, missing) and the shadow's (mismatch, extra), as received. */
  readonly primary?: readonly unknown[];
  readonly shadow?: readonly unknown[];
  /** overflow: the side whose delivery was not buffered; why. */
  readonly side?: ShadowSide;
  readonly reason?: "budget" | "session";
  /** missing, extra: an overflow of this session happened within a window of this delivery. */
  readonly afterOverflow?: boolean;
}

export interface SessionComparatorOptions {
  /** The live shadow config (windowMs and rules are read on use). */
  readonly config: () => ShadowConfig;
  /** Shared by all sessions of the instance (capacity: config.maxPending). */
  readonly budget: PendingBudget;
  readonly onOutcome: (outcome: ComparisonOutcome) => void;
  /** Deliveries this session may have pending at once (default 2000). */
  readonly maxSessionPending?: number;
  /** Client ack requests remembered at once, oldest forgotten first (default 1000). */
  readonly maxTrackedAcks?: number;
  /** Differences kept per mismatch (default 20). */
  readonly maxDiffs?: number;
}
