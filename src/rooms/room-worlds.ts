/**
 * The gateway's two room worlds (primary and shadow), built once at start-up: over the bridge (the
 * socket.io Redis adapter protocol) when REDIS_URL is set and BRIDGE is on, in memory otherwise.
 */
import { Adapter } from "socket.io-adapter";
import type { Logger } from "pino";
import type { StaticConfig } from "../config/static-config.js";
import type { RoomFrameLimits } from "../protocol/hub-frames.js";
import type { UpstreamRole } from "../domain.js";
import { RedisBridge } from "./bridge.js";
import type { RoomNamespace } from "./room-namespace.js";
import { RoomWorld, type WorldName } from "./room-world.js";

/** A namespace with no hub-routed socket keeps its adapter (and its Redis subscriptions) this long. */
export const NAMESPACE_IDLE_MS = 30_000;

export interface RoomWorlds {
  readonly primary: RoomWorld;
  readonly shadow: RoomWorld;
  /** The world of a hub session of this role. */
  of(role: UpstreamRole): RoomWorld;
  /** Whether each world's bridge is connected; undefined without a bridge. */
  bridgeUp(): Record<WorldName, boolean> | undefined;
  close(): Promise<void>;
}

export function roomLimitsOf(config: StaticConfig): RoomFrameLimits {
  return Object.freeze({ maxRooms: config.rooms.maxRooms, maxRoomLength: config.rooms.maxRoomLength });
}

/** The worlds the configuration asks for: bridged through Redis (REDIS_URL set, BRIDGE on), or in memory. */
export function createRoomWorlds(config: StaticConfig, logger: Logger): RoomWorlds {
  if (!config.rooms.bridge || config.redisUrl === undefined) return createLocalRoomWorlds(config);
  const bridge = new RedisBridge({ url: config.redisUrl, instanceId: config.instanceId, logger });
  const limits = roomLimitsOf(config);
  const world = (name: WorldName, key: string) =>
    new RoomWorld({ name, limits, idleMs: NAMESPACE_IDLE_MS, createAdapter: (nsp) => bridge.adapter(nsp, name, key) });
  return worldsOf(
    world("primary", config.rooms.adapterKey),
    world("shadow", config.rooms.shadowAdapterKey),
    () => ({ primary: bridge.isUp, shadow: bridge.isUp }),
    () => bridge.close(),
  );
}

/** Both worlds in memory (no bridge): rooms span the hub sessions of this instance. */
export function createLocalRoomWorlds(config: StaticConfig): RoomWorlds {
  const limits = roomLimitsOf(config);
  const world = (name: WorldName) =>
    new RoomWorld({
      name,
      limits,
      idleMs: NAMESPACE_IDLE_MS,
      // The facade has what the in-memory adapter uses; socket.io's typings want a whole Namespace.
      createAdapter: (nsp: RoomNamespace) => new Adapter(nsp as unknown as ConstructorParameters<typeof Adapter>[0]),
    });
  return worldsOf(
    world("primary"),
    world("shadow"),
    () => undefined,
    async () => {},
  );
}

export function worldsOf(
  primary: RoomWorld,
  shadow: RoomWorld,
  bridgeUp: () => Record<WorldName, boolean> | undefined,
  closeBackend: () => Promise<void>,
): RoomWorlds {
  return {
    primary,
    shadow,
    of: (role) => (role === "shadow" ? shadow : primary),
    bridgeUp,
    close: async () => {
      primary.close();
      shadow.close();
      await closeBackend();
    },
  };
}
