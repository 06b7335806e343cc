/**
 * A room world: the hub-routed sockets of this gateway instance that share one adapter key, with their
 * rooms, per namespace. Two exist: the primary world (ADAPTER_KEY: the one legacy socket.io nodes on the
 * Redis adapter share) and the shadow world (SHADOW_ADAPTER_KEY: shadow hub sessions only, never heard by
 * legacy nodes or real sessions). Each namespace gets an official adapter over a RoomNamespace facade:
 * the Redis adapter (through the bridge) when REDIS_URL is set and BRIDGE is on, socket.io-adapter's
 * in-memory Adapter otherwise (rooms then span this instance only).
 *
 * Exactly once: every socket is a member of exactly one node's adapter (the gateway's for hub-routed
 * sockets, a legacy node's for legacy-routed ones), and an adapter delivers only to its own members.
 */
import type { Adapter } from "socket.io-adapter";
import type { RoomFrameLimits } from "../protocol/hub-frames.js";
import { PACKET_TYPE } from "../protocol/socketio.js";
import { publish, type RoomWorldName } from "../telemetry/events.js";
import { RoomNamespace } from "./room-namespace.js";
import { RoomSocket, type RoomMember } from "./room-socket.js";

export type WorldName = RoomWorldName;
/** Where a broadcast came from: a hub frame on this instance, another gateway instance, a legacy node, an emitter. */
export type BroadcastSource = "hub" | "gateway" | "legacy" | "emitter";

export interface RoomWorldOptions {
  readonly name: WorldName;
  readonly createAdapter: (nsp: RoomNamespace) => Adapter;
  readonly limits: RoomFrameLimits;
  /** A namespace without sockets is dropped (its adapter closed, its channels unsubscribed) after this long. */
  readonly idleMs: number;
}

export interface DeliveryMark {
  readonly deliveries: number;
  readonly messages: number;
}

/** The flag a gateway puts on the broadcasts it publishes: its wall-clock time, for the bridge lag. */
export const PUBLISHED_AT_FLAG = "switchyardPublishedAt";

export class RoomWorld {
  readonly name: WorldName;
  /** Deliveries made (one per recipient of a broadcast); RoomSocket counts, telemetry reads per broadcast. */
  deliveries = 0;
  /** Engine.IO messages those deliveries wrote (a binary broadcast is several per recipient). */
  messages = 0;
  private readonly namespaces = new Map<string, RoomNamespace>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: RoomWorldOptions) {
    this.name = options.name;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, options.idleMs / 2));
    this.sweeper.unref();
  }

  /** Sockets in every namespace of this world, on this instance. */
  get socketCount(): number {
    let count = 0;
    for (const nsp of this.namespaces.values()) count += nsp.sockets.size;
    return count;
  }

  get namespaceCount(): number {
    return this.namespaces.size;
  }

  /** The socket `sid` of a hub session in `nsp` exists; undefined when the sid is taken (a hub bug). */
  addSocket(nsp: string, sid: string, member: RoomMember, auth: Readonly<Record<string, unknown>>): RoomSocket | undefined {
    const namespace = this.namespace(nsp);
    if (namespace.sockets.has(sid)) return undefined;
    const socket = new RoomSocket(sid, namespace, member, auth);
    namespace.sockets.set(sid, socket);
    namespace.idleSince = undefined;
    // As in socket.io, every socket is in the room named by its own id.
    namespace.adapter.addAll(sid, new Set([sid]));
    return socket;
  }

  removeSocket(socket: RoomSocket): void {
    const namespace = socket.nsp;
    if (namespace.sockets.get(socket.id) !== socket) return;
    namespace.sockets.delete(socket.id);
    namespace.adapter.delAll(socket.id);
    if (namespace.sockets.size === 0) namespace.idleSince = Date.now();
  }

  /** A hub's join frame. */
  join(socket: RoomSocket, rooms: readonly string[]): void {
    if (socket.nsp.sockets.get(socket.id) !== socket || rooms.length === 0) return;
    socket.nsp.adapter.addAll(socket.id, new Set(rooms));
  }

  /** A hub's leave frame. */
  leave(socket: RoomSocket, rooms: readonly string[]): void {
    if (socket.nsp.sockets.get(socket.id) !== socket) return;
    for (const room of rooms) socket.nsp.adapter.del(socket.id, room);
  }

  /**
   * A hub's broadcast frame: socket.io's `io.of(nsp).to(rooms).except(except).emit(...data)`. The adapter
   * publishes it (bridge) and delivers to this instance's members at once, in this call.
   */
  broadcast(nsp: string, rooms: readonly string[], except: readonly string[], data: unknown[]): void {
    if (this.closed) return;
    const namespace = this.namespace(nsp);
    // A namespace used for broadcasts only stays while they go on.
    if (namespace.sockets.size === 0) namespace.idleSince = Date.now();
    const before = this.mark();
    namespace.adapter.broadcast(
      { type: PACKET_TYPE.EVENT, nsp, data },
      { rooms: new Set(rooms), except: new Set(except), flags: { [PUBLISHED_AT_FLAG]: Date.now() } as Record<string, unknown> },
    );
    this.noteBroadcast("hub", before);
  }

  /** The delivery counters before a broadcast, for noteBroadcast. */
  mark(): DeliveryMark {
    return { deliveries: this.deliveries, messages: this.messages };
  }

  /** Publishes the telemetry of one broadcast delivered locally (one event per broadcast, whatever its recipients). */
  noteBroadcast(source: BroadcastSource, before: DeliveryMark): void {
    publish("switchyard:rooms:broadcast", {
      world: this.name,
      source,
      recipients: this.deliveries - before.deliveries,
      messages: this.messages - before.messages,
    });
  }

  /**
   * Room names from another node's request (untrusted: Redis): a name or a list of names, strings within
   * the room limits; anything else yields nothing.
   */
  roomNames(value: unknown): string[] {
    const list = Array.isArray(value) ? value : [value];
    if (list.length > this.options.limits.maxRooms) return [];
    const names: string[] = [];
    for (const item of list) {
      if (typeof item === "string" && item.length <= this.options.limits.maxRoomLength) names.push(item);
      else if (typeof item === "number" && Number.isFinite(item)) names.push(String(item));
      else return [];
    }
    return names;
  }

  /** The namespace facade, created (with its adapter) on first use. */
  namespace(name: string): RoomNamespace {
    let namespace = this.namespaces.get(name);
    if (namespace === undefined) {
      namespace = new RoomNamespace(name, this);
      namespace.adapter = this.options.createAdapter(namespace);
      namespace.idleSince = Date.now();
      this.namespaces.set(name, namespace);
    }
    return namespace;
  }

  private sweep(): void {
    const threshold = Date.now() - this.options.idleMs;
    for (const [name, namespace] of this.namespaces) {
      if (namespace.sockets.size > 0 || namespace.idleSince === undefined || namespace.idleSince > threshold) continue;
      this.namespaces.delete(name);
      namespace.adapter.close();
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const namespace of this.namespaces.values()) namespace.adapter.close();
    this.namespaces.clear();
  }
}
