/**
 * Which instance serves a request whose sid this instance does not terminate: its owner, found in the
 * shared session registry, or this one (the sid is a pipe session's, or nobody's). Most such sids are pipe
 * sessions whose requests go straight to the legacy server, so a short negative cache spares them a
 * registry lookup each; a request another instance already forwarded is never forwarded again (no loops).
 */
import type { IncomingMessage } from "node:http";
import { wasForwarded } from "./gateway-headers.js";
import type { SessionDirectory } from "./session-directory.js";

const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_CAPACITY = 50_000;

/** Remembers sids that no other instance owns, for a while (a sid never changes owner). */
export class NegativeOwnerCache {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly ttlMs = NEGATIVE_TTL_MS,
    private readonly capacity = NEGATIVE_CAPACITY,
  ) {}

  has(sid: string): boolean {
    const until = this.entries.get(sid);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.entries.delete(sid);
    return false;
  }

  add(sid: string): void {
    if (this.entries.size >= this.capacity) {
      // Maps iterate in insertion order: drop the oldest tenth.
      let drop = Math.max(1, Math.floor(this.capacity / 10));
      for (const key of this.entries.keys()) {
        this.entries.delete(key);
        if (--drop <= 0) break;
      }
    }
    this.entries.set(sid, Date.now() + this.ttlMs);
  }
}

export class OwnerRouting {
  constructor(
    private readonly directory: Pick<SessionDirectory, "instanceId" | "sessionOwner">,
    private readonly notOwnedElsewhere = new NegativeOwnerCache(),
  ) {}

  /** True when the request surely stays here: it was forwarded to us, or no other instance owns the sid. */
  staysHere(req: IncomingMessage, sid: string): boolean {
    return wasForwarded(req) || this.notOwnedElsewhere.has(sid);
  }

  /** The internal URL of the instance that owns `sid`; undefined when that is this instance or nobody. */
  async ownerUrl(sid: string): Promise<string | undefined> {
    const owner = await this.directory.sessionOwner(sid);
    if (owner !== undefined && owner.instanceId !== this.directory.instanceId) return owner.internalUrl;
    this.notOwnedElsewhere.add(sid);
    return undefined;
  }
}
