/**
 * The part of a socket.io `Namespace` an adapter uses (socket.io-adapter's in-memory Adapter and
 * @socket.io/redis-adapter both), so that the official adapters serve the gateway's hub-routed sockets:
 * `name`, `server.encoder` (one encoding per broadcast), `server.opts`, `_ids` (ack ids of broadcasts with
 * acks, in the gateway's own range), `sockets`, `adapter` and `_onServerSideEmit`.
 */
import type { Adapter } from "socket.io-adapter";
import { GATEWAY_ACK_ID_BASE } from "../protocol/hub-frames.js";
import { encodePacketParts, type Packet } from "../protocol/socketio.js";
import type { RoomSocket } from "./room-socket.js";
import type { RoomWorld } from "./room-world.js";

/** socket.io-parser's Encoder interface, on the gateway's own encoder (src/protocol/socketio.ts). */
const ENCODER = Object.freeze({ encode: (packet: Packet): (string | Buffer)[] => encodePacketParts(packet) });

export class RoomNamespace {
  readonly server = Object.freeze({ encoder: ENCODER, opts: Object.freeze({}) });
  readonly sockets = new Map<string, RoomSocket>();
  /**
   * Ids of the events the gateway numbers itself (broadcasts with acks asked for by other nodes); they
   * start at GATEWAY_ACK_ID_BASE so that a client's ack says whose event it answers (hub ids are below).
   */
  _ids = GATEWAY_ACK_ID_BASE;
  adapter!: Adapter;
  /** When the namespace last had no socket (for dropping idle namespaces); undefined while it has some. */
  idleSince: number | undefined;

  constructor(
    readonly name: string,
    readonly world: RoomWorld,
  ) {}

  /**
   * Another node's `serverSideEmit`. The gateway runs no application handlers; with an ack callback it
   * answers at once with `null`, so that the sender's `serverSideEmitWithAck` gets one answer per node
   * and never times out because gateways take part (docs/hub-protocol.md §2.6).
   */
  _onServerSideEmit(args: unknown[]): void {
    const last = Array.isArray(args) ? args[args.length - 1] : undefined;
    if (typeof last === "function") (last as (value: unknown) => void)(null);
  }
}
