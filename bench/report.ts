/**
 * Bench results: their shape (also the JSON result file's), latency statistics, and the tables printed
 * at the end: one block per setup, a side-by-side summary, and the ratios to the pass-through baseline.
 */
import { BASELINE_SETUP_ID } from "./setups.js";
import type { StormResult } from "./storm.js";

export interface LatencyStats {
  readonly samples: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface ProcessResult {
  readonly label: string;
  readonly role: "backend" | "front" | "loadgen";
  readonly cpuSeconds: number;
  /** Share of the window its main thread spent runnable but not running (mean over a group's processes). */
  readonly runQueueWaitShare: number | null;
  readonly cpuSecondsPer1kDelivered: number | null;
  readonly rssIdleBytes: number | null;
  readonly rssLoadBytes: number | null;
  /** (RSS under load − RSS idle) / sessions; for load generators, per client they hold. */
  readonly rssPerSessionBytes: number | null;
  readonly logCounts?: Record<string, number>;
  readonly outputTail?: string[];
}

export interface SetupResult {
  readonly id: string;
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly url?: string;
  readonly clients: { readonly requested: number; readonly joined: number; readonly failed: number; readonly connectSeconds: number };
  readonly windowSeconds: number;
  readonly sentInWindow: number;
  readonly expectedDeliveries: number;
  readonly delivered: number;
  readonly latencyMs: LatencyStats | null;
  /** Latency by slice of the window (by send time): a backlog that builds up shows as a rising p50. */
  readonly latencyTimeline: readonly TimelineSlice[];
  readonly processes: readonly ProcessResult[];
  readonly loadgen: {
    readonly count: number;
    readonly maxEventLoopUtilization: number;
    readonly maxSendLagP99Ms: number;
    readonly maxSendLagMs: number;
  };
  /** Busy cores of the whole machine over the window (of 2 here): near the core count = CPU-bound host. */
  readonly hostBusyCores: number | null;
  /** The part of it this setup's processes account for (the rest is other work on the machine). */
  readonly benchBusyCores: number | null;
  readonly errors: Record<string, number>;
  readonly disconnects: Record<string, number>;
  /** Selected Switchyard metrics scraped after the window. */
  readonly metrics?: Record<string, number>;
}

/** Every setup at one N (one entry per N of a sweep). */
export interface BenchRun {
  readonly clients: number;
  readonly rooms: number;
  readonly rate: number;
  readonly setups: SetupResult[];
}

export interface BenchResult {
  readonly startedAt: string;
  readonly options: Record<string, unknown>;
  readonly host: { readonly cpus: number; readonly node: string; readonly fdLimitNote: string };
  readonly runs: BenchRun[];
  /** --storm: one per setup. */
  readonly storms: StormResult[];
}

/** Joins the samples of several load generators. */
export function concat(arrays: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const array of arrays) {
    all.set(array, offset);
    offset += array.length;
  }
  return all;
}

export function latencyStats(values: Float64Array): LatencyStats | null {
  if (values.length === 0) return null;
  const sorted = values.slice().sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    samples: sorted.length,
    min: sorted[0]!,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

/** Work of other processes on the host above which a setup's numbers are flagged as disturbed. */
const OTHER_LOAD_WARNING_CORES = 0.25;

export interface TimelineSlice {
  readonly fromSeconds: number;
  readonly deliveries: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

const TIMELINE_SLICES = 6;

export function latencyTimeline(latencies: Float64Array, sendOffsetsMs: Float64Array, windowSeconds: number): TimelineSlice[] {
  const sliceMs = (windowSeconds * 1000) / TIMELINE_SLICES;
  const buckets: number[][] = Array.from({ length: TIMELINE_SLICES }, () => []);
  for (const [i, latency] of latencies.entries())
    buckets[Math.min(TIMELINE_SLICES - 1, Math.floor(sendOffsetsMs[i]! / sliceMs))]!.push(latency);
  return buckets.map((bucket, i) => {
    const stats = latencyStats(Float64Array.from(bucket));
    return { fromSeconds: (i * sliceMs) / 1000, deliveries: bucket.length, p50: stats?.p50 ?? null, p99: stats?.p99 ?? null };
  });
}

// ---- formatting ----------------------------------------------------------------------------------

export const int = (n: number) => Math.round(n).toLocaleString("en-US");
export const fixed = (n: number | null | undefined, digits: number) =>
  n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(digits);
export const ms = (n: number | undefined) => (n === undefined ? "–" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const mib = (bytes: number | null) => (bytes === null ? "–" : (bytes / 1048576).toFixed(1));
export const kib = (bytes: number | null) => (bytes === null ? "–" : (bytes / 1024).toFixed(1));
export const ratio = (value: number | null | undefined, base: number | null | undefined) =>
  value === null || value === undefined || base === null || base === undefined || base === 0 || !Number.isFinite(value / base)
    ? "–"
    : `${(value / base).toFixed(2)}×`;

export function table(header: string[], rows: string[][], rightAligned = (column: number) => column > 0): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export const front = (s: SetupResult) => s.processes.find((p) => p.role === "front");
const serverSide = (s: SetupResult) =>
  s.processes.length === 0
    ? null
    : s.processes.filter((p) => p.role !== "loadgen").reduce((sum, p) => sum + (p.cpuSecondsPer1kDelivered ?? NaN), 0);
const backend = (s: SetupResult) => s.processes.find((p) => p.role === "backend");
const entries = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, v]) => `${v}× ${k}`)
    .join("; ");

