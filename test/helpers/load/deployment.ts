/**
 * The deployment the load and fault tests run against, every part a real process or server on
 * 127.0.0.1: a private redis-server (stopped and restarted empty by the Redis fault; the shared one is
 * never touched), the rooms legacy node (socket.io 4 on the Redis adapter) behind a TCP proxy that can
 * stall it, the rooms hub, both backends in processes of their own (killed with SIGKILL, started again on
 * the same port), two gateway processes (src/main.ts) on fixed ports sharing Redis and the room bridge,
 * and a fail-over balancer in front of the gateways. Routing: 50 % of users on the hub, by query userId.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { eventually } from "../eventually.js";
import { startGatewayProcess, type GatewayProcess } from "../process.js";
import { freePort } from "../ports.js";
import { reapOnExit } from "../reap.js";
import { RedisServer } from "../redis-server.js";
import { TcpProxy } from "../tcp-proxy.js";
import { FailoverBalancer } from "./failover-balancer.js";

const BACKEND_MAIN = fileURLToPath(new URL("./backend-main.ts", import.meta.url));
export const LOAD_ADMIN_TOKEN = "load-admin-token-0123456789";

export interface DeploymentOptions {
  readonly mode?: "pipe" | "terminate";
  /** The legacy node's Engine.IO ping (pipe clients and the gateway's engine.io both use it). Default: socket.io's. */
  readonly legacyPing?: { readonly interval: number; readonly timeout: number };
  readonly drainTimeoutMs?: number;
  readonly env?: Record<string, string>;
}

/** One Prometheus sample. */
export interface Sample {
  readonly name: string;
  readonly labels: string;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) samples.push({ name: match[1]!, labels: match[2] ?? "", value: Number(match[3]) });
  }
  return samples;
}

/** The sum of a metric's samples, optionally only those whose labels contain `having`. */
export function total(samples: readonly Sample[], name: string, having = ""): number {
  return samples.filter((s) => s.name === name && s.labels.includes(having)).reduce((sum, s) => sum + s.value, 0);
}

