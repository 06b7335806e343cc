/**
 * `--storm N`: a connection storm on each setup, with fresh processes. N clients (each joining its room,
 * as in the steady-state runs) start their connection within `--storm-window` seconds, evenly spread and
 * with no cap on handshakes in flight, as when thousands of clients reconnect at once after a drain, a
 * rollback or a gateway restart. A client whose attempt fails retries with socket.io-client's backoff and
 * gives up after `--storm-attempts` attempts. Reported: how many joined, gave up and retried, and the
 * handshake time (first attempt to Socket.IO connect, retries included) at p50/p99, beside legacy direct's.
 */
import type { ClientSpec, LoadgenMessage } from "./ipc.js";
import { LoadgenHandle } from "./loadgen-driver.js";
import type { StormOptions } from "./options.js";
import { readFileSync } from "node:fs";
import { sampleHostCpu, sampleProcessTree, scrapeMetrics, spawnServer, stopChild, type ServerProcess } from "./processes.js";
import { concat, latencyStats, type LatencyStats } from "./report.js";
import { SCRIPTS, type SetupDefinition } from "./setups.js";

export interface StormResult {
  readonly id: string;
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly requested: number;
  readonly joined: number;
  readonly failed: number;
  /** Clients whose reconnection attempts ran out. */
  readonly gaveUp: number;
  readonly retries: number;
  /** From the first client's start to the last client's outcome. */
  readonly seconds: number;
  readonly handshakeMs: LatencyStats | null;
  /** The front process's (or, for legacy direct, the legacy server's) CPU seconds over the storm. */
  readonly cpuSeconds: number | null;
  /** The load generators' CPU seconds over the storm (summed): opening thousands of clients is work too. */
  readonly loadgenCpuSeconds: number | null;
  /** Busy cores of the whole machine over the storm: well above this setup's own share = disturbed by neighbours. */
  readonly hostBusyCores: number | null;
  readonly errors: Record<string, number>;
  /** Seconds the front process was runnable but waiting for a CPU over the storm (/proc/<pid>/schedstat). */
  readonly frontRunQueueWaitSeconds?: number | null;
  /**
   * Connections the kernel dropped because a listener's accept queue was full over the storm (TcpExt
   * ListenOverflows, the whole host): a dropped SYN is retried by the client's kernel after 1, 3, 7 … s.
   */
  readonly listenOverflows?: number | null;
  /** The gateway's /metrics after the storm (refusals by code, limit hits, upstream connect times). */
  readonly metrics?: Record<string, number>;
}

type Done = Extract<LoadgenMessage, { type: "connect-progress" }>;

const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);
/** Longest a storm may take beyond its window (handshakes in flight, retries with backoff). */
const SETTLE_MS = 120_000;

