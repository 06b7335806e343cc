/**
 * Where sessions are registered so that every instance can find a session's owner (the Redis or memory
 * routing store implements it), plus a short negative cache: most unknown sids are pipe sessions whose
 * requests go straight to the legacy server, and those should not cost a registry lookup each.
 */
import type { SessionOwner } from "../store/routing-store.js";

export interface SessionDirectory {
  readonly instanceId: string;
  /** Resolves once the session is in the shared registry; never rejects. */
  registerSession(sid: string): Promise<boolean>;
  unregisterSession(sid: string): void;
  /** Never rejects; undefined when unknown. */
  sessionOwner(sid: string): Promise<SessionOwner | undefined>;
}

/** A single instance has nobody to share sessions with. */
export const LOCAL_DIRECTORY: SessionDirectory = Object.freeze({
  instanceId: "local",
  registerSession: async () => true,
  unregisterSession: () => {},
  sessionOwner: async () => undefined,
});

const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_CAPACITY = 50_000;

/** Remembers sids that no other instance owns, for a while (a sid never changes owner). */
export class NegativeOwnerCache {
  private readonly entries = new Map<string, number>();

  has(sid: string): boolean {
    const until = this.entries.get(sid);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.entries.delete(sid);
    return false;
  }

  add(sid: string): void {
    if (this.entries.size >= NEGATIVE_CAPACITY) {
      // Maps iterate in insertion order: drop the oldest tenth.
      let drop = NEGATIVE_CAPACITY / 10;
      for (const key of this.entries.keys()) {
        this.entries.delete(key);
        if (--drop <= 0) break;
      }
    }
    this.entries.set(sid, Date.now() + NEGATIVE_TTL_MS);
  }
}
