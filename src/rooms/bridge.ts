/**
 * The bridge: this gateway instance as a node of the socket.io Redis adapter protocol, with the official
 * `@socket.io/redis-adapter` (pinned exactly: two of its private methods are wrapped below) over the
 * RoomNamespace facade. One pub/sub connection pair serves both room worlds (their keys differ, so do
 * their channels).
 *
 * Everything from Redis is untrusted: a message or request that breaks the protocol is dropped and
 * counted (switchyard_bridge_malformed_total), never thrown into ioredis or the event loop. An outage
 * never crashes anything: publishes fail fast and are counted (the gap), the subscriber reconnects and
 * ioredis resubscribes every channel, the bridge state is published (switchyard_bridge_up).
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { RedisAdapter } from "@socket.io/redis-adapter";
import { Adapter } from "socket.io-adapter";
import { isPlainObject } from "../protocol/json-values.js";
import { isPayloadValid, PACKET_TYPE } from "../protocol/socketio.js";
import { createRedisClient } from "../store/redis-connection.js";
import { publish, type RoomWorldName } from "../telemetry/events.js";
import type { RoomNamespace } from "./room-namespace.js";
import { PUBLISHED_AT_FLAG, type BroadcastSource } from "./room-world.js";

export interface RedisBridgeOptions {
  readonly url: string;
  readonly instanceId: string;
  readonly logger: Logger;
}

/** The emitter's uid in broadcast messages (@socket.io/redis-emitter and its ports). */
const EMITTER_UID = "emitter";
/** Request types of the adapter protocol that carry a packet to deliver (BROADCAST: a broadcast with acks). */
const BROADCAST_REQUEST = 7;

type Listener = (...args: unknown[]) => unknown;

/** The private members of RedisAdapter 8.3.0 the bridge reads (pinned in package.json). */
interface RedisAdapterInternals {
  readonly uid: string;
  readonly channel: string;
  readonly parser: { decode(msg: Buffer): unknown };
  readonly nsp: RoomNamespace;
  hasRoom(room: string): boolean;
}

/** A packet other nodes may deliver to clients: an EVENT (binary or not) with a valid event payload. */
function isDeliverable(packet: unknown): packet is { type: number; data: unknown[]; nsp?: string } {
  return (
    isPlainObject(packet) &&
    (packet.type === PACKET_TYPE.EVENT || packet.type === PACKET_TYPE.BINARY_EVENT) &&
    isPayloadValid(PACKET_TYPE.EVENT, packet.data) &&
    (packet.nsp === undefined || typeof packet.nsp === "string")
  );
}

function isRoomList(value: unknown): value is (string | number)[] {
  return value === undefined || (Array.isArray(value) && value.every((room) => typeof room === "string" || typeof room === "number"));
}

function malformed(nsp: RoomNamespace, kind: "message" | "request"): void {
  publish("switchyard:bridge:malformed", { world: nsp.world.name, kind });
}

/**
 * RedisAdapter's `onmessage` (a broadcast from another node), validating what it delivers: only events,
 * with a valid payload and room lists, reach clients; the source and lag are recorded.
 */
function onBroadcastMessage(this: RedisAdapterInternals, _pattern: unknown, rawChannel: Buffer | string, msg: Buffer): void {
  const channel = rawChannel.toString();
  if (!channel.startsWith(this.channel)) return;
  const room = channel.slice(this.channel.length, -1);
  if (room !== "" && !this.hasRoom(room)) return;
  const nsp = this.nsp;
  try {
    const decoded = this.parser.decode(msg);
    if (!Array.isArray(decoded)) return malformed(nsp, "message");
    const [uid, packet, opts] = decoded as [unknown, unknown, unknown];
    if (uid === this.uid) return;
    if (!isDeliverable(packet) || !isPlainObject(opts) || !isRoomList(opts.rooms) || !isRoomList(opts.except))
      return malformed(nsp, "message");
    if ((packet.nsp ?? "/") !== nsp.name) return;
    const flags = isPlainObject(opts.flags) ? opts.flags : {};
    const publishedAt = flags[PUBLISHED_AT_FLAG];
    const source: BroadcastSource = uid === EMITTER_UID ? "emitter" : typeof publishedAt === "number" ? "gateway" : "legacy";
    if (source === "gateway") {
      const seconds = (Date.now() - (publishedAt as number)) / 1000;
      if (seconds >= 0) publish("switchyard:bridge:lag", { world: nsp.world.name, seconds });
    }
    const world = nsp.world;
    const before = world.mark();
    Adapter.prototype.broadcast.call(this as unknown as Adapter, packet as never, {
      rooms: new Set(opts.rooms as string[]),
      except: new Set(opts.except as string[]),
      flags,
    });
    world.noteBroadcast(source, before);
  } catch {
    malformed(nsp, "message");
  }
}

/** RedisAdapter's own `onrequest`, kept for everything it does right. */
const baseOnRequest = (RedisAdapter.prototype as unknown as { onrequest: (channel: unknown, msg: Buffer) => Promise<unknown> }).onrequest;

/**
 * RedisAdapter's `onrequest` (requests and responses of other nodes), guarded: a BROADCAST request must
 * carry a deliverable packet (anything else could write arbitrary packets to clients), and whatever the
 * base handler throws or rejects with is contained and counted.
 */