/** The host's TcpExt ListenOverflows counter (/proc/net/netstat); null where it cannot be read. */
function listenOverflows(): number | null {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8")
      .split("\n")
      .filter((line) => line.startsWith("TcpExt:"));
    const names = lines[0]?.split(" ") ?? [];
    const values = lines[1]?.split(" ") ?? [];
    const value = Number(values[names.indexOf("ListenOverflows")]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** `frontNodeArgs`: node flags for the front process (--profile). */
export async function runStorm(
  definition: SetupDefinition,
  storm: StormOptions,
  frontNodeArgs: readonly string[] = [],
): Promise<StormResult> {
  const spawned: ServerProcess[] = [];
  const loadgens: LoadgenHandle[] = [];
  const result: { -readonly [K in keyof StormResult]: StormResult[K] } = {
    id: definition.id,
    name: definition.name,
    ok: false,
    requested: storm.clients,
    joined: 0,
    failed: 0,
    gaveUp: 0,
    retries: 0,
    seconds: 0,
    handshakeMs: null,
    cpuSeconds: null,
    loadgenCpuSeconds: null,
    hostBusyCores: null,
    errors: {},
  };
  try {
    log(`${definition.name}: storm of ${storm.clients} clients within ${storm.windowSeconds} s`);
    const running = await definition.start({
      spawn: async (options) => {
        const server = await spawnServer(options);
        spawned.push(server);
        return server;
      },
      frontNodeArgs,
    });
    for (let k = 0; k < storm.loadgens; k++) loadgens.push(await LoadgenHandle.start(`load generator ${k + 1}`, SCRIPTS.loadgen));
    const measured = running.processes.find((p) => p.role === "front") ?? running.processes[0];
    const before = measured === undefined ? undefined : sampleProcessTree(measured.server.pid);
    const loadgenCpu = () => loadgens.reduce((n, h) => n + (sampleProcessTree(h.pid)?.cpuSeconds ?? Number.NaN), 0);
    const loadgenBefore = loadgenCpu();
    const hostBefore = sampleHostCpu();
    const overflowsBefore = listenOverflows();
    const rooms = Math.max(1, Math.round(storm.clients / 10));
    const startedAt = Date.now();
    const done = loadgens.map((handle) =>
      handle.next<Done>((m) => m.type === "connect-progress" && m.done, storm.windowSeconds * 1_000 + SETTLE_MS, "end of the storm"),
    );
    for (const [k, handle] of loadgens.entries()) {
      const clients: ClientSpec[] = [];
      for (let index = k; index < storm.clients; index += loadgens.length)
        clients.push({ index, room: `room-${index % rooms}`, polling: false });
      handle.send({
        type: "connect",
        url: running.url,
        clients,
        ratePerSec: storm.clients / storm.windowSeconds / loadgens.length,
        maxInFlight: storm.clients,
        connectTimeoutMs: 20_000,
        reconnectionAttempts: storm.attempts,
      });
    }
    const outcomes = await Promise.all(done);
    result.seconds = (Date.now() - startedAt) / 1000;
    result.loadgenCpuSeconds = loadgenCpu() - loadgenBefore;
    result.hostBusyCores = (sampleHostCpu().busySeconds - hostBefore.busySeconds) / result.seconds;
    const after = measured === undefined ? undefined : sampleProcessTree(measured.server.pid);
    result.cpuSeconds = before !== undefined && after !== undefined ? after.cpuSeconds - before.cpuSeconds : null;
    result.frontRunQueueWaitSeconds =
      before !== undefined && after !== undefined ? after.runQueueWaitSeconds - before.runQueueWaitSeconds : null;
    const overflowsAfter = listenOverflows();
    result.listenOverflows = overflowsBefore !== null && overflowsAfter !== null ? overflowsAfter - overflowsBefore : null;
    if (running.metricsUrl !== undefined) result.metrics = await scrapeMetrics(running.metricsUrl).catch(() => ({}));
    result.joined = outcomes.reduce((n, o) => n + o.joined, 0);
    result.failed = outcomes.reduce((n, o) => n + o.failed, 0);
    result.gaveUp = outcomes.reduce((n, o) => n + (o.gaveUp ?? 0), 0);
    result.retries = outcomes.reduce((n, o) => n + (o.retries ?? 0), 0);
    result.handshakeMs = latencyStats(concat(outcomes.map((o) => o.handshakeMs ?? new Float64Array())));
    const reports = await Promise.allSettled(loadgens.map((h) => h.report(10_000)));
    for (const report of reports) {
      if (report.status !== "fulfilled") continue;
      for (const [key, n] of Object.entries(report.value.errors)) result.errors[key] = (result.errors[key] ?? 0) + n;
    }
    const notable = Object.entries(result.metrics ?? {}).filter(
      ([name, n]) => n > 0 && /refused|limit_hits|upstream_(errors|connect_duration_seconds_(sum|count))/.test(name),
    );
    log(
      `${definition.name}: front waited ${result.frontRunQueueWaitSeconds?.toFixed(2) ?? "?"} s for a CPU; ` +
        `listen overflows (host) ${result.listenOverflows ?? "?"}; ${notable.map(([k, n]) => `${k} ${n}`).join(", ") || "no refusals"}`,
    );
    result.ok = true;
  } catch (error) {
    result.error = (error as Error).message;
  } finally {
    await Promise.all(loadgens.map((h) => h.close()));
    await Promise.all(spawned.map((s) => stopChild(s.child, frontNodeArgs.length > 0 ? 15_000 : 3_000)));
  }
  return result;
}
