/**
 * Faults injected into a loaded deployment, one phase each, with what the phase measured: what the
 * clients saw (disconnect reasons, reconnection errors), how long until every client was back in its
 * room, what was lost on the healthy side (both ends connected throughout: must be nothing) and on the
 * affected side, and what the operators saw (metric deltas, warning and error log lines by message).
 */
import { total, type Deployment, type Sample } from "./deployment.js";
import type { LoadClients } from "./load-clients.js";
import type { GeneratorReport } from "./load-protocol.js";

export interface FaultTiming {
  /** How long Redis stays away. */
  readonly redisOutageMs: number;
  /** How long the legacy backend accepts and then says nothing. */
  readonly stallMs: number;
}

export interface Fault {
  readonly name: string;
  /**
   * Which healthy pairs must have lost nothing: all of them, or only those on one adapter node when the
   * fault takes away Redis, which carries every delivery between nodes (the bridge's gap, counted).
   */
  readonly mustDeliver: "all" | "sameNode";
  /** Injects the fault and clears it (the component is back when this resolves). */
  inject(deployment: Deployment, timing: FaultTiming): Promise<void>;
  /** After the measurement: puts the deployment back together (a killed gateway is started again). */
  restore?(deployment: Deployment): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Metrics whose change during a phase says what an operator sees. */
const WATCHED = [
  "switchyard_sessions_closed_total",
  "switchyard_upstream_errors_total",
  "switchyard_handshakes_refused_total",
  "switchyard_hub_fallbacks_total",
  "switchyard_bridge_publish_failures_total",
  "switchyard_owner_forwards_total",
  "switchyard_contained_errors_total",
  "switchyard_uncaught_errors_total",
  "switchyard_drained_sessions_total",
  "switchyard_passthrough_requests_total",
];

export const FAULTS: readonly Fault[] = [
  {
    name: "legacy killed and restarted",
    mustDeliver: "all",
    inject: async (d) => {
      await d.killLegacy();
      await d.startLegacy();
    },
  },
  {
    name: "legacy accepts, then stalls",
    mustDeliver: "all",
    inject: async (d, timing) => {
      d.legacyProxy.stall();
      await sleep(timing.stallMs);
      d.legacyProxy.restore();
    },
  },
  {
    name: "Redis stopped, restarted empty",
    mustDeliver: "sameNode",
    inject: async (d, timing) => {
      await d.redis.stop();
      await sleep(timing.redisOutageMs);
      await d.redis.resume();
      await d.nodesSubscribed(3);
    },
  },
  {
    name: "gateway gw-1 killed (SIGKILL)",
    mustDeliver: "all",
    inject: (d) => d.killGateway(1),
    // Started again, it joins the room bridge with its first hub session.
    restore: (d) => d.startGateway(1).then(() => undefined),
  },
  {
    name: "hub killed and restarted",
    mustDeliver: "all",
    inject: async (d) => {
      await d.killHub();
      await d.startHub();
    },
  },
];

export interface PhaseResult {
  readonly fault: string;
  readonly mustDeliver: Fault["mustDeliver"];
  /** From injection until the failed part was back. */
  readonly faultMs: number;
  /** From injection until every client was connected and in its room again (0: nobody was disconnected). */
  readonly backMs: number;
  readonly report: GeneratorReport;
  /** Healthy-side losses (must be 0): room messages the fault's must-deliver pairs missed, echoes unanswered. */
  readonly healthyLost: number;
  readonly healthyDuplicates: number;
  /** Metric changes on the instances that lived through the phase ("name{labels}": delta). */
  readonly metrics: Record<string, number>;
  /** Warning and error log lines of the gateways during the phase, by message (and code). */
  readonly logs: Record<string, number>;
  /** Sessions the gateways count as open at the end of the phase ("gw-i backend/transport": n). */
  readonly sessionsOpen: Record<string, number>;
}

type Snapshot = (Sample[] | undefined)[];

async function snapshot(deployment: Deployment): Promise<Snapshot> {
  return Promise.all(deployment.gateways.map((g, i) => (g === undefined ? undefined : deployment.metrics(i).catch(() => undefined))));
}

function deltas(before: Snapshot, after: Snapshot): Record<string, number> {
  const changes: Record<string, number> = {};
  for (const [i, samples] of after.entries()) {
    if (samples === undefined) continue;
    for (const sample of samples) {
      if (!WATCHED.includes(sample.name)) continue;
      const labels = sample.labels.replace(/,?instance_id="[^"]*"/, "").replace("{,", "{");
      const earlier = before[i]?.find((s) => s.name === sample.name && s.labels === sample.labels)?.value ?? 0;
      const key = `${sample.name}${labels === "{}" ? "" : labels}`;
      if (sample.value !== earlier) changes[key] = (changes[key] ?? 0) + sample.value - earlier;
    }
  }
  return changes;
}

function logMark(deployment: Deployment): number[] {
  return deployment.gateways.map((g) => g?.logs.length ?? 0);
}

function logsSince(deployment: Deployment, mark: number[], processes: readonly unknown[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [i, gateway] of deployment.gateways.entries()) {
    if (gateway === undefined) continue;
    // A gateway started during the phase is a new process: all its lines are new.
    const from = processes[i] === gateway ? mark[i]! : 0;
    for (const entry of gateway.logs.slice(from)) {
      if (typeof entry.level !== "number" || entry.level < 40) continue;
      const key = `${entry.msg}${typeof entry.code === "string" ? ` (${entry.code})` : ""}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

export interface PhaseOptions {
  readonly timing: FaultTiming;
  /** Normal traffic before the fault and after every client is back. */
  readonly leadMs: number;
  /** After the senders go quiet, time for the last messages to arrive (then until nothing more does). */
  readonly settleMs: number;
  readonly backTimeoutMs: number;
}

/** Runs one fault under the running load as phase `n` and measures it. */
export async function runFault(
  deployment: Deployment,
  load: LoadClients,
  n: number,
  fault: Fault,
  options: PhaseOptions,
): Promise<PhaseResult> {
  await load.phase(n);
  await sleep(options.leadMs);
  const before = await snapshot(deployment);
  const mark = logMark(deployment);
  const processes = [...deployment.gateways];
  const injected = Date.now();
  await fault.inject(deployment, options.timing);
  const cleared = Date.now();
  // Clients notice a broken connection within a moment; the wait for all of them starts after it.
  await sleep(500);
  await load.allUp(options.backTimeoutMs);
  await sleep(options.leadMs);
  await load.quiet();
  await sleep(options.settleMs);
  await load.quiesce(20_000);
  const report = await load.report(Object.fromEntries(deployment.balancer.targetOfUser));
  const after = await snapshot(deployment);
  const logs = logsSince(deployment, mark, processes);
  const sessionsOpen: Record<string, number> = {};
  for (const [i, samples] of after.entries())
    for (const sample of samples?.filter((s) => s.name === "switchyard_sessions_open" && s.value > 0) ?? [])
      sessionsOpen[`gw-${i} ${/backend="(\w+)"/.exec(sample.labels)?.[1]}/${/transport="(\w+)"/.exec(sample.labels)?.[1]}`] = sample.value;
  await fault.restore?.(deployment);
  const { sameNode, crossNode } = report.pairs;
  const healthyLost =
    sameNode.missing + (fault.mustDeliver === "all" ? crossNode.missing : 0) + report.echo.healthy.sent - report.echo.healthy.acked;
  return {
    fault: fault.name,
    mustDeliver: fault.mustDeliver,
    faultMs: cleared - injected,
    backMs: report.lastBackAt === 0 ? 0 : report.lastBackAt - injected,
    report,
    healthyLost,
    healthyDuplicates: sameNode.duplicates + crossNode.duplicates,
    metrics: deltas(before, after),
    logs,
    sessionsOpen,
  };
}

/** One result as a few lines for a log or a report. */
export function describeResult(result: PhaseResult): string {
  const r = result.report;
  const pct = (t: { expected: number; missing: number }) => (t.expected === 0 ? "-" : `${t.missing}/${t.expected}`);
  return [
    `${result.fault}: back in ${result.backMs} ms (fault ${result.faultMs} ms); ${r.disconnected}/${r.clients} clients disconnected`,
    `  clients saw: ${JSON.stringify(r.reasons)}; reconnection errors: ${JSON.stringify(r.connectErrors)}`,
    `  healthy lost ${result.healthyLost}, duplicates ${result.healthyDuplicates}; room messages missing: ` +
      `same-node ${pct(r.pairs.sameNode)}, cross-node ${pct(r.pairs.crossNode)}, affected ${pct(r.pairs.affected)}; ` +
      `echo acks: healthy ${r.echo.healthy.acked}/${r.echo.healthy.sent}, affected ${r.echo.affected.acked}/${r.echo.affected.sent}`,
    `  where: ${JSON.stringify(r.nodes)}; sessions the gateways count: ${JSON.stringify(result.sessionsOpen)}`,
    `  metrics: ${JSON.stringify(result.metrics)}`,
    `  logs: ${JSON.stringify(result.logs)}`,
  ].join("\n");
}

/** Sum over the running gateways of one metric (for the leak checks). */
export async function clusterTotal(deployment: Deployment, name: string, having = ""): Promise<number> {
  const all = await snapshot(deployment);
  return all.reduce((sum, samples) => sum + (samples === undefined ? 0 : total(samples, name, having)), 0);
}
