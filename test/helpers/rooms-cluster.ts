/**
 * A mixed deployment for the bridge tests: a legacy socket.io node on @socket.io/redis-adapter, the rooms
 * test hub, and gateway instances (in-process) with the bridge on, all on one Redis with a random adapter
 * key and key prefix. Members are placed on a backend by their userId (hubPercent 50 keyed by
 * query:userId, the ids picked by their bucket), so a room's hub share is exact.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { DEFAULT_SALT } from "../../src/config/routing-config.js";
import { bucketOf } from "../../src/routing/hash.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import type { ClientVersion } from "./clients.js";
import { eventually } from "./eventually.js";
import { Member, type MemberOptions, type MemberTransport } from "./room-members.js";
import { startRoomsHub, type RoomsHub } from "./rooms-hub.js";
import { startRoomsLegacy, type RoomsLegacy } from "./rooms-legacy.js";
import { gatewayEnv } from "./stack.js";

export interface RoomsCluster {
  readonly redisUrl: string;
  readonly key: string;
  readonly shadowKey: string;
  readonly legacy: RoomsLegacy;
  readonly hub: RoomsHub;
  readonly gateways: Switchyard[];
  /** Starts one more gateway instance (or replaces one that was closed). */
  startGateway(extraEnv?: Record<string, string>): Promise<Switchyard>;
  /** A member through `gateway` on the chosen backend. */
  member(
    gateway: Switchyard,
    version: ClientVersion,
    transport: MemberTransport,
    backend: "hub" | "legacy",
    nsp?: string,
    options?: MemberOptions,
  ): Promise<Member>;
  /** Waits until `count` nodes (legacy + gateways) subscribe to the namespace's request channel. */
  nodesSubscribed(count: number, nsp?: string): Promise<void>;
  close(): Promise<void>;
}

let userSeq = 0;

/** The gateways' ADMIN_TOKEN (drains and rollback in the tests). */
export const ROOMS_ADMIN_TOKEN = "rooms-admin-token-0123456789";

/** A userId whose bucket puts it on `backend` at hubPercent 50. */
export function userIdFor(backend: "hub" | "legacy"): string {
  for (;;) {
    const id = `user-${process.pid}-${userSeq++}`;
    if (bucketOf(DEFAULT_SALT, id) < 5000 === (backend === "hub")) return id;
  }
}

export async function startRoomsCluster(
  redisUrl: string,
  gatewayCount: number,
  extraEnv: Record<string, string> = {},
): Promise<RoomsCluster> {
  const tag = randomBytes(4).toString("hex");
  const key = `swy-test-${tag}`;
  const shadowKey = `swy-shadow-${tag}`;
  const prefix = `switchyard:{rooms-${tag}}:`;
  const legacy = await startRoomsLegacy(redisUrl, key);
  const hub = await startRoomsHub();
  const gateways: Switchyard[] = [];
  const members: Member[] = [];
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  let instances = 0;
  const startGateway = async (env: Record<string, string> = {}) => {
    const config = loadStaticConfig(
      gatewayEnv({
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
        ADAPTER_KEY: key,
        SHADOW_ADAPTER_KEY: shadowKey,
        ADMIN_TOKEN: ROOMS_ADMIN_TOKEN,
        // In-process instances need names of their own (drains are fanned out to the *other* instances).
        INSTANCE_ID: `rooms-${tag}-${instances++}`,
        ROUTING_CONFIG: JSON.stringify({ hubPercent: 50, key: { sources: ["query:userId"] } }),
        ...extraEnv,
        ...env,
      }),
    );
    const gateway = await startSwitchyard({ config, legacyUrl: legacy.url, hubUrl: hub.url, storeTuning: { pollIntervalMs: 100 } });
    gateways.push(gateway);
    return gateway;
  };
  for (let i = 0; i < gatewayCount; i++) await startGateway();
  return {
    redisUrl,
    key,
    shadowKey,
    legacy,
    hub,
    gateways,
    startGateway,
    member: async (gateway, version, transport, backend, nsp = "/", options = {}) => {
      const member = await Member.connect(gateway.url, version, transport, nsp, { userId: userIdFor(backend) }, options);
      members.push(member);
      return member;
    },
    nodesSubscribed: async (count, nsp = "/") => {
      if (redis.status === "wait") await redis.connect();
      await eventually(
        async () => {
          const [, n] = (await redis.call("PUBSUB", "NUMSUB", `${key}-request#${nsp}#`)) as [string, number];
          return n === count;
          // Subscribing (and a stopped node's unsubscribing) takes a Redis round trip per node: generous on a busy machine.
        },
        `${count} adapter nodes on ${nsp}`,
        15_000,
      );
    },
    close: async () => {
      for (const member of members) member.close();
      for (const gateway of gateways) await gateway.close().catch(() => undefined);
      await hub.close();
      await legacy.close();
      redis.disconnect();
    },
  };
}
