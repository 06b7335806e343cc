/**
 * The acks side of SessionComparator: which event the client sent with each ack id (so that an ack
 * is named after it), and the acks waiting for the other side's answer to the same id. Both are keyed
 * by namespace + ack id: ack ids are per-socket counters chosen by the client, and the shadow receives
 * the client's packets verbatim, so both backends answer the same ids.
 */
import { PRIMARY, SHADOW, type PendingItem } from "./pending-index.js";

/** The name of an ack whose request was not seen (or was forgotten). */
export const UNKNOWN_ACK_EVENT = "$ack";

type Slots = [PendingItem | undefined, PendingItem | undefined];

function ackKey(nsp: string, ackId: number | undefined): string {
  return `${nsp}\u0000${ackId}`;
}

export class AckBook {
  private readonly requests = new Map<string, string>();
  private readonly waiting = new Map<string, Slots>();

  /** `maxRequests`: requests remembered at once; the oldest is forgotten first (never answered, most likely). */
  constructor(private readonly maxRequests: number) {}

  get requestCount(): number {
    return this.requests.size;
  }

  request(nsp: string, event: string, ackId: number): void {
    const key = ackKey(nsp, ackId);
    this.requests.delete(key);
    this.requests.set(key, event);
    if (this.requests.size > this.maxRequests) this.requests.delete(this.requests.keys().next().value as string);
  }

  eventOf(nsp: string, ackId: number): string {
    return this.requests.get(ackKey(nsp, ackId)) ?? UNKNOWN_ACK_EVENT;
  }

  forget(nsp: string, ackId: number | undefined): void {
    this.requests.delete(ackKey(nsp, ackId));
  }

  forgetAllRequests(): void {
    this.requests.clear();
  }

  /** The acks waiting for answer `ackId` in `nsp`, indexed by side. */
  waitingFor(nsp: string, ackId: number): Readonly<Slots> | undefined {
    return this.waiting.get(ackKey(nsp, ackId));
  }

  add(item: PendingItem): void {
    const key = ackKey(item.nsp, item.ackId);
    let slots = this.waiting.get(key);
    if (slots === undefined) {
      slots = [undefined, undefined];
      this.waiting.set(key, slots);
    }
    slots[item.side] = item;
  }

  remove(item: PendingItem): void {
    const key = ackKey(item.nsp, item.ackId);
    const slots = this.waiting.get(key);
    if (slots === undefined || slots[item.side] !== item) return;
    slots[item.side] = undefined;
    if (slots[PRIMARY] === undefined && slots[SHADOW] === undefined) this.waiting.delete(key);
  }
}