export function formatSetup(s: SetupResult): string {
  const lines = [`■ ${s.name}${s.url ? `  (${s.url})` : ""}`];
  if (!s.ok) {
    lines.push(`  FAILED: ${s.error ?? "unknown error"}`);
    lines.push(
      `  clients ${int(s.clients.joined)}/${int(s.clients.requested)} joined` +
        (s.clients.failed > 0 ? `, ${int(s.clients.failed)} failed` : ""),
    );
    if (Object.keys(s.errors).length > 0) lines.push(`  connect errors: ${entries(s.errors)}`);
    if (Object.keys(s.disconnects).length > 0) lines.push(`  unexpected disconnects: ${entries(s.disconnects)}`);
    return lines.join("\n");
  }
  lines.push(
    `  clients ${int(s.clients.joined)}/${int(s.clients.requested)} joined in ${fixed(s.clients.connectSeconds, 1)} s` +
      (s.clients.failed > 0 ? `, ${int(s.clients.failed)} failed` : "") +
      `; window ${fixed(s.windowSeconds, 1)} s; host busy ${fixed(s.hostBusyCores, 2)} ` +
      `cores (this setup's processes ${fixed(s.benchBusyCores, 2)})`,
  );
  const otherCores = (s.hostBusyCores ?? 0) - (s.benchBusyCores ?? 0);
  if (otherCores > OTHER_LOAD_WARNING_CORES) {
    lines.push(
      `  WARNING: other processes kept ${otherCores.toFixed(2)} cores busy during the window: latencies (and, less so, CPU) are skewed`,
    );
  }
  if (s.expectedDeliveries > 0 || s.delivered > 0) {
    const share =
      s.expectedDeliveries > 0
        ? ` (${((100 * s.delivered) / s.expectedDeliveries).toFixed(2)}% of ${int(s.expectedDeliveries)} expected)`
        : "";
    const l = s.latencyMs;
    lines.push(`  delivered ${int(s.delivered)}${share} = ${int(s.delivered / s.windowSeconds)}/s from ${int(s.sentInWindow)} sends`);
    lines.push(
      `  latency ms: min ${ms(l?.min)}  p50 ${ms(l?.p50)}  p90 ${ms(l?.p90)}  p99 ${ms(l?.p99)}  p99.9 ${ms(l?.p999)}  max ${ms(l?.max)}`,
    );
    const slices = s.latencyTimeline.map((t) => `${ms(t.p50 ?? undefined)}/${ms(t.p99 ?? undefined)}`).join("  ");
    if (s.latencyTimeline.length > 0)
      lines.push(`  p50/p99 ms by ${fixed(s.windowSeconds / s.latencyTimeline.length, 0)} s slice of the window: ${slices}`);
  }
  if (s.processes.length > 0) {
    const percent = (share: number | null) => (share === null ? "–" : `${(100 * share).toFixed(1)}%`);
    const rows = s.processes.map((p) => [
      p.label,
      fixed(p.cpuSeconds, 2),
      fixed(p.cpuSecondsPer1kDelivered, 4),
      percent(p.runQueueWaitShare),
      mib(p.rssIdleBytes),
      mib(p.rssLoadBytes),
      kib(p.rssPerSessionBytes),
    ]);
    lines.push(
      table(
        ["  process", "CPU s", "CPU s/1k deliv", "waiting for CPU", "RSS idle MiB", "RSS load MiB", "RSS/session KiB"],
        rows.map((r) => [`  ${r[0]}`, ...r.slice(1)]),
      ),
    );
  }
  lines.push(
    `  load generators: max event-loop utilization ${fixed(s.loadgen.maxEventLoopUtilization, 2)}, ` +
      `send lag p99 ${ms(s.loadgen.maxSendLagP99Ms)} ms (max ${ms(s.loadgen.maxSendLagMs)} ms)`,
  );
  if (Object.keys(s.errors).length > 0) lines.push(`  connect errors: ${entries(s.errors)}`);
  if (Object.keys(s.disconnects).length > 0) lines.push(`  unexpected disconnects: ${entries(s.disconnects)}`);
  for (const p of s.processes) {
    const noisy = Object.entries(p.logCounts ?? {}).filter(([level]) => !["info", "debug", "trace"].includes(level));
    if (noisy.length > 0)
      lines.push(
        `  ${p.label} output: ${noisy.map(([level, n]) => `${n} ${level}`).join(", ")}; ` +
          `last: ${(p.outputTail ?? []).slice(-3).join(" | ")}`,
      );
  }
  if (s.metrics !== undefined) {
    const closes = Object.entries(s.metrics).filter(([name]) => name.startsWith("switchyard_sessions_closed_total"));
    if (closes.length > 0)
      lines.push(
        `  switchyard sessions closed: ` +
          `${closes.map(([name, v]) => `${v} ${name.replace("switchyard_sessions_closed_total", "")}`).join(", ")}`,
      );
  }
  return lines.join("\n");
}

