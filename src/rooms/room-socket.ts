/**
 * One hub-routed socket (a hub session's socket in one namespace) as socket.io-adapter sees a socket:
 * the adapter resolves a broadcast's recipients to these and calls `client.writeToEngine` once per
 * recipient with the one encoding of the broadcast; remote requests (fetchSockets, socketsJoin,
 * socketsLeave, disconnectSockets, broadcasts with acks) use the rest. The hot path is writeToEngine:
 * no allocation, no JSON, no metrics call per recipient.
 */
import type { ClientContext } from "../upstream/client-context.js";
import type { DeliveryOptions, UpstreamMessage } from "../upstream/upstream.js";
import type { RoomNamespace } from "./room-namespace.js";

/** The hub session behind a socket (HubUpstream): where deliveries go and what the gateway may do to it. */
export interface RoomMember {
  readonly sessionId: string;
  readonly context: ClientContext;
  /** One message for the client, through the session's gate (order with its other messages kept). */
  deliver(message: UpstreamMessage, options: DeliveryOptions | undefined): void;
  /** Another node disconnected the socket (`close`: the whole session), as socket.io's `socket.disconnect(close)`. */
  disconnectSocket(nsp: string, close: boolean): void;
  /** Another node made the socket join or leave rooms: the hub is told (an additive gateway→hub frame). */
  roomsChanged(nsp: string, type: "join" | "leave", rooms: readonly string[]): void;
}

/** socket.io's `socket.handshake`, as fetchSockets() reports it to other nodes. */
export interface Handshake {
  readonly headers: Readonly<Record<string, string>>;
  readonly time: string;
  readonly address: string;
  readonly xdomain: boolean;
  readonly secure: boolean;
  readonly issued: number;
  readonly url: string;
  readonly query: Readonly<Record<string, string>>;
  readonly auth: Readonly<Record<string, unknown>>;
}

type Ack = (...args: unknown[]) => void;

/** Broadcast-with-ack callbacks a socket may hold for a client that never answers; beyond it the oldest go. */
export const MAX_PENDING_GATEWAY_ACKS = 256;

/** socket.io's `socket.acks`, bounded: a client that never answers cannot grow it without limit. */
class BoundedAcks extends Map<number, Ack> {
  override set(id: number, ack: Ack): this {
    if (this.size >= MAX_PENDING_GATEWAY_ACKS && !this.has(id)) this.delete(this.keys().next().value as number);
    return super.set(id, ack);
  }
}

export class RoomSocket {
  /** socket.io's `socket.data` (empty: the gateway knows no application data). */
  readonly data: Record<string, unknown> = {};
  /** socket.io's `socket.client` is where the adapter writes: the socket itself here. */
  readonly client = this;
  private ackBook: BoundedAcks | undefined;
  private readonly issued = Date.now();

  constructor(
    readonly id: string,
    readonly nsp: RoomNamespace,
    readonly member: RoomMember,
    private readonly auth: Readonly<Record<string, unknown>>,
  ) {}

  /** The adapter's write: one recipient of a broadcast (encodedPackets: a string, or a binary packet and its attachments). */
  writeToEngine(encodedPackets: readonly (string | Buffer)[], options: DeliveryOptions): void {
    const world = this.nsp.world;
    world.deliveries++;
    world.messages += encodedPackets.length;
    // Every part carries the options: they mark a broadcast delivery (counted per broadcast, not per
    // message); the pre-built frame exists only for a one-part (text) encoding.
    for (let i = 0; i < encodedPackets.length; i++) this.member.deliver(encodedPackets[i]!, options);
  }

  /** socket.io's `socket.acks`, created on first use (only broadcasts with acks from other nodes need it). */
  get acks(): Map<number, Ack> {
    this.ackBook ??= new BoundedAcks();
    return this.ackBook;
  }

  /** The client answered the gateway-numbered event `id`. */
  answerAck(id: number, args: unknown[]): void {
    const ack = this.ackBook?.get(id);
    if (ack === undefined) return;
    this.ackBook!.delete(id);
    ack(...args);
  }

  get rooms(): Set<string> {
    return this.nsp.adapter.socketRooms(this.id) ?? new Set([this.id]);
  }

  get handshake(): Handshake {
    const context = this.member.context;
    const query = Object.fromEntries(context.query);
    return {
      headers: context.headers,
      time: new Date(this.issued).toString(),
      address: context.remoteAddress,
      xdomain: context.headers.origin !== undefined,
      secure: context.headers["x-forwarded-proto"] === "https",
      issued: this.issued,
      url: `/socket.io/?${new URLSearchParams(context.query as [string, string][]).toString()}`,
      query,
      auth: this.auth,
    };
  }

  /** socket.io's `socket.join` as another node's socketsJoin calls it (names from Redis: checked). */
  join(rooms: unknown): this {
    const names = this.nsp.world.roomNames(rooms);
    if (names.length === 0) return this;
    this.nsp.adapter.addAll(this.id, new Set(names));
    this.member.roomsChanged(this.nsp.name, "join", names);
    return this;
  }

  /** socket.io's `socket.leave`, as another node's socketsLeave calls it. */
  leave(room: unknown): this {
    const names = this.nsp.world.roomNames(room);
    if (names.length === 0) return this;
    for (const name of names) this.nsp.adapter.del(this.id, name);
    this.member.roomsChanged(this.nsp.name, "leave", names);
    return this;
  }

  /** socket.io's server-side `socket.disconnect(close)`, as another node's disconnectSockets calls it. */
  disconnect(close: unknown): this {
    this.member.disconnectSocket(this.nsp.name, close === true);
    return this;
  }
}
