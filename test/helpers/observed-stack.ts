/**
 * Real processes for the observability end-to-end test (and the dashboard preview): the compiled services
 * started with docker-compose.yml's own commands (node dist/...), a real Prometheus (Debian's binary) with
 * prometheus/prometheus.yml's job and rules on a free port with a temporary TSDB, and a TCP proxy that can
 * make a backend flaky (it resets every third new connection).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { composeCommand, loadCompose } from "./compose-services.js";
import { REPO_ROOT } from "./dashboard-queries.js";
export { freePort } from "./ports.js";
import { freePort } from "./ports.js";

export interface NodeService {
  readonly child: ChildProcess;
  /** The JSON log line that announced the service was listening. */
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * Runs `argv` (e.g. ["node", "dist/src/main.js"]) from the repository root with this Node binary, and
 * resolves with the first JSON stdout line for which `isReady` holds.
 */
export function startNodeService(
  argv: readonly string[],
  env: Record<string, string>,
  isReady: (line: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<NodeService> {
  if (argv[0] !== "node") throw new Error(`expected a node command, got ${argv.join(" ")}`);
  const child = spawn(process.execPath, argv.slice(1), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopChild(child, 0);
      reject(new Error(`${argv.join(" ")} not ready within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(" ")} exited with ${code}; stderr: ${stderr}`));
    });
    let announced = false;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (announced) return;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!isReady(entry)) return;
      announced = true;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve({ child, ready: entry, stop: () => stopChild(child) });
    });
  });
}

export interface PrometheusServer {
  readonly url: string;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  rules(): Promise<
    { name: string; health: string; state: string; lastError?: string; alerts: { labels: Record<string, string>; state: string }[] }[]
  >;
  stop(): Promise<void>;
}

/** Starts Debian's `prometheus` with `config` (YAML text) and a throw-away TSDB; resolves when /-/ready. */
export async function startPrometheus(config: string): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "swy-prometheus-"));
  writeFileSync(join(dir, "prometheus.yml"), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  return {
    url,
    query: async (expr) => {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      if (data.resultType !== "vector") throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
      return data.result;
    },
    rules: async () =>
      (await api<{ groups: { rules: Awaited<ReturnType<PrometheusServer["rules"]>> }[] }>("/api/v1/rules")).groups.flatMap((g) => g.rules),
    stop,
  };
}

