/**
 * What the shadow tests observe of a gateway: the `switchyard:shadow:*` telemetry events (recorded as
 * they are published), the mismatch evidence through the admin API and through the `switchyard` CLI run
 * as a child process, and a few internals of the ShadowManager (the pending budget, the open taps) that
 * the memory-bound assertions need.
 */
import type { MismatchEvidence } from "../../src/shadow/evidence.js";
import type { ShadowManager } from "../../src/shadow/shadow-manager.js";
import {
  subscribe,
  type SessionClosedEvent,
  type ShadowComparisonEvent,
  type ShadowErrorEvent,
  type ShadowOverflowEvent,
  type ShadowResult,
  type ShadowSessionEvent,
  type Unsubscribe,
  type UpstreamFailedEvent,
} from "../../src/telemetry/events.js";

export const SHADOW_ADMIN_TOKEN = "shadow-test-admin-token-0123456789";

/** Every shadow telemetry event published while it is recording (diagnostics channels are per process). */
export class ShadowTelemetry {
  readonly comparisons: ShadowComparisonEvent[] = [];
  readonly errors: ShadowErrorEvent[] = [];
  readonly overflows: ShadowOverflowEvent[] = [];
  readonly sessions: ShadowSessionEvent[] = [];
  readonly shadowUpstreamFailures: UpstreamFailedEvent[] = [];
  readonly closedSessions: SessionClosedEvent[] = [];
  readonly protocolErrors: string[] = [];
  private readonly unsubscribes: Unsubscribe[];

  constructor() {
    this.unsubscribes = [
      subscribe("switchyard:shadow:comparison", (event) => this.comparisons.push(event)),
      subscribe("switchyard:shadow:error", (event) => this.errors.push(event)),
      subscribe("switchyard:shadow:overflow", (event) => this.overflows.push(event)),
      subscribe("switchyard:shadow:session", (event) => this.sessions.push(event)),
      subscribe("switchyard:upstream:failed", (event) => {
        if (event.role === "shadow") this.shadowUpstreamFailures.push(event);
      }),
      subscribe("switchyard:session:closed", (event) => this.closedSessions.push(event)),
      subscribe("switchyard:protocol:error", (event) => this.protocolErrors.push(event.code)),
    ];
  }

  /** Comparisons with this result (and event label, when given). */
  count(result: ShadowResult, event?: string): number {
    let n = 0;
    for (const c of this.comparisons) if (c.result === result && (event === undefined || c.event === event)) n++;
    return n;
  }

  /** match/mismatch/missing/extra counts of one event label. */
  tally(event: string): Record<ShadowResult, number> {
    return {
      match: this.count("match", event),
      mismatch: this.count("mismatch", event),
      missing: this.count("missing", event),
      extra: this.count("extra", event),
    };
  }

  /** A one-line account for failure messages. */
  summary(): string {
    const byOutcome = new Map<string, number>();
    for (const c of this.comparisons) byOutcome.set(`${c.event}:${c.result}`, (byOutcome.get(`${c.event}:${c.result}`) ?? 0) + 1);
    return (
      `comparisons ${JSON.stringify(Object.fromEntries(byOutcome))}; errors ${JSON.stringify(this.errorCodes())}; ` +
      `overflows ${JSON.stringify(this.overflowKinds())}; protocol errors ${JSON.stringify(this.protocolErrors)}`
    );
  }

  errorCodes(): string[] {
    return this.errors.map((e) => e.code);
  }

  overflowKinds(): string[] {
    return this.overflows.map((o) => o.kind);
  }

  /** Forgets what was recorded so far (between phases of one test). */
  clear(): void {
    for (const list of [
      this.comparisons,
      this.errors,
      this.overflows,
      this.sessions,
      this.shadowUpstreamFailures,
      this.closedSessions,
      this.protocolErrors,
    ])
      list.length = 0;
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
  }
}

/** The parts of ShadowManager the memory-bound assertions read (private fields, read-only use). */
interface ShadowInternals {
  readonly budget: { readonly used: number; readonly capacity: number; readonly overflowed: number };
  readonly taps: Map<TapInternals, unknown>;
}

interface TapInternals {
  readonly ended: boolean;
  readonly comparator: { readonly pending: number };
  readonly upstream?: { readonly bufferedAmount: number; readonly translator?: { namespaceState(nsp: string): string | undefined } };
}

/**
 * The newest `count` shadow taps have each either ended or seen their hub shadow accept namespace "/":
 * from then on a client event cannot reach the shadow before its CONNECT was answered.
 */
export function newestShadowsSettled(manager: ShadowManager, count: number): boolean {
  const taps = [...(manager as unknown as ShadowInternals).taps.keys()].slice(-count);
  return taps.length === count && taps.every((tap) => tap.ended || tap.upstream?.translator?.namespaceState("/") === "connected");
}

export interface ShadowSnapshot {
  /** Pending comparisons held, all sessions together (the shared budget's units). */
  readonly budgetUsed: number;
  readonly budgetCapacity: number;
  /** The largest pending count of one session. */
  readonly maxSessionPending: number;
  /** The sum of the sessions' pending counts (must equal budgetUsed). */
  readonly sessionPendingSum: number;
  /** Bytes waiting to be written to shadow backends, the largest of one session. */
  readonly maxShadowBuffered: number;
  readonly taps: number;
}

export function shadowSnapshot(manager: ShadowManager): ShadowSnapshot {
  const internals = manager as unknown as ShadowInternals;
  let maxSessionPending = 0;
  let sessionPendingSum = 0;
  let maxShadowBuffered = 0;
  for (const tap of internals.taps.keys()) {
    maxSessionPending = Math.max(maxSessionPending, tap.comparator.pending);
    sessionPendingSum += tap.comparator.pending;
    maxShadowBuffered = Math.max(maxShadowBuffered, tap.upstream?.bufferedAmount ?? 0);
  }
  return {
    budgetUsed: internals.budget.used,
    budgetCapacity: internals.budget.capacity,
    maxSessionPending,
    sessionPendingSum,
    maxShadowBuffered,
    taps: internals.taps.size,
  };
}

/** Samples shadowSnapshot on a short timer and keeps the peaks (memory must stay bounded all along). */
export class ShadowPeaks {
  budgetUsed = 0;
  maxSessionPending = 0;
  maxShadowBuffered = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly manager: ShadowManager,
    intervalMs = 2,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): ShadowSnapshot {
    const snapshot = shadowSnapshot(this.manager);
    this.samples++;
    this.budgetUsed = Math.max(this.budgetUsed, snapshot.budgetUsed);
    this.maxSessionPending = Math.max(this.maxSessionPending, snapshot.maxSessionPending);
    this.maxShadowBuffered = Math.max(this.maxShadowBuffered, snapshot.maxShadowBuffered);
    return snapshot;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** GET /admin/shadow/diffs with the admin token (null: without one). */
export async function fetchDiffs(
  opsUrl: string,
  limit: number,
  token: string | null = SHADOW_ADMIN_TOKEN,
): Promise<{ status: number; entries: MismatchEvidence[] }> {
  const response = await fetch(`${opsUrl}/admin/shadow/diffs?limit=${limit}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { entries?: MismatchEvidence[] };
  return { status: response.status, entries: body.entries ?? [] };
}

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** GET /metrics, parsed into samples (comments skipped). */
export async function scrapeMetrics(opsUrl: string): Promise<MetricSample[]> {
  return parseMetrics(await (await fetch(`${opsUrl}/metrics`)).text());
}

/** A Prometheus text exposition, parsed into samples (comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with exactly these labels (among others it may have), or undefined. */
export function metricValue(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
  return found?.value;
}
