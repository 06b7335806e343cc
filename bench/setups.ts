/**
 * The setups a bench run compares. A setup is how to start its server processes and the URL clients
 * connect to; the runner owns everything else (load, measurement, teardown: every process a setup
 * spawns through the context is stopped by the runner, even when start() fails half way).
 * To add one (e.g. "hub route", "legacy route with 100% shadowing"), append a definition here.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SETTINGS } from "../src/config/settings.js";
import { freePort, waitUntilReady, type ServerProcess, type SpawnServerOptions } from "./processes.js";

/** "front" = the process between clients and the legacy server (proxy or gateway): RSS per session and the headline CPU ratio are its. */
export type ProcessRole = "backend" | "front";

export interface MeasuredProcess {
  readonly role: ProcessRole;
  readonly server: ServerProcess;
}

export interface RunningSetup {
  /** What socket.io clients connect to. */
  readonly url: string;
  readonly processes: readonly MeasuredProcess[];
  /** A Prometheus endpoint scraped after the measured window (Switchyard's /metrics). */
  readonly metricsUrl?: string;
}

export interface SetupContext {
  /** Starts a server process that the runner measures nothing of unless returned, but always stops. */
  spawn(options: SpawnServerOptions): Promise<ServerProcess>;
  /** Node flags for the front process (--profile); empty for a normal run. */
  readonly frontNodeArgs: readonly string[];
}

export interface SetupDefinition {
  /** Used with --setups. */
  readonly id: string;
  /** Shown in the tables. */
  readonly name: string;
  start(context: SetupContext): Promise<RunningSetup>;
  /** The same setup on another build's gateway and sample hub (`<id>@base`, BENCH_BASELINE_DIST), for A/B in one run. */
  readonly baseline?: (dist: string) => SetupDefinition;
}

/** The setup every ratio is computed against. */
export const BASELINE_SETUP_ID = "passthrough";

const script = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
export const SCRIPTS = {
  legacyChat: script("../examples/legacy-chat/server.js"),
  passthroughProxy: script("./servers/passthrough-proxy.js"),
  sampleHub: script("../examples/hub/server.js"),
  switchyard: script("../src/main.js"),
  loadgen: script("./loadgen.js"),
};

/**
 * The environment of measured processes: ours, minus every Switchyard setting (a developer's
 * SWITCHYARD_CONFIG or REDIS_URL must not change what is measured).
 */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !(key in SETTINGS) && key !== "SWITCHYARD_CONFIG" && key !== "NODE_OPTIONS") env[key] = value;
  }
  return { ...env, ...extra };
}

async function startLegacy(context: SetupContext, env: Record<string, string> = {}): Promise<ServerProcess> {
  return context.spawn({
    label: "legacy server",
    script: SCRIPTS.legacyChat,
    env: baseEnv({ PORT: "0", HOST: "127.0.0.1", ...env }),
    printsUrl: true,
  });
}

/** The Redis of the "mixed" setup (not measured: it is shared infrastructure, like the legacy deployment's). */
const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

function urlOf(server: ServerProcess): string {
  if (server.url === undefined) throw new Error(`${server.label} did not report its URL`);
  return server.url;
}

/**
 * The sample hub. Switchyard starts one itself as its own child when HUB_URL is unset; we start it here
 * instead so that the runner owns (and always stops) it, and so that a hub-route setup can measure it.
 */
async function startSampleHub(context: SetupContext, env: Record<string, string> = {}, script = SCRIPTS.sampleHub): Promise<ServerProcess> {
  return context.spawn({
    label: "sample hub",
    script,
    env: baseEnv({ PORT: "0", HOST: "127.0.0.1", ...env }),
    printsUrl: true,
  });
}

interface SwitchyardSetupOptions {
  readonly id: string;
  readonly name: string;
  readonly mode: "pipe" | "terminate";
  /** More Switchyard settings (e.g. ADMIN_TOKEN for a setup that changes routing after start). */
  readonly env?: Record<string, string>;
  /** More settings of the sample legacy chat (REDIS_URL and ADAPTER_KEY: rooms on @socket.io/redis-adapter). */
  readonly legacyEnv?: Record<string, string>;
  /** More settings of the sample hub (HUB_ROOMS). */
  readonly hubEnv?: Record<string, string>;
  /**
   * Runs once Switchyard is ready, before any client connects: e.g. set the hub share or shadowing
   * through the admin API at `opsUrl`. Return extra processes to measure (the hub in a hub-route setup).
   */
  readonly configure?: (opsUrl: string, started: { legacy: ServerProcess; hub: ServerProcess }) => Promise<MeasuredProcess[] | undefined>;
  /** Another build's dist directory: its src/main.js and examples/hub/server.js run instead of this one's. */
  readonly dist?: string;
}

