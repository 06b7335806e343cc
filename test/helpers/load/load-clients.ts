/**
 * The orchestrator's side of the load: spreads N clients over a few load-generator processes (so that
 * the clients' CPU is not the test process's), and asks them to start a phase, go quiet, and report.
 * The mix: rooms of four (two hub users, one per gateway, and two legacy users), mostly socket.io-client
 * 4.x with some 2.x and 3.x, mostly WebSocket with some polling and some upgrading.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { DEFAULT_SALT } from "../../../src/config/routing-config.js";
import { bucketOf } from "../../../src/routing/hash.js";
import { eventually } from "../eventually.js";
import { reapOnExit } from "../reap.js";
import type { ClientSpec, GeneratorReport, PairTally, Request } from "./load-protocol.js";

const GENERATOR = fileURLToPath(new URL("./load-generator.ts", import.meta.url));

/** A userId whose bucket puts it on `backend` at hubPercent 50 (the default salt). */
function userIdOn(backend: "hub" | "legacy", base: string): string {
  for (let n = 0; ; n++) {
    const id = `${base}-${n}`;
    if (bucketOf(DEFAULT_SALT, id) < 5000 === (backend === "hub")) return id;
  }
}

export function clientSpecs(count: number): ClientSpec[] {
  const tag = randomBytes(3).toString("hex");
  return Array.from({ length: count }, (_, i) => {
    const room = Math.floor(i / 4);
    // Member i % 4 of a room: hub via gw-0, hub via gw-1, legacy via gw-0, legacy via gw-1. The transport
    // goes by room (every backend and instance gets each), the generation by member and room (80 % 4.x).
    const mix = (i + room) % 10;
    return {
      label: `c${i}`,
      userId: userIdOn(i % 4 < 2 ? "hub" : "legacy", `load-${tag}-${i}`),
      gw: i % 2,
      version: mix === 3 ? "2" : mix === 7 ? "3" : "4",
      transport: (["websocket", "polling", "websocket", "upgrade"] as const)[room % 4]!,
      room: `room-${room}`,
    };
  });
}

export interface LoadStatus {
  readonly clients: number;
  readonly up: number;
  readonly delivered: number;
  readonly acked: number;
}

class Generator {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on("message", (message: { id: number; result?: unknown; error?: string }) => {
      const call = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) call?.reject(new Error(message.error));
      else call?.resolve(message.result);
    });
    child.once("exit", (code) => {
      for (const call of this.waiting.values()) call.reject(new Error(`load generator exited with ${code}`));
      this.waiting.clear();
    });
  }

  call<T>(request: Request): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, request });
    });
  }
}

function addTally(into: PairTally, from: PairTally): void {
  into.pairs += from.pairs;
  into.expected += from.expected;
  into.missing += from.missing;
  into.duplicates += from.duplicates;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

/** Every generator's report of one phase, added up. */
export function mergeReports(reports: readonly GeneratorReport[]): GeneratorReport {
  const merged = {
    clients: 0,
    up: 0,
    disconnected: 0,
    lastBackAt: 0,
    disconnectTimes: [] as number[],
    reasons: {} as Record<string, number>,
    connectErrors: {} as Record<string, number>,
    nodes: {} as Record<string, number>,
    pairs: {
      sameNode: { pairs: 0, expected: 0, missing: 0, duplicates: 0 },
      crossNode: { pairs: 0, expected: 0, missing: 0, duplicates: 0 },
      affected: { pairs: 0, expected: 0, missing: 0, duplicates: 0 },
    },
    echo: { healthy: { sent: 0, acked: 0 }, affected: { sent: 0, acked: 0 } },
  };
  for (const report of reports) {
    merged.clients += report.clients;
    merged.up += report.up;
    merged.disconnected += report.disconnected;
    merged.lastBackAt = Math.max(merged.lastBackAt, report.lastBackAt);
    merged.disconnectTimes.push(...report.disconnectTimes);
    addCounts(merged.reasons, report.reasons);
    addCounts(merged.connectErrors, report.connectErrors);
    addCounts(merged.nodes, report.nodes);
    for (const kind of ["sameNode", "crossNode", "affected"] as const) addTally(merged.pairs[kind], report.pairs[kind]);
    for (const side of ["healthy", "affected"] as const) {
      merged.echo[side].sent += report.echo[side].sent;
      merged.echo[side].acked += report.echo[side].acked;
    }
  }
  merged.disconnectTimes.sort((a, b) => a - b);
  return merged;
}

export class LoadClients {
  private constructor(
    private readonly generators: readonly Generator[],
    readonly specs: readonly ClientSpec[],
  ) {}

  /** Starts `processes` generators with `count` clients in all against `url`; resolves when all are up. */
  static async start(url: string, count: number, options: { processes: number; periodMs: number }): Promise<LoadClients> {
    const specs = clientSpecs(count);
    const generators = Array.from({ length: options.processes }, () => {
      const child = fork(GENERATOR, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      reapOnExit(child);
      return new Generator(child);
    });
    // Whole rooms (four consecutive clients) per generator.
    const rooms = Math.ceil(count / 4);
    const share = Math.ceil(rooms / options.processes) * 4;
    await Promise.all(
      generators.map((generator, g) =>
        generator.call({ type: "init", url, periodMs: options.periodMs, clients: specs.slice(g * share, (g + 1) * share) }),
      ),
    );
    const load = new LoadClients(generators, specs);
    await load.allUp(60_000);
    return load;
  }

  /** Clients, those up, and (since the start) room messages received and echoes answered. */
  async status(): Promise<LoadStatus> {
    const all = await Promise.all(this.generators.map((g) => g.call<LoadStatus>({ type: "status" })));
    const sum = (key: keyof LoadStatus) => all.reduce((n, s) => n + s[key], 0);
    return { clients: sum("clients"), up: sum("up"), delivered: sum("delivered"), acked: sum("acked") };
  }

  /** Resolves when every client is connected and in its room; the time it took (ms). */
  async allUp(timeoutMs: number): Promise<number> {
    const started = Date.now();
    let last = { clients: 0, up: 0 };
    await eventually(
      async () => {
        last = await this.status();
        return last.up === last.clients;
      },
      "every client to be connected and in its room",
      timeoutMs,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (${last.up} of ${last.clients})`);
    });
    return Date.now() - started;
  }

  /**
   * After the senders went quiet: waits until nothing more arrives (no delivery or answer for a second),
   * so that a busy machine's late deliveries are not counted as lost; at most `maxMs`.
   */
  async quiesce(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    let last = -1;
    let still = 0;
    while (Date.now() < deadline && still < 2) {
      const { delivered, acked } = await this.status();
      still = delivered + acked === last ? still + 1 : 0;
      last = delivered + acked;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async phase(n: number): Promise<void> {
    await Promise.all(this.generators.map((g) => g.call({ type: "phase", phase: n })));
  }

  async quiet(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.call({ type: "quiet" })));
  }

  async report(gwOfUser: Record<string, number>): Promise<GeneratorReport> {
    return mergeReports(await Promise.all(this.generators.map((g) => g.call<GeneratorReport>({ type: "report", gwOfUser }))));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.generators.map(async (g) => {
        const exited = new Promise((resolve) => g.child.once("exit", resolve));
        await g.call({ type: "close" }).catch(() => undefined);
        await exited;
      }),
    );
  }
}
