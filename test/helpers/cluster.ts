/**
 * Several real gateway processes (src/main.ts through tsx) sharing one Redis, in front of the sample
 * legacy chat and the sample hub running in the test process, for the multi-instance tests. The test
 * sees where each session really went through the backends' own session tables (a session's engine id is
 * its backend's session id, in both modes), and drives the instances through their admin API.
 */
import { Redis } from "ioredis";
import io2 from "sio-client-2";
import { io as io3 } from "sio-client-3";
import { io as io4 } from "sio-client-4";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import type { Backend } from "../../src/domain.js";
import type { AnySocket, ClientVersion, TransportMode } from "./clients.js";
import { TRANSPORTS } from "./clients.js";
import { eventually } from "./eventually.js";
import { startGatewayProcess, type GatewayProcess } from "./process.js";
import { reapOnExit } from "./reap.js";

export const SHARED_REDIS_URL = "redis://127.0.0.1:6379";
/** 16+ characters, as ADMIN_TOKEN requires. */
export const CLUSTER_ADMIN_TOKEN = "multi-instance-admin-token-0123";

/** A key prefix no other test run shares (the braces keep every key in one Redis Cluster slot). */
export function uniquePrefix(name: string): string {
  return `switchyard:{mi-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}}:`;
}

export async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix.replace(/[{}*?[\]\\]/g, "\\$&")}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}

// ---- backends ----------------------------------------------------------------------------------

export interface Backends {
  readonly legacy: LegacyChat;
  readonly hub: SampleHub;
  /** Which backend holds the session with this engine id now (the hub's real world, or legacy's engine). */
  backendOf(sid: string | undefined): Backend | undefined;
  close(): Promise<void>;
}

export async function startBackends(): Promise<Backends> {
  const legacy = await startLegacyChat();
  const hub = await startSampleHub();
  return {
    legacy,
    hub,
    backendOf(sid) {
      if (sid === undefined) return undefined;
      if (hub.runtime.hasSession(sid, false)) return "hub";
      return Object.hasOwn((legacy.io.engine as unknown as { clients: Record<string, unknown> }).clients, sid) ? "legacy" : undefined;
    },
    close: async () => {
      await hub.close();
      await legacy.close();
    },
  };
}

// ---- gateway instances -------------------------------------------------------------------------

export interface Instance {
  readonly id: string;
  readonly process: GatewayProcess;
  /** The client listener. */
  readonly url: string;
  readonly admin: AdminCalls;
}

export interface Cluster {
  readonly instances: readonly Instance[];
  readonly prefix: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly backends: Backends;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly ids: readonly string[];
  readonly mode: "pipe" | "terminate";
  readonly routing: Record<string, unknown>;
  readonly env?: Record<string, string>;
  /** Extra settings of one instance, by id (say, its own way to Redis). */
  readonly envOf?: Readonly<Record<string, Record<string, string>>>;
  /** How long an instance may take to listen (default startGatewayProcess's; WORKERS > 1 starts several processes). */
  readonly startTimeoutMs?: number;
}

async function stopGateway(gateway: GatewayProcess): Promise<void> {
  const killer = setTimeout(() => gateway.child.kill("SIGKILL"), 5000);
  await gateway.stop();
  clearTimeout(killer);
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { backends } = options;
  const started = await Promise.allSettled(
    options.ids.map((id) =>
      startGatewayProcess(
        {
          LEGACY_URL: backends.legacy.url,
          HUB_URL: backends.hub.url,
          REDIS_URL: options.redisUrl,
          REDIS_KEY_PREFIX: options.prefix,
          ADMIN_TOKEN: CLUSTER_ADMIN_TOKEN,
          INSTANCE_ID: id,
          LEGACY_MODE: options.mode,
          ROUTING_CONFIG: JSON.stringify(options.routing),
          DRAIN_TIMEOUT_MS: "2000",
          // The room bridge is on with Redis: this cluster's own worlds, so that no other test's rooms meet its.
          ADAPTER_KEY: `${options.prefix}rooms`,
          SHADOW_ADAPTER_KEY: `${options.prefix}shadow-rooms`,
          ...options.env,
          ...options.envOf?.[id],
        },
        options.startTimeoutMs,
      ).then((gateway) => {
        reapOnExit(gateway.child);
        return gateway;
      }),
    ),
  );
  const gateways = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failure = started.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failure !== undefined) {
    await Promise.all(gateways.map(stopGateway));
    throw failure.reason;
  }
  const instances = gateways.map((gateway, i) => ({
    id: options.ids[i]!,
    process: gateway,
    url: gateway.url,
    admin: new AdminCalls(gateway.opsUrl),
  }));
  return {
    instances,
    prefix: options.prefix,
    stop: async () => {
      await Promise.all(gateways.map(stopGateway));
    },
  };
}

/** Resolves once every instance reports its store connected to Redis. */
export async function storesConnected(cluster: Cluster): Promise<void> {
  for (const instance of cluster.instances) {
    await eventually(async () => (await instance.admin.storeDetail()).startsWith("redis: connected"), `${instance.id}'s store to connect`);
  }
}

// ---- admin API ---------------------------------------------------------------------------------