function switchyardSetup(options: SwitchyardSetupOptions): SetupDefinition {
  const scripts =
    options.dist === undefined
      ? SCRIPTS
      : { ...SCRIPTS, switchyard: join(options.dist, "src/main.js"), sampleHub: join(options.dist, "examples/hub/server.js") };
  return {
    id: options.id,
    name: options.name,
    baseline: (dist) => switchyardSetup({ ...options, id: `${options.id}@base`, name: `${options.name} (baseline build)`, dist }),
    async start(context) {
      const legacy = await startLegacy(context, options.legacyEnv);
      const hub = await startSampleHub(context, options.hubEnv, scripts.sampleHub);
      // main.js logs its URL only at info level; we run it at warn (as the issue asks), so we choose its ports.
      const [port, opsPort] = [await freePort(), await freePort()];
      const gateway = await context.spawn({
        label: `switchyard (${options.mode})`,
        script: scripts.switchyard,
        env: baseEnv({
          LEGACY_URL: urlOf(legacy),
          HUB_URL: urlOf(hub),
          LEGACY_MODE: options.mode,
          PORT: String(port),
          HOST: "127.0.0.1",
          OPS_PORT: String(opsPort),
          OPS_HOST: "127.0.0.1",
          LOG_LEVEL: "warn",
          ...options.env,
        }),
        printsUrl: false,
        nodeArgs: context.frontNodeArgs,
      });
      const opsUrl = `http://127.0.0.1:${opsPort}`;
      await waitUntilReady(`${opsUrl}/readyz`, gateway.child, gateway.label);
      // The hub is idle unless a setup routes or shadows sessions to it, so by default it is not measured.
      const extra = (await options.configure?.(opsUrl, { legacy, hub })) ?? [];
      return {
        url: `http://127.0.0.1:${port}`,
        processes: [{ role: "backend", server: legacy }, { role: "front", server: gateway }, ...extra],
        metricsUrl: `${opsUrl}/metrics`,
      };
    },
  };
}

/**
 * "mixed 50 %": the legacy chat on @socket.io/redis-adapter and the gateway's room bridge on one adapter key
 * (fresh per run, on BENCH_REDIS_URL), half of the users on each backend by their `name`. Every room holds
 * users of both backends; a legacy broadcast reaches the hub-routed half through the bridge and a hub
 * broadcast the legacy-routed half. Redis's own CPU is not measured.
 */
function mixedSetup(workers = 1): SetupDefinition {
  const adapter = benchRedis(workers === 1 ? "mixed" : `mixed-w${workers}`);
  return switchyardSetup({
    id: workers === 1 ? "mixed50" : `mixed50-w${workers}`,
    name: `switchyard mixed 50 % (legacy on the Redis adapter)${workers === 1 ? "" : `, ${workers} workers`}`,
    mode: "pipe",
    legacyEnv: { REDIS_URL: adapter.REDIS_URL, ADAPTER_KEY: adapter.ADAPTER_KEY, REDIS_KEY_PREFIX: adapter.REDIS_KEY_PREFIX },
    env: {
      ...adapter,
      WORKERS: String(workers),
      ROUTING_CONFIG: JSON.stringify({ hubPercent: 50, key: { sources: ["query:name"] } }),
    },
    configure: async (_opsUrl, { hub }) => [{ role: "backend", server: hub }],
  });
}

/** Fresh Redis keys and adapter channels on BENCH_REDIS_URL for one setup of this run (several may share Redis). */
function benchRedis(name: string): {
  REDIS_URL: string;
  ADAPTER_KEY: string;
  SHADOW_ADAPTER_KEY: string;
  REDIS_KEY_PREFIX: string;
} {
  const tag = `${name}-${process.pid}-${Date.now().toString(36)}`;
  return {
    REDIS_URL: BENCH_REDIS_URL,
    ADAPTER_KEY: `swy-bench-${tag}`,
    SHADOW_ADAPTER_KEY: `swy-bench-shadow-${tag}`,
    REDIS_KEY_PREFIX: `swy-bench:{${tag}}:`,
  };
}

/**
 * WORKERS=2: one instance of two worker processes on one port (issue 14), which needs Redis (the workers share
 * routing, sessions and rooms there as instances do). The front's CPU and RSS are the primary's and the workers' summed.
 */
function workersSetup(id: string, name: string, env: Record<string, string> = {}): SetupDefinition {
  return switchyardSetup({
    id,
    name,
    mode: "pipe",
    env: { ...benchRedis(id), WORKERS: "2", ...env },
    ...(env.ROUTING_CONFIG === undefined ? {} : { configure: async (_opsUrl, { hub }) => [{ role: "backend" as const, server: hub }] }),
  });
}

