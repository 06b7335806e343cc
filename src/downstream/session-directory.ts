/**
 * Where sessions are registered so that every instance can find a session's owner (the Redis or memory
 * routing store implements it).
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