/** A TCP proxy in front of a backend; when `flaky`, every third new connection is reset on accept. */
export class FlakyProxy {
  flaky = false;
  private accepted = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<FlakyProxy> {
    let proxy: FlakyProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new FlakyProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.flaky && ++this.accepted % 3 === 0) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket
        .on("error", () => undefined)
        .on("close", () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
    }
    client.pipe(upstream).pipe(client);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Compiles what the compose services run (the import graphs of their entry points) into dist/ with the
 * repository's tsconfig, so that dist/ is current; files no service imports (work in progress elsewhere)
 * cannot break it. Throws with tsc's output when the services' own code does not compile.
 */
export function buildServices(entryPoints: readonly string[]): void {
  // Inside the repository (.tmp/ is git-ignored) so that tsc finds node_modules/@types from it.
  mkdirSync(join(REPO_ROOT, ".tmp"), { recursive: true });
  const dir = mkdtempSync(join(REPO_ROOT, ".tmp", "build-"));
  try {
    const tsconfig = join(dir, "tsconfig.json");
    writeFileSync(
      tsconfig,
      JSON.stringify({ extends: join(REPO_ROOT, "tsconfig.json"), include: [], files: entryPoints.map((file) => join(REPO_ROOT, file)) }),
    );
    const result = spawnSync(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", tsconfig], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 300_000,
    });
    if (result.status !== 0) throw new Error(`the services do not compile:\n${result.stdout}${result.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "node dist/examples/hub/server.js" → "examples/hub/server.ts". */
export const sourceOf = (command: readonly string[]): string => command[1]!.replace(/^dist\//, "").replace(/\.js$/, ".ts");

export interface ObservedGateway {
  readonly id: string;
  readonly url: string;
  /** host:port of its ops listener, as Prometheus's `instance` label shows it. */
  readonly opsTarget: string;
  readonly service: NodeService;
}

export interface ObservedStackOptions {
  readonly redisUrl: string;
  readonly redisKeyPrefix: string;
  /** ROUTING_CONFIG for the gateways. */
  readonly routingConfig: string;
  readonly scrapeInterval: string;
}

export interface ObservedStack {
  /** Makes the terminating gateway's links to the legacy server and to the hub flaky (or healthy again). */
  setFlaky(flaky: boolean): void;
  readonly gateways: readonly ObservedGateway[];
  readonly prometheus: PrometheusServer;
  stop(): Promise<void>;
}

/**
 * The compose stack's processes on 127.0.0.1: the sample legacy chat and hub, and two gateways — "e2e-
 * terminate" (LEGACY_MODE=terminate, reaching the legacy server and the hub through FlakyProxies, healthy
 * until setFlaky) and "e2e-pipe" (LEGACY_MODE=pipe, direct links) — with compose's gateway environment,
 * then a Prometheus scraping both with prometheus/prometheus.yml (targets and intervals replaced, rule
 * files absolute).
 */
export async function startObservedStack(options: ObservedStackOptions): Promise<ObservedStack> {
  const compose = loadCompose();
  // Stopped in reverse order; the gateways' Redis keys (all under the prefix) are deleted last.
  const started: { stop(): Promise<void> }[] = [{ stop: () => deleteRedisKeys(options.redisUrl, options.redisKeyPrefix) }];
  const stop = async () => {
    for (const item of started.reverse()) await item.stop();
  };
  try {
    buildServices(["legacy", "hub", "switchyard-1"].map((name) => sourceOf(composeCommand(name, compose))));
    const listening = (e: Record<string, unknown>) => typeof e.url === "string";
    const local = { PORT: "0", HOST: "127.0.0.1" };
    const legacy = await startNodeService(composeCommand("legacy", compose), local, listening);
    started.push(legacy);
    const hub = await startNodeService(composeCommand("hub", compose), local, listening);
    started.push(hub);
    const legacyLink = await FlakyProxy.start(Number(new URL(String(legacy.ready.url)).port));
    started.push({ stop: () => legacyLink.close() });
    const hubLink = await FlakyProxy.start(Number(new URL(String(hub.ready.url)).port));
    started.push({ stop: () => hubLink.close() });

    const startGateway = async (id: string, extra: Record<string, string>): Promise<ObservedGateway> => {
      const env: Record<string, string> = {
        ...compose.services["switchyard-1"]!.environment!,
        ...extra,
        INSTANCE_ID: id,
        PORT: "0",
        OPS_PORT: "0",
        HOST: "127.0.0.1",
        OPS_HOST: "127.0.0.1",
        HUB_URL: extra.HUB_URL ?? String(hub.ready.url),
        REDIS_URL: options.redisUrl,
        REDIS_KEY_PREFIX: options.redisKeyPrefix,
        // The room bridge is on with Redis: this stack's own worlds, so that no other test's rooms meet its.
        ADAPTER_KEY: `${options.redisKeyPrefix}rooms`,
        SHADOW_ADAPTER_KEY: `${options.redisKeyPrefix}shadow-rooms`,
        ROUTING_CONFIG: options.routingConfig,
        LOG_LEVEL: "info",
      };
      delete env.INTERNAL_URL;
      const service = await startNodeService(composeCommand("switchyard-1", compose), env, (e) => e.msg === "switchyard listening");
      started.push(service);
      return { id, url: String(service.ready.url), opsTarget: new URL(String(service.ready.ops)).host, service };
    };
    const gateways = [
      await startGateway("e2e-terminate", {
        LEGACY_URL: `http://127.0.0.1:${legacyLink.port}`,
        HUB_URL: `ws://127.0.0.1:${hubLink.port}/`,
        LEGACY_MODE: "terminate",
      }),
      await startGateway("e2e-pipe", { LEGACY_URL: String(legacy.ready.url), LEGACY_MODE: "pipe" }),
    ];

    const config = parseYaml(readFileSync(join(REPO_ROOT, "prometheus", "prometheus.yml"), "utf8")) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    config.global.scrape_interval = options.scrapeInterval;
    config.global.evaluation_interval = options.scrapeInterval;
    config.rule_files = config.rule_files.map((file) => join(REPO_ROOT, "prometheus", file));
    config.scrape_configs[0]!.static_configs = [{ targets: gateways.map((g) => g.opsTarget) }];
    const prometheus = await startPrometheus(toYaml(config));
    started.push(prometheus);
    const setFlaky = (flaky: boolean) => {
      legacyLink.flaky = flaky;
      hubLink.flaky = flaky;
    };
    return { setFlaky, gateways, prometheus, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Deletes every key under `prefix` (the gateways' REDIS_KEY_PREFIX), so that runs leave Redis as they found it. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
