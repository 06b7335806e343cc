/**
 * Child processes of a bench run and what we measure of them: CPU time and RSS read from /proc (so the
 * measured processes need no instrumentation and can be any program), plus a registry that kills every
 * child on exit, ctrl-c or crash so that a failed run never leaves servers holding ports.
 */
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

export interface ProcSample {
  /** user + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /**
   * Time the main thread (where JavaScript runs) was runnable but waiting for a CPU, from
   * /proc/<pid>/schedstat: the direct measure of a process starved by the others on a busy host.
   */
  readonly runQueueWaitSeconds: number;
}

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

const TICKS = clockTicksPerSecond();

/** undefined once the process is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at "state", field 3 of proc(5).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
    const waitNs = Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[1]);
    return { cpuSeconds: (utime + stime) / TICKS, rssBytes: rssKb * 1024, runQueueWaitSeconds: waitNs / 1e9 };
  } catch {
    return undefined;
  }
}

/** `pid` and every process under it (an instance's primary and its workers, WORKERS > 1), parents first. */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i]!;
    try {
      for (const task of readdirSync(`/proc/${parent}/task`)) {
        const children = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8").trim();
        if (children !== "") tree.push(...children.split(" ").map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return tree;
}

/**
 * `pid` and its descendants summed (CPU, RSS, run-queue wait): what one server costs however many processes it
 * runs. undefined once `pid` is gone; a descendant that exits meanwhile counts no more.
 */
export function sampleProcessTree(pid: number): ProcSample | undefined {
  const own = sampleProcess(pid);
  if (own === undefined) return undefined;
  const samples = processTree(pid)
    .slice(1)
    .flatMap((child) => sampleProcess(child) ?? []);
  return samples.reduce(
    (sum, sample) => ({
      cpuSeconds: sum.cpuSeconds + sample.cpuSeconds,
      rssBytes: sum.rssBytes + sample.rssBytes,
      runQueueWaitSeconds: sum.runQueueWaitSeconds + sample.runQueueWaitSeconds,
    }),
    own,
  );
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function sampleHostCpu(): { busySeconds: number; totalSeconds: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((sum, v) => sum + v, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busySeconds: (total - idle) / TICKS, totalSeconds: total / TICKS };
}

/** Every child we started, so that all of them die with us whatever happens. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

let exitHooksInstalled = false;
export function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on("exit", killAllChildren);
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      killAllChildren();
      process.exit(128 + number);
    });
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface ServerProcess {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The `url` of the first JSON line on stdout carrying one, when the process prints it. */
  readonly url: string | undefined;
  /** Log lines by pino level name (or "other"), to surface warnings and errors under load. */
  readonly logCounts: Record<string, number>;
  /** The last lines of stderr and of non-JSON stdout, for failure reports. */
  readonly outputTail: string[];
}

export interface SpawnServerOptions {
  readonly label: string;
  readonly script: string;
  readonly env: Record<string, string>;
  /** Wait for a JSON line with a `url` on stdout. Otherwise the caller checks readiness itself. */
  readonly printsUrl: boolean;
  readonly startTimeoutMs?: number;
  /** Extra node flags (e.g. --cpu-prof for a diagnostic run). */
  readonly nodeArgs?: readonly string[];
}

const PINO_LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const TAIL_LINES = 20;

/** Starts a measured server (`node script`, no loader flags) and resolves when it is listening. */
export function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const child = track(
    spawn(process.execPath, [...(options.nodeArgs ?? []), options.script], { env: options.env, stdio: ["ignore", "pipe", "pipe"] }),
  );
  const logCounts: Record<string, number> = {};
  const outputTail: string[] = [];
  const remember = (line: string) => {
    outputTail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (outputTail.length > TAIL_LINES) outputTail.shift();
  };
  let onUrl: (url: string) => void = () => {};
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let parsed: { url?: unknown; level?: unknown } | undefined;
    try {
      parsed = JSON.parse(line) as { url?: unknown; level?: unknown };
    } catch {
      parsed = undefined;
    }
    if (typeof parsed?.url === "string") {
      onUrl(parsed.url);
      return;
    }
    const level = typeof parsed?.level === "number" ? (PINO_LEVELS[parsed.level] ?? "other") : "other";
    logCounts[level] = (logCounts[level] ?? 0) + 1;
    if (level !== "info" && level !== "debug" && level !== "trace") remember(line);
  });
  createInterface({ input: child.stderr! }).on("line", (line) => {
    logCounts.stderr = (logCounts.stderr ?? 0) + 1;
    remember(line);
  });
  const base = { label: options.label, child, pid: child.pid!, logCounts, outputTail };
  if (!options.printsUrl) return Promise.resolve({ ...base, url: undefined });
  return new Promise((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 20_000;
    const timer = setTimeout(() => reject(new Error(`${options.label} printed no URL within ${timeoutMs} ms`)), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.label} exited during start-up (code ${code}, signal ${signal}): ${outputTail.join(" | ")}`));
    });
    onUrl = (url) => {
      onUrl = () => {};
      clearTimeout(timer);
      resolve({ ...base, url });
    };
  });
}

/** Polls `url` until it answers 200 (a readiness endpoint), the child dies, or time runs out. */
export async function waitUntilReady(url: string, child: ChildProcess, label: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${label} exited during start-up (code ${child.exitCode})`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${label} was not ready (${url}) within ${timeoutMs} ms`);
}

/** Forks a load generator (compiled JS; loader flags of this process are passed on when run from source). */
export function forkLoadgen(script: string): ChildProcess {
  return track(fork(script, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] }));
}

/** Selected Prometheus series (sessions, errors, refusals, overflows, shadow verdicts, RSS, loop lag), instance label dropped. */
export async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
  const wanted = new RegExp(
    "^(switchyard_sessions_(open|opened_total|closed_total)|switchyard_[a-z_]*(error|refused|overflow)[a-z_]*" +
      "|switchyard_shadow_(comparisons_total|sessions_open)|switchyard_limit_hits_total" +
      "|switchyard_upstream_connect_duration_seconds_(sum|count)" +
      "|process_resident_memory_bytes|nodejs_eventloop_lag_p99_seconds)",
  );
  const metrics: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !wanted.test(line)) continue;
    const cut = line.lastIndexOf(" ");
    const name = line
      .slice(0, cut)
      .replace(/,?instance_id="[^"]*"/, "")
      .replace("{}", "");
    metrics[name] = Number(line.slice(cut + 1));
  }
  return metrics;
}
