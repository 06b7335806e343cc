/**
 * Handshakes the gateway has prepared for engine.io and engine.io has not completed yet: each holds the
 * session id engine.io must give the client, and the upstream already opened for it (or nothing, when
 * the route waits for the first CONNECT). An entry leaves when engine.io completes the handshake
 * (`take`), refuses it (`refuse`) or never gets back to it (the TTL): the last two release what it holds.
 */
import type { IncomingMessage } from "node:http";
import type { Route, RouteInput } from "../routing/route.js";
import type { ClientContext } from "../upstream/client-context.js";
import type { BoundUpstream } from "./client-session.js";
import type { SessionDirectory } from "./session-directory.js";

export interface PendingHandshake {
  readonly sessionId: string;
  /** The upstream opened for the session and the route it serves; undefined when the route is deferred. */
  readonly bound: (BoundUpstream & { readonly route: Route }) | undefined;
  readonly input: RouteInput;
  readonly context: ClientContext;
  /** Releases the session's per-address lease: when the session ends, or here when it never starts. */
  readonly release?: () => void;
}

/** How long an opened upstream may wait for engine.io to complete the client handshake. */
export const PENDING_HANDSHAKE_TTL_MS = 10_000;

export class PendingHandshakes {
  private readonly entries = new WeakMap<IncomingMessage, { entry: PendingHandshake; timer: NodeJS.Timeout }>();

  constructor(
    private readonly directory: Pick<SessionDirectory, "unregisterSession">,
    private readonly ttlMs = PENDING_HANDSHAKE_TTL_MS,
  ) {}

  add(req: IncomingMessage, entry: PendingHandshake): void {
    const timer = setTimeout(() => this.refuse(req), this.ttlMs);
    this.entries.set(req, { entry, timer });
  }

  /** The session id prepared for this handshake request, if any (engine.io's generateId asks). */
  sessionIdOf(req: IncomingMessage): string | undefined {
    return this.entries.get(req)?.entry.sessionId;
  }

  /** engine.io completed the handshake: the entry is the caller's now. */
  take(req: IncomingMessage): PendingHandshake | undefined {
    const held = this.entries.get(req);
    if (held === undefined) return undefined;
    this.entries.delete(req);
    clearTimeout(held.timer);
    return held.entry;
  }

  /** engine.io refused the handshake (or never completed it): close its upstream, forget its session id. */
  refuse(req: IncomingMessage): void {
    const entry = this.take(req);
    if (entry === undefined) return;
    entry.bound?.upstream.close();
    entry.release?.();
    this.directory.unregisterSession(entry.sessionId);
  }
}
