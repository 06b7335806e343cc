/**
 * Times a session's client emits that ask for an ack: from the gateway forwarding the EVENT (or BINARY_EVENT)
 * with an ack id to the backend, until the backend's ACK (or BINARY_ACK) with that id, in that namespace,
 * comes back through the gateway. It is the one delivery latency that exists for every terminated primary
 * session on either backend (a round trip through the backend), so the rollout can compare hub and legacy.
 *
 * Cheap by construction: packets without an ack id cost nothing on the way up, and on the way down only a
 * text message starting with "3" or "6" is looked at, and only while some ack is pending.
 */
import type { Backend } from "../domain.js";
import { PACKET_TYPE, parseHeader, type Packet } from "../protocol/socketio.js";
import { publish } from "../telemetry/events.js";
import type { UpstreamMessage } from "../upstream/upstream.js";

/**
 * Pending ack ids kept per session. A client may emit with acks its backend never answers: beyond this many
 * the oldest is forgotten (not timed), so the map stays bounded and recent emits are still measured.
 */
export const MAX_PENDING_ACKS = 64;

const CODE_ACK = 48 + PACKET_TYPE.ACK;
const CODE_BINARY_ACK = 48 + PACKET_TYPE.BINARY_ACK;
/** Attachments never matter for the header of an ACK coming back; the inbound stream bounds the client's. */
const ANY_ATTACHMENTS = Number.MAX_SAFE_INTEGER;

export class AckTimer {
  /** `${nsp} ${id}` → when the emit was forwarded (performance.now(), ms). Insertion order is age order. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly backend: Backend,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A client packet was forwarded to the backend (decoded by the inbound stream: no second parse). */
  forwarded(packet: Packet | undefined): void {
    if (packet?.id === undefined || (packet.type !== PACKET_TYPE.EVENT && packet.type !== PACKET_TYPE.BINARY_EVENT)) return;
    const key = `${packet.nsp} ${packet.id}`;
    // A reused id restarts its clock (socket.io clients never reuse one while it is pending).
    this.pending.delete(key);
    if (this.pending.size >= MAX_PENDING_ACKS) this.pending.delete(this.pending.keys().next().value as string);
    this.pending.set(key, this.now());
  }

  /** A backend message on its way to the client: an ACK for a pending id publishes its latency. */
  delivered(message: UpstreamMessage): void {
    if (this.pending.size === 0 || typeof message !== "string") return;
    const first = message.charCodeAt(0);
    if (first !== CODE_ACK && first !== CODE_BINARY_ACK) return;
    let key: string;
    try {
      const header = parseHeader(message, ANY_ATTACHMENTS);
      if (header.id === undefined) return;
      key = `${header.nsp} ${header.id}`;
    } catch {
      // Not for this timer to judge: the backend's packets are the backend's (the client will see it).
      return;
    }
    const since = this.pending.get(key);
    if (since === undefined) return;
    this.pending.delete(key);
    publish("switchyard:ack:latency", { backend: this.backend, seconds: Math.max(0, this.now() - since) / 1000 });
  }

  get size(): number {
    return this.pending.size;
  }
}