export interface AdminAnswer<T = any> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** The admin API of one instance, called the way an operator's curl would. */
export class AdminCalls {
  constructor(readonly opsUrl: string) {}

  async call<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; ifMatch?: number; token?: string | null } = {},
  ): Promise<AdminAnswer<T>> {
    const headers: Record<string, string> = {};
    const token = options.token === undefined ? CLUSTER_ADMIN_TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.ifMatch !== undefined) headers["if-match"] = `"${options.ifMatch}"`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.opsUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as T, headers: response.headers };
  }

  async routing(): Promise<{ version: number; hubPercent: number } & Record<string, unknown>> {
    const answer = await this.call("GET", "/admin/routing");
    if (answer.status !== 200) throw new Error(`GET /admin/routing answered ${answer.status}`);
    return answer.body;
  }

  /** GET, then PUT with If-Match the same document with another hubPercent; returns the PUT's answer. */
  async setHubPercent(hubPercent: number): Promise<AdminAnswer> {
    const current = await this.routing();
    return this.call("PUT", "/admin/routing", { body: { ...current, hubPercent }, ifMatch: current.version });
  }

  drain(backend: Backend, percent = 100): Promise<AdminAnswer> {
    return this.call("POST", "/admin/drain", { body: { backend, percent } });
  }

  rollback(): Promise<AdminAnswer> {
    return this.call("POST", "/admin/rollback");
  }

  async sessions(): Promise<any> {
    return (await this.call("GET", "/admin/sessions")).body;
  }

  async audit(limit = 50): Promise<any[]> {
    return (await this.call("GET", `/admin/audit?limit=${limit}`)).body.entries;
  }

  readyz(): Promise<AdminAnswer<{ status: string; checks: { name: string; ok: boolean; detail?: string }[] }>> {
    return this.call("GET", "/readyz");
  }

  /** The routing store's line in /readyz. */
  async storeDetail(): Promise<string> {
    const ready = await this.readyz();
    return ready.body.checks.find((check) => check.name === "routing store")?.detail ?? "";
  }
}

// ---- raw handshakes ----------------------------------------------------------------------------

/** One real Engine.IO polling handshake with `userId` as the routing key; resolves with the sid. */
export async function rawHandshake(url: string, userId: string, eio: 3 | 4 = 4): Promise<string> {
  const response = await fetch(`${url}/socket.io/?EIO=${eio}&transport=polling&userId=${encodeURIComponent(userId)}`);
  const text = await response.text();
  const sid = /"sid":"([^"]+)"/.exec(text)?.[1];
  if (response.status !== 200 || sid === undefined) throw new Error(`handshake for ${userId} answered ${response.status}: ${text}`);
  return sid;
}

/** Ends a polling session the way a leaving client does: a lone close packet. */
export async function rawClose(url: string, sid: string, eio: 3 | 4 = 4): Promise<void> {
  const response = await fetch(`${url}/socket.io/?EIO=${eio}&transport=polling&sid=${sid}`, {
    method: "POST",
    body: eio === 4 ? "1" : "1:1",
    headers: { "content-type": "text/plain;charset=UTF-8" },
  });
  await response.text();
}

/** Runs `work` over `items` with at most `limit` at a time; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Where `keys` land: each key's handshake goes to the instance `pick(index)` names, the test reads the
 * backend that holds the new session, then closes it.
 */
export async function routeKeys(
  backends: Backends,
  keys: readonly string[],
  pick: (index: number) => { url: string; eio?: 3 | 4 },
): Promise<Backend[]> {
  return mapLimit(keys, 12, async (key, index) => {
    const { url, eio = 4 } = pick(index);
    const sid = await rawHandshake(url, key, eio);
    const backend = backends.backendOf(sid);
    await rawClose(url, sid, eio);
    if (backend === undefined) throw new Error(`the session of key ${key} (sid ${sid}) is on neither backend`);
    return backend;
  });
}

export function share(routes: readonly Backend[], backend: Backend): number {
  return (100 * routes.filter((route) => route === backend).length) / routes.length;
}

// ---- socket.io clients -------------------------------------------------------------------------

export interface ClientOptions {
  readonly transport?: TransportMode;
  readonly userId?: string;
  readonly reconnection?: boolean;
}

/** A real client of a given generation that reconnects quickly (0.1-0.2 s) when reconnection is on. */
export function openClient(version: ClientVersion, url: string, options: ClientOptions = {}): AnySocket {
  const common = {
    forceNew: true,
    transports: TRANSPORTS[options.transport ?? "websocket"],
    reconnection: options.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    timeout: 5000,
  };
  const query = options.userId === undefined ? undefined : { userId: options.userId };
  if (version === "2") {
    const text = query === undefined ? undefined : new URLSearchParams(query).toString();
    return (io2 as unknown as (url: string, opts: object) => AnySocket)(url, { ...common, ...(text === undefined ? {} : { query: text }) });
  }
  const factory = (version === "3" ? io3 : io4) as unknown as (url: string, opts: object) => AnySocket;
  return factory(url, { ...common, ...(query === undefined ? {} : { query }) });
}

/** The client's Engine.IO session id (its backend's session id). */
export function engineIdOf(socket: AnySocket): string | undefined {
  return socket.io.engine.id;
}
