/**
 * The terminated sessions of this instance, by engine id, with their counts per backend and transport kept
 * as sessions bind, upgrade and close, so that heartbeats and scrapes read them without walking every
 * session. A session counts once it has a backend (a session whose route waits for its first CONNECT
 * does not count yet).
 */
import type { Backend, ClientTransport, SessionCounts } from "../domain.js";
import { emptySessionCounts } from "../store/routing-store.js";

/** What the table needs to know of a session. */
export interface CountedSession {
  readonly id: string;
  readonly backend: Backend | undefined;
  readonly transport: ClientTransport;
}

export class SessionTable<S extends CountedSession> {
  private readonly sessions = new Map<string, S>();
  /** Where each counted session is counted: its backend and transport when last seen. */
  private readonly countedAs = new Map<string, { backend: Backend; transport: ClientTransport }>();
  private readonly tally = emptySessionCounts();

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): S | undefined {
    return this.sessions.get(id);
  }

  values(): IterableIterator<S> {
    return this.sessions.values();
  }

  add(session: S): void {
    this.sessions.set(session.id, session);
    this.recount(session);
  }

  /** The session got its backend or changed transport: move it to where it counts now. */
  recount(session: S): void {
    if (this.sessions.get(session.id) !== session) return;
    this.uncount(session.id);
    if (session.backend === undefined) return;
    const at = { backend: session.backend, transport: session.transport };
    this.tally[at.backend][at.transport]++;
    this.countedAs.set(session.id, at);
  }

  delete(session: S): void {
    if (this.sessions.get(session.id) !== session) return;
    this.uncount(session.id);
    this.sessions.delete(session.id);
  }

  /** A copy of the counts: the caller may add to it. */
  counts(): SessionCounts {
    return { legacy: { ...this.tally.legacy }, hub: { ...this.tally.hub } };
  }

  private uncount(id: string): void {
    const at = this.countedAs.get(id);
    if (at === undefined) return;
    this.tally[at.backend][at.transport]--;
    this.countedAs.delete(id);
  }
}