export const SETUPS: readonly SetupDefinition[] = [
  {
    id: "direct",
    name: "legacy direct",
    async start(context) {
      const legacy = await startLegacy(context);
      return { url: urlOf(legacy), processes: [{ role: "backend", server: legacy }] };
    },
  },
  {
    id: BASELINE_SETUP_ID,
    name: "http-proxy-3 pass-through",
    async start(context) {
      const legacy = await startLegacy(context);
      const proxy = await context.spawn({
        label: "http-proxy-3",
        script: SCRIPTS.passthroughProxy,
        env: baseEnv({ TARGET: urlOf(legacy), PORT: "0", HOST: "127.0.0.1" }),
        printsUrl: true,
        nodeArgs: context.frontNodeArgs,
      });
      return {
        url: urlOf(proxy),
        processes: [
          { role: "backend", server: legacy },
          { role: "front", server: proxy },
        ],
      };
    },
  },
  switchyardSetup({ id: "switchyard-pipe", name: "switchyard (pipe)", mode: "pipe" }),
  switchyardSetup({ id: "switchyard-terminate", name: "switchyard (terminate)", mode: "terminate" }),
  // Every session routed to the sample hub: the gateway translates Socket.IO to the hub protocol. The sample hub
  // sends one broadcast frame per message (its rooms are the gateway's, hub protocol §2.6), encoded once here.
  switchyardSetup({
    id: "switchyard-hub",
    name: "switchyard → hub route",
    mode: "pipe",
    env: { ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }) },
    configure: async (_opsUrl, { hub }) => [{ role: "backend", server: hub }],
  }),
  // The same with the sample hub's rooms kept by the hub (HUB_ROOMS=hub): one event frame per recipient, the hub
  // protocol v1 way, as before rooms moved to the gateway; for comparison.
  switchyardSetup({
    id: "switchyard-hub-v1",
    name: "switchyard → hub route, per-recipient event frames",
    mode: "pipe",
    env: { ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }) },
    hubEnv: { HUB_ROOMS: "hub" },
    configure: async (_opsUrl, { hub }) => [{ role: "backend", server: hub }],
  }),
  // The hub route over switchyard-hub.v2 (docs/hub-protocol.md §11): every session on HUB_LINKS (2) shared WebSockets
  // instead of one each, the gateway's and the hub's descriptors per session halved.
  switchyardSetup({
    id: "switchyard-hub-v2",
    name: "switchyard → hub route over v2 links",
    mode: "pipe",
    env: { ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }), HUB_PROTOCOL: "auto" },
    configure: async (_opsUrl, { hub }) => [{ role: "backend", server: hub }],
  }),
  // Half of the users on each backend (keyed by the load generators' `name` query parameter), rooms shared:
  // the legacy chat on @socket.io/redis-adapter, the gateway's room bridge on the same key, through Redis.
  mixedSetup(),
  // One instance of two worker processes (WORKERS=2) on the legacy route, the hub route and the 50 % split.
  workersSetup("switchyard-pipe-w2", "switchyard (pipe), 2 workers"),
  workersSetup("switchyard-hub-w2", "switchyard → hub route, 2 workers", { ROUTING_CONFIG: JSON.stringify({ hubPercent: 100 }) }),
  mixedSetup(2),
  // Every (legacy-route) session shadowed to the hub and compared: the cost of proof before a cutover.
  switchyardSetup({
    id: "switchyard-shadow",
    name: "switchyard legacy + 100% shadow",
    mode: "pipe",
    env: {
      ROUTING_CONFIG: JSON.stringify({
        hubPercent: 0,
        shadow: {
          percent: 100,
          rules: [
            { event: "msg", ignore: ["ts", "id"] },
            { event: "welcome", ignore: ["ts"] },
            // Another session's socket id differs between the backends (docs/shadowing.md): known noise.
            { event: "joined", ignore: ["id"] },
          ],
        },
      }),
    },
    configure: async (_opsUrl, { hub }) => [{ role: "backend", server: hub }],
  }),
];

/**
 * `<id>@base` is setup `<id>` on the build in BENCH_BASELINE_DIST (e.g. a `tsc -p bench/tsconfig.json` of another
 * commit): before and after a change, side by side in one run.
 */
function lookup(id: string): SetupDefinition | undefined {
  const [own, variant] = id.split("@");
  const setup = SETUPS.find((s) => s.id === own);
  if (variant === undefined) return setup;
  const dist = process.env.BENCH_BASELINE_DIST;
  if (variant !== "base" || dist === undefined || setup?.baseline === undefined) return undefined;
  return setup.baseline(dist);
}

export function selectSetups(ids: readonly string[] | undefined): SetupDefinition[] {
  if (ids === undefined || ids.length === 0) return [...SETUPS];
  const unknown = ids.filter((id) => lookup(id) === undefined);
  if (unknown.length > 0)
    throw new Error(
      `unknown setup(s) ${unknown.join(", ")}; known: ${SETUPS.map((s) => s.id).join(", ")} ` +
        "(and <switchyard setup>@base with BENCH_BASELINE_DIST)",
    );
  return ids.map((id) => lookup(id)!);
}