export function formatSummary(run: BenchRun): string {
  const setups = run.setups;
  const summary = table(
    [
      "setup",
      "joined",
      "delivered",
      "deliv/s",
      "p50 ms",
      "p99 ms",
      "front CPU s/1k",
      "legacy CPU s/1k",
      "server-side CPU s/1k",
      "loadgen CPU s/1k",
      "front RSS/session KiB",
      "legacy RSS/session KiB",
    ],
    setups.map((s) => {
      const loadgen = s.processes.find((p) => p.role === "loadgen");
      return [
        s.ok ? s.name : `${s.name} (FAILED)`,
        int(s.clients.joined),
        int(s.delivered),
        s.windowSeconds > 0 ? int(s.delivered / s.windowSeconds) : "–",
        ms(s.latencyMs?.p50),
        ms(s.latencyMs?.p99),
        fixed(front(s)?.cpuSecondsPer1kDelivered, 4),
        fixed(backend(s)?.cpuSecondsPer1kDelivered, 4),
        fixed(serverSide(s), 4),
        fixed(loadgen?.cpuSecondsPer1kDelivered, 4),
        kib(front(s)?.rssPerSessionBytes ?? null),
        kib(backend(s)?.rssPerSessionBytes ?? null),
      ];
    }),
    (column) => column > 0,
  );
  const base = setups.find((s) => s.id === BASELINE_SETUP_ID && s.ok);
  if (base === undefined) return `${summary}\n\n(no ratios: the ${BASELINE_SETUP_ID} baseline did not run or failed)`;
  const ratios = table(
    ["vs http-proxy-3 pass-through", "delivered", "p50", "p99", "front CPU/1k", "server-side CPU/1k", "front RSS/session"],
    setups
      .filter((s) => s.ok)
      .map((s) => [
        s.name,
        ratio(s.delivered, base.delivered),
        ratio(s.latencyMs?.p50, base.latencyMs?.p50),
        ratio(s.latencyMs?.p99, base.latencyMs?.p99),
        ratio(front(s)?.cpuSecondsPer1kDelivered, front(base)?.cpuSecondsPer1kDelivered),
        ratio(serverSide(s), serverSide(base)),
        ratio(front(s)?.rssPerSessionBytes, front(base)?.rssPerSessionBytes),
      ]),
  );
  return `${summary}\n\n${ratios}`;
}
