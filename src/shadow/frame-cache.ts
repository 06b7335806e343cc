/**
 * Decoded Socket.IO text packets by their raw text, shared by every shadowed session of an instance.
 * A room broadcast reaches each recipient as the same text (socket.io encodes a broadcast once; the hub
 * sends every member the same event): decoding it once and handing every recipient's comparator the same
 * packet object also lets the comparator's payload keys be computed once (noise.ts memoizes them by the
 * argument list). Only complete, non-binary packets are kept: they are immutable once decoded (nothing
 * downstream writes into a packet's data). Bounded in entries and in bytes of text, oldest dropped first.
 */
import type { SocketIoPacket } from "./packet-reader.js";

/** A reader's answer for a cached text: shared as it is (no allocation per recipient). */
export interface CachedRead {
  readonly ok: true;
  readonly packet: SocketIoPacket;
}

export interface FrameCacheLimits {
  /** Entries kept at once (default 4096). */
  readonly maxEntries?: number;
  /** Characters of text kept at once, summed over the entries (default 4 Mi). */
  readonly maxChars?: number;
  /** Longer texts are not kept: a large payload is rarely broadcast and would evict many small ones (default 64 Ki). */
  readonly maxTextLength?: number;
}

export const FRAME_CACHE_DEFAULTS = { maxEntries: 4096, maxChars: 4 * 1024 * 1024, maxTextLength: 64 * 1024 } as const;

export class FrameCache {
  private readonly entries = new Map<string, CachedRead>();
  private chars = 0;
  private readonly maxEntries: number;
  private readonly maxChars: number;
  private readonly maxTextLength: number;
  /** Lookups answered from the cache, and lookups that were not (for tests and diagnostics). */
  hits = 0;
  misses = 0;

  constructor(limits: FrameCacheLimits = {}) {
    this.maxEntries = limits.maxEntries ?? FRAME_CACHE_DEFAULTS.maxEntries;
    this.maxChars = limits.maxChars ?? FRAME_CACHE_DEFAULTS.maxChars;
    this.maxTextLength = limits.maxTextLength ?? FRAME_CACHE_DEFAULTS.maxTextLength;
  }

  get size(): number {
    return this.entries.size;
  }

  get(text: string): CachedRead | undefined {
    const read = this.entries.get(text);
    if (read === undefined) this.misses++;
    else this.hits++;
    return read;
  }

  set(text: string, packet: SocketIoPacket): void {
    if (text.length > this.maxTextLength || this.entries.has(text)) return;
    this.entries.set(text, Object.freeze({ ok: true, packet }));
    this.chars += text.length;
    // Map iteration order is insertion order: the first keys are the oldest.
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= oldest.length;
    }
  }
}