function onRequest(this: RedisAdapterInternals, rawChannel: Buffer | string, msg: Buffer): Promise<unknown> {
  const nsp = this.nsp;
  try {
    if (rawChannel.toString().includes("-request#")) {
      // Decoded as the base handler decodes it (JSON when it starts with "{", msgpack otherwise).
      const request = msg[0] === 0x7b ? JSON.parse(msg.toString()) : this.parser.decode(msg);
      if (isPlainObject(request) && request.type === BROADCAST_REQUEST && !isDeliverable(request.packet)) {
        malformed(nsp, "request");
        return Promise.resolve();
      }
    }
    return baseOnRequest.call(this, rawChannel, msg).catch(() => malformed(nsp, "request"));
  } catch {
    malformed(nsp, "request");
    return Promise.resolve();
  }
}

/** The Redis adapter with the two handlers above (bound by its constructor, so set on the prototype). */
class BridgeAdapter extends RedisAdapter {}
Object.assign(BridgeAdapter.prototype, { onmessage: onBroadcastMessage, onrequest: onRequest });

export class RedisBridge {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private up = false;
  private readonly worlds = new Set<RoomWorldName>();
  private lastErrorLog = 0;

  constructor(private readonly options: RedisBridgeOptions) {
    // Publishes fail fast while Redis is away (counted as the gap) instead of queueing stale broadcasts.
    this.pub = createRedisClient(options.url, { connectionName: `switchyard:${options.instanceId}:bridge` });
    // Subscriptions wait for the connection and are made again on every reconnect (autoResubscribe).
    this.sub = createRedisClient(options.url, {
      connectionName: `switchyard:${options.instanceId}:bridge-sub`,
      queueWhileDisconnected: true,
    });
    this.sub.setMaxListeners(0);
    for (const client of [this.pub, this.sub]) {
      client.on("ready", () => this.refresh());
      client.on("close", () => this.refresh());
      client.on("end", () => this.refresh());
      client.on("error", (error: Error) => this.logError(error));
    }
  }

  get isUp(): boolean {
    return this.up;
  }

  /** An adapter for one namespace of one world (`key`: the world's adapter key). */
  adapter(nsp: RoomNamespace, world: RoomWorldName, key: string): Adapter {
    this.worlds.add(world);
    return new BridgeAdapter(nsp as never, this.publisherFor(world), this.subscriberFacade(nsp), { key });
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private refresh(): void {
    const up = this.pub.status === "ready" && this.sub.status === "ready";
    if (up === this.up) return;
    this.up = up;
    if (up) this.options.logger.info("room bridge connected (socket.io Redis adapter protocol)");
    else this.options.logger.warn("room bridge down: rooms span this instance only until Redis returns");
    for (const world of this.worlds) publish("switchyard:bridge:state", { world, up });
  }

  private logError(error: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.options.logger.warn({ err: error.message }, "room bridge: Redis error");
  }

  /** What the adapter publishes with: every publish that fails is counted, never thrown. */
  private publisherFor(world: RoomWorldName) {
    const pub = this.pub;
    return {
      publish: (channel: string, message: string | Buffer): Promise<number> =>
        pub.publish(channel, message).catch(() => {
          publish("switchyard:bridge:gap", { world });
          return 0;
        }),
      // @socket.io/redis-adapter's serverCount() (PUBSUB NUMSUB) on an ioredis client.
      send_command: (command: string, args: unknown[], callback: (error: unknown, result?: unknown) => void) => {
        pub.call(command, ...(args as string[])).then(
          (result) => callback(null, result),
          (error: unknown) => callback(error),
        );
      },
      on: () => undefined,
      off: () => undefined,
    };
  }

  /** What the adapter subscribes with: listeners contained, subscription commands never rejecting. */
  private subscriberFacade(nsp: RoomNamespace) {
    const sub = this.sub;
    const wrapped = new Map<Listener, Listener>();
    const quietly = (operation: Promise<unknown>) => {
      operation.catch((error: Error) => this.logError(error));
    };
    const list = (channels: string | string[]) => (Array.isArray(channels) ? channels : [channels]);
    return {
      psubscribe: (pattern: string) => quietly(sub.psubscribe(pattern)),
      punsubscribe: (pattern: string) => quietly(sub.punsubscribe(pattern)),
      subscribe: (channels: string | string[]) => quietly(sub.subscribe(...list(channels))),
      unsubscribe: (channels: string | string[]) => quietly(sub.unsubscribe(...list(channels))),
      on: (event: string, listener: Listener) => {
        if (event === "error") return;
        const contained: Listener = (...args) => {
          try {
            const result = listener(...args);
            if (result instanceof Promise) result.catch(() => malformed(nsp, "request"));
          } catch {
            malformed(nsp, event === "pmessageBuffer" ? "message" : "request");
          }
        };
        wrapped.set(listener, contained);
        sub.on(event, contained);
      },
      off: (event: string, listener: Listener) => {
        const contained = wrapped.get(listener);
        if (contained !== undefined) sub.off(event, contained);
        wrapped.delete(listener);
      },
    };
  }
}