function startBackend(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", BACKEND_MAIN], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  reapOnExit(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backend ${env.KIND} did not start within 20 s`)), 20_000);
    child.once("exit", (code) => reject(new Error(`backend ${env.KIND} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.includes('"backend listening"')) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve(child);
    });
  });
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await gone;
}

export class Deployment {
  readonly gateways: (GatewayProcess | undefined)[] = [undefined, undefined];
  /** Node's process warnings the gateways printed (MaxListenersExceededWarning is a listener leak). */
  readonly warnings: string[] = [];
  private legacy: ChildProcess | undefined;
  private hub: ChildProcess | undefined;

  private constructor(
    readonly redis: RedisServer,
    readonly legacyProxy: TcpProxy,
    readonly balancer: FailoverBalancer,
    private readonly ports: { legacy: number; hub: number; gateways: number[]; ops: number[] },
    readonly prefix: string,
    readonly adapterKey: string,
    private readonly backendEnv: Record<string, string>,
    private readonly gatewayEnv: Record<string, string>,
  ) {}

  static async start(options: DeploymentOptions = {}): Promise<Deployment> {
    const tag = randomBytes(4).toString("hex");
    const redis = await RedisServer.start();
    const ports = {
      legacy: await freePort(),
      hub: await freePort(),
      gateways: [await freePort(), await freePort()],
      ops: [await freePort(), await freePort()],
    };
    const legacyProxy = await TcpProxy.start(ports.legacy);
    const adapterKey = `swy-load-${tag}`;
    const prefix = `switchyard:{load-${tag}}:`;
    const backendEnv: Record<string, string> = {
      REDIS_URL: redis.url,
      ADAPTER_KEY: adapterKey,
      ...(options.legacyPing
        ? { PING_INTERVAL: String(options.legacyPing.interval), PING_TIMEOUT: String(options.legacyPing.timeout) }
        : {}),
    };
    const gatewayEnv: Record<string, string> = {
      LEGACY_URL: `http://127.0.0.1:${legacyProxy.port}`,
      HUB_URL: `ws://127.0.0.1:${ports.hub}/`,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      ADAPTER_KEY: adapterKey,
      SHADOW_ADAPTER_KEY: `swy-load-shadow-${tag}`,
      ADMIN_TOKEN: LOAD_ADMIN_TOKEN,
      LEGACY_MODE: options.mode ?? "pipe",
      ROUTING_CONFIG: JSON.stringify({ hubPercent: 50, key: { sources: ["query:userId"] } }),
      DRAIN_TIMEOUT_MS: String(options.drainTimeoutMs ?? 10_000),
      // The gateway's own engine.io (hub and terminated sessions) pings like the legacy node.
      ...(options.legacyPing
        ? { PING_INTERVAL_MS: String(options.legacyPing.interval), PING_TIMEOUT_MS: String(options.legacyPing.timeout) }
        : {}),
      ...options.env,
    };
    const balancer = await FailoverBalancer.start(
      ports.gateways.map((port, i) => ({ url: `http://127.0.0.1:${port}`, opsUrl: `http://127.0.0.1:${ports.ops[i]}` })),
    );
    const deployment = new Deployment(redis, legacyProxy, balancer, ports, prefix, adapterKey, backendEnv, gatewayEnv);
    try {
      await Promise.all([deployment.startLegacy(), deployment.startHub()]);
      await Promise.all([deployment.startGateway(0), deployment.startGateway(1)]);
    } catch (error) {
      // Whatever did start must not outlive the failed start.
      await deployment.close().catch(() => undefined);
      throw error;
    }
    return deployment;
  }

  get url(): string {
    return this.balancer.url;
  }

  async startLegacy(): Promise<void> {
    this.legacy = await startBackend({ ...this.backendEnv, KIND: "legacy", PORT: String(this.ports.legacy) });
  }

  async killLegacy(): Promise<void> {
    await kill(this.legacy);
    this.legacy = undefined;
  }

  async startHub(): Promise<void> {
    this.hub = await startBackend({ KIND: "hub", PORT: String(this.ports.hub) });
  }

  async killHub(): Promise<void> {
    await kill(this.hub);
    this.hub = undefined;
  }

  async startGateway(index: number): Promise<GatewayProcess> {
    let gateway: GatewayProcess | undefined;
    for (let attempt = 1; gateway === undefined; attempt++) {
      const port = this.ports.gateways[index]!;
      try {
        gateway = await startGatewayProcess({
          ...this.gatewayEnv,
          INSTANCE_ID: `gw-${index}`,
          PORT: String(port),
          OPS_PORT: String(this.ports.ops[index]),
          INTERNAL_URL: `http://127.0.0.1:${port}`,
        });
      } catch (error) {
        // A port that was free at start-up may be some connection's local port by the time an instance restarts.
        if (attempt === 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
        this.ports.gateways[index] = await freePort();
        this.ports.ops[index] = await freePort();
        this.balancer.setTarget(index, {
          url: `http://127.0.0.1:${this.ports.gateways[index]}`,
          opsUrl: `http://127.0.0.1:${this.ports.ops[index]}`,
        });
      }
    }
    reapOnExit(gateway.child);
    gateway.child.stderr!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (/Warning/.test(line)) this.warnings.push(`gw-${index}: ${line}`);
    });
    this.gateways[index] = gateway;
    return gateway;
  }

  /** SIGKILL: the instance's sessions end without a word, its registry entries stay until their TTL. */
  async killGateway(index: number): Promise<void> {
    const gateway = this.gateways[index];
    this.gateways[index] = undefined;
    await kill(gateway?.child);
  }

  async metrics(index: number): Promise<Sample[]> {
    const gateway = this.gateways[index];
    if (gateway === undefined) throw new Error(`gateway ${index} is not running`);
    return parseMetrics(await (await fetch(`${gateway.opsUrl}/metrics`)).text());
  }

  /** Session registry entries in Redis: how many, and how many of them carry no TTL. */
  async registryEntries(): Promise<{ entries: number; withoutTtl: number; owners: Record<string, number> }> {
    const redis = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys: string[] = [];
      let cursor = "0";
      do {
        const pattern = `${this.prefix.replace(/[{}*?[\]\\]/g, "\\$&")}session:*`;
        const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
      let withoutTtl = 0;
      const owners: Record<string, number> = {};
      for (const key of keys) {
        if ((await redis.pttl(key)) < 0) withoutTtl++;
        const owner = (JSON.parse((await redis.get(key)) ?? "{}") as { i?: string }).i ?? "?";
        owners[owner] = (owners[owner] ?? 0) + 1;
      }
      return { entries: keys.length, withoutTtl, owners };
    } finally {
      redis.disconnect();
    }
  }

  /** Waits until `count` adapter nodes (the legacy node and the gateways) listen on the "/" request channel. */
  async nodesSubscribed(count: number, timeoutMs = 20_000): Promise<void> {
    const redis = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => undefined);
    try {
      await eventually(
        async () => {
          if (redis.status === "wait") await redis.connect();
          const [, n] = (await redis.call("PUBSUB", "NUMSUB", `${this.adapterKey}-request#/#`)) as [string, number];
          return n === count;
        },
        `${count} adapter nodes on "/"`,
        timeoutMs,
        100,
      );
    } finally {
      redis.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.balancer.close();
    await Promise.all(
      this.gateways.map(async (gateway) => {
        if (gateway === undefined) return;
        const killer = setTimeout(() => gateway.child.kill("SIGKILL"), 15_000);
        await gateway.stop();
        clearTimeout(killer);
      }),
    );
    await Promise.all([this.killLegacy(), this.killHub()]);
    await this.legacyProxy.close();
    await this.redis.stop();
  }
}
