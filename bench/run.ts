/**
 * `npm run bench`: socket.io clients in rooms, driven by separate load-generator processes, against each
 * setup in turn (fresh processes each), side by side in one run; prints per-setup results, a summary and
 * the ratios to the http-proxy-3 pass-through, and writes bench/results/<timestamp>.json.
 *
 * Workload: every client joins room (index mod rooms) and sends a `msg` once per interval at phase
 * index/clients of it, so sends are spread evenly; the legacy chat broadcasts each to its whole room
 * (sender included). The interval is chosen so that deliveries/s hit --rate (default: one per client/s).
 * Deliveries are attributed to the window by their send time; CPU is read over the same window.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ClientSpec, LoadgenMessage, LoadgenReport } from "./ipc.js";
import { LoadgenHandle, orchestratorClock } from "./loadgen-driver.js";
import {
  installExitHooks,
  sampleHostCpu,
  scrapeMetrics,
  sampleProcessTree,
  spawnServer,
  stopChild,
  type ProcSample,
  type ServerProcess,
} from "./processes.js";
import { renderChart } from "./chart.js";
import { parseOptions, type BenchOptions } from "./options.js";
import { formatStorms, formatSweep } from "./report-sweep.js";
import {
  concat,
  formatSetup,
  formatSummary,
  latencyStats,
  latencyTimeline,
  type BenchResult,
  type BenchRun,
  type ProcessResult,
  type SetupResult,
} from "./report.js";
import { runStorm } from "./storm.js";
import { SCRIPTS, selectSetups, type MeasuredProcess, type RunningSetup, type SetupDefinition } from "./setups.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const sleepUntil = (at: number) => sleep(at - orchestratorClock());
const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);

/** Clients of load generator k: every k-th global index, so that each room has members in every process. */
function clientSpecs(options: BenchOptions, loadgen: number): ClientSpec[] {
  const specs: ClientSpec[] = [];
  const pollingEvery = options.pollingShare > 0 ? Math.max(1, Math.round(1 / options.pollingShare)) : 0;
  for (let index = loadgen; index < options.clients; index += options.loadgens) {
    specs.push({ index, room: `room-${index % options.rooms}`, polling: pollingEvery > 0 && index % pollingEvery === 0 });
  }
  return specs;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function merge(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

async function connectClients(loadgens: LoadgenHandle[], options: BenchOptions, url: string) {
  const startedAt = Date.now();
  const timeoutMs = (options.clients / options.rampPerSec) * 1_000 + 60_000;
  const done = loadgens.map((handle) =>
    handle.next<Extract<LoadgenMessage, { type: "connect-progress" }>>(
      (m) => m.type === "connect-progress" && m.done,
      timeoutMs,
      "end of the connect phase",
    ),
  );
  for (const [k, handle] of loadgens.entries()) {
    handle.send({
      type: "connect",
      url,
      clients: clientSpecs(options, k),
      ratePerSec: options.rampPerSec / loadgens.length,
      maxInFlight: 100,
      connectTimeoutMs: 20_000,
      reconnectionAttempts: 0,
    });
  }
  const progress = setInterval(() => {
    const latest = loadgens.map(
      (h) => h.latest.get("connect-progress") as Extract<LoadgenMessage, { type: "connect-progress" }> | undefined,
    );
    log(
      `  connecting: ${sum(latest.map((p) => p?.joined ?? 0))} joined, ` +
        `${sum(latest.map((p) => p?.failed ?? 0))} failed of ${options.clients}`,
    );
  }, 5_000);
  try {
    const results = await Promise.all(done);
    const joinedByRoom: Record<string, number> = {};
    for (const r of results) merge(joinedByRoom, r.joinedByRoom);
    return {
      joined: sum(results.map((r) => r.joined)),
      failed: sum(results.map((r) => r.failed)),
      joinedByRoom,
      seconds: (Date.now() - startedAt) / 1000,
    };
  } finally {
    clearInterval(progress);
  }
}

interface MeasuredGroup {
  readonly label: string;
  readonly role: ProcessResult["role"];
  readonly pids: number[];
  readonly server?: ServerProcess;
}

interface WindowSamples {
  readonly idle: Map<number, ProcSample | undefined>;
  /** [group][process] at the start and the end of the window. */
  readonly start: (ProcSample | undefined)[][];
  readonly end: (ProcSample | undefined)[][];
  readonly rssSamples: number[][][];
}

function processResults(
  groups: MeasuredGroup[],
  samples: WindowSamples,
  delivered: number,
  sessions: number,
  windowSeconds: number,
): ProcessResult[] {
  const per1k = delivered > 0 ? 1000 / delivered : NaN;
  const finite = (n: number) => (Number.isFinite(n) ? n : null);
  return groups.map((group, i) => {
    const delta = (field: "cpuSeconds" | "runQueueWaitSeconds") =>
      sum(group.pids.map((_, j) => (samples.end[i]![j]?.[field] ?? NaN) - (samples.start[i]![j]?.[field] ?? NaN)));
    const cpu = delta("cpuSeconds");
    const rssLoad = sum(group.pids.map((_, j) => median(samples.rssSamples[i]![j]!) ?? samples.end[i]![j]?.rssBytes ?? NaN));
    const rssIdle = group.server ? (samples.idle.get(group.server.pid)?.rssBytes ?? null) : null;
    return {
      label: group.label,
      role: group.role,
      cpuSeconds: cpu,
      runQueueWaitShare: finite(delta("runQueueWaitSeconds") / group.pids.length / windowSeconds),
      cpuSecondsPer1kDelivered: finite(cpu * per1k),
      rssIdleBytes: rssIdle,
      rssLoadBytes: finite(rssLoad),
      // Load generators have no idle sample: theirs is simply RSS per client held.
      rssPerSessionBytes: finite((rssLoad - (rssIdle ?? 0)) / sessions),
      ...(group.server ? { logCounts: group.server.logCounts, outputTail: group.server.outputTail } : {}),
    };
  });
}

/**
 * After the last send: waits until no load generator receives anything more for a second (messages sent
 * at the end of the window are still on their way, for seconds when a setup is overloaded), at most 30 s.
 * What has not arrived by then counts as not delivered.
 */
async function awaitQuiet(loadgens: LoadgenHandle[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(1_000);
    const total = sum(await Promise.all(loadgens.map((h) => h.receivedTotal(5_000))));
    if (total === last) return;
    last = total;
  }
}

/** Node flags that put a front process under the CPU profiler, its profile in <out>/profiles. */
function profileArgs(out: string, name: string): string[] {
  return ["--cpu-prof", `--cpu-prof-dir=${join(out, "profiles")}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`];
}

/** Runs one setup from fresh processes to teardown; never throws: a failure is reported in the result. */
async function runSetup(definition: SetupDefinition, options: BenchOptions): Promise<SetupResult> {
  const spawned: ServerProcess[] = [];
  const loadgens: LoadgenHandle[] = [];
  const result: { -readonly [K in keyof SetupResult]: SetupResult[K] } = {
    id: definition.id,
    name: definition.name,
    ok: false,
    clients: { requested: options.clients, joined: 0, failed: 0, connectSeconds: 0 },
    windowSeconds: 0,
    sentInWindow: 0,
    expectedDeliveries: 0,
    delivered: 0,
    latencyMs: null,
    latencyTimeline: [],
    processes: [],
    loadgen: { count: options.loadgens, maxEventLoopUtilization: 0, maxSendLagP99Ms: 0, maxSendLagMs: 0 },
    hostBusyCores: null,
    benchBusyCores: null,
    errors: {},
    disconnects: {},
  };
  let running: RunningSetup | undefined;
  try {
    log(`${definition.name}: starting servers`);
    running = await definition.start({
      spawn: async (spawnOptions) => {
        const server = await spawnServer(spawnOptions);
        spawned.push(server);
        return server;
      },
      frontNodeArgs: options.profile ? profileArgs(options.out, definition.id) : [],
    });
    result.url = running.url;
    for (let k = 0; k < options.loadgens; k++) loadgens.push(await LoadgenHandle.start(`load generator ${k + 1}`, SCRIPTS.loadgen));
    for (const handle of loadgens) await handle.syncClock();
    await sleep(1_000);
    const idle = new Map(running.processes.map((p) => [p.server.pid, sampleProcessTree(p.server.pid)]));

    log(`${definition.name}: connecting ${options.clients} clients in ${options.rooms} rooms from ${options.loadgens} load generators`);
    const connected = await connectClients(loadgens, options, running.url);
    result.clients = { requested: options.clients, joined: connected.joined, failed: connected.failed, connectSeconds: connected.seconds };
    if (connected.joined === 0) throw new Error("no client could connect and join");
    await sleep(1_000);

    // Each send reaches every member of its room: interval = clients × room size / deliveries per second.
    const roomSize = options.clients / options.rooms;
    const intervalMs = ((options.clients * roomSize) / options.rate) * 1_000;
    const startAt = orchestratorClock() + 500;
    const windowStart = startAt + options.warmupSeconds * 1_000;
    const windowEnd = windowStart + options.durationSeconds * 1_000;
    log(
      `${definition.name}: sending (each client every ${(intervalMs / 1000).toFixed(1)} ` +
        `s), warm-up ${options.warmupSeconds} s, window ${options.durationSeconds} s`,
    );
    for (const handle of loadgens)
      handle.send({
        type: "send",
        startAt,
        intervalMs,
        totalClients: options.clients,
        windowStart,
        windowEnd,
        payloadBytes: options.payloadBytes,
      });

    const measured: MeasuredGroup[] = [
      ...running.processes.map((p: MeasuredProcess) => ({ label: p.server.label, role: p.role, pids: [p.server.pid], server: p.server })),
      { label: `load generators (${loadgens.length})`, role: "loadgen" as const, pids: loadgens.map((h) => h.pid) },
    ];
    const sampleAll = () => measured.map((m) => m.pids.map((pid) => sampleProcessTree(pid)));
    await sleepUntil(windowStart);
    const cpuStart = sampleAll();
    const hostStart = sampleHostCpu();
    const wallStart = orchestratorClock();
    // RSS under load is the median of per-second samples: one sample can land just before or after a GC.
    const rssSamples: number[][][] = measured.map((m) => m.pids.map(() => []));
    const rssSampler = setInterval(() => {
      for (const [i, group] of sampleAll().entries()) {
        for (const [j, sample] of group.entries()) if (sample) rssSamples[i]![j]!.push(sample.rssBytes);
      }
    }, 1_000);
    await sleepUntil(windowEnd);
    clearInterval(rssSampler);
    const cpuEnd = sampleAll();
    const hostEnd = sampleHostCpu();
    result.windowSeconds = (orchestratorClock() - wallStart) / 1000;
    result.hostBusyCores = (hostEnd.busySeconds - hostStart.busySeconds) / result.windowSeconds;
    for (const handle of loadgens) handle.send({ type: "stop-sending" });
    const died = running.processes.filter((p) => p.server.child.exitCode !== null || p.server.child.signalCode !== null);
    if (died.length > 0) {
      throw new Error(
        `${died.map((p) => `${p.server.label} (exit ${p.server.child.exitCode ?? p.server.child.signalCode})`).join(", ")} ` +
          `died during the run`,
      );
    }
    await awaitQuiet(loadgens);

    const reports: LoadgenReport[] = await Promise.all(loadgens.map((h) => h.report(30_000)));
    const latencies = concat(reports.map((r) => r.latencies));
    result.delivered = latencies.length;
    result.latencyMs = latencyStats(latencies);
    result.latencyTimeline = latencyTimeline(latencies, concat(reports.map((r) => r.sendOffsets)), options.durationSeconds);
    const sentByRoom: Record<string, number> = {};
    for (const r of reports) {
      merge(sentByRoom, r.sentInWindowByRoom);
      merge(result.errors, r.errors);
      merge(result.disconnects, r.disconnects);
    }
    result.sentInWindow = sum(Object.values(sentByRoom));
    result.expectedDeliveries = sum(Object.entries(sentByRoom).map(([room, sent]) => sent * (connected.joinedByRoom[room] ?? 0)));
    result.loadgen = {
      count: loadgens.length,
      maxEventLoopUtilization: Math.max(...reports.map((r) => r.eventLoopUtilization)),
      maxSendLagP99Ms: Math.max(...reports.map((r) => r.sendLagP99Ms)),
      maxSendLagMs: Math.max(...reports.map((r) => r.sendLagMaxMs)),
    };
    result.processes = processResults(
      measured,
      { idle, start: cpuStart, end: cpuEnd, rssSamples },
      result.delivered,
      connected.joined,
      result.windowSeconds,
    );
    if (running.metricsUrl !== undefined) result.metrics = await scrapeMetrics(running.metricsUrl).catch(() => ({}));
    result.benchBusyCores = sum(result.processes.map((p) => p.cpuSeconds)) / result.windowSeconds;
    result.ok = true;
  } catch (error) {
    result.error = (error as Error).message;
    // What the clients saw is often the best clue (refused handshakes, disconnects): fetch it if we can.
    const reports = await Promise.allSettled(loadgens.map((h) => h.report(5_000)));
    for (const report of reports) {
      if (report.status !== "fulfilled") continue;
      merge(result.errors, report.value.errors);
      merge(result.disconnects, report.value.disconnects);
    }
    for (const server of spawned) {
      if (server.outputTail.length > 0) result.error += `\n    ${server.label} output: ${server.outputTail.slice(-5).join(" | ")}`;
    }
  } finally {
    await Promise.all(loadgens.map((h) => h.close()));
    await Promise.all(spawned.map((s) => stopChild(s.child, options.profile ? 15_000 : 3_000)));
  }
  return result;
}

async function main(): Promise<void> {
  if (import.meta.url.endsWith(".ts")) {
    throw new Error("run the compiled bench (npm run bench): measured processes must not run through a TypeScript loader");
  }
  installExitHooks();
  const plan = parseOptions(process.argv.slice(2));
  const setups = selectSetups(plan.setups);
  const startedAt = new Date();
  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    options: { sweep: plan.runs.map((run) => run.clients), ...plan.runs[0], storm: plan.storm },
    host: {
      cpus: availableParallelism(),
      node: process.version,
      fdLimitNote: "20,000 descriptors per process; clients are split across load generators",
    },
    runs: [],
    storms: [],
  };
  mkdirSync(plan.out, { recursive: true });
  const base = join(plan.out, startedAt.toISOString().replace(/[:.]/g, "-"));
  // Written after every setup too: a run cut short (a timeout, ctrl-c) keeps what it measured.
  const save = () => writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
  for (const options of plan.runs) {
    const roomSize = options.clients / options.rooms;
    log(
      `${options.clients} clients, ${options.rooms} rooms (~${roomSize.toFixed(1)} per room), ${options.rate} deliveries/s target, ` +
        `${options.loadgens} load generators, warm-up ${options.warmupSeconds} s, window ` +
        `${options.durationSeconds} s, setups: ${setups.map((s) => s.id).join(", ")}`,
    );
    const run: BenchRun = { clients: options.clients, rooms: options.rooms, rate: options.rate, setups: [] };
    result.runs.push(run);
    for (const setup of setups) {
      const outcome = await runSetup(setup, options);
      run.setups.push(outcome);
      save();
      process.stdout.write(`\n${formatSetup(outcome)}\n`);
      await sleep(2_000); // let the previous setup's sockets finish closing before the next one starts
    }
    process.stdout.write(`\n${formatSummary(run)}\n`);
  }
  if (plan.storm !== undefined) {
    for (const setup of setups) {
      result.storms.push(await runStorm(setup, plan.storm, plan.profile ? profileArgs(plan.out, `storm-${setup.id}`) : []));
      save();
      await sleep(2_000);
    }
    process.stdout.write(`\n${formatStorms(result.storms)}\n`);
  }
  if (result.runs.length > 1) process.stdout.write(`\n${formatSweep(result.runs)}\n`);
  save();
  writeFileSync(`${base}.svg`, renderChart(result));
  process.stdout.write(`\nresults: ${base}.json, chart: ${base}.svg\n`);
  const ok = result.runs.every((run) => run.setups.every((s) => s.ok)) && result.storms.every((s) => s.ok);
  process.exit(ok ? 0 : 1);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exit(1);
});
