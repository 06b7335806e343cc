/**
 * The pacing of a graceful shutdown: sessions close a share at a time over a spread so that their
 * reconnecting clients do not stampede the other instances, then the listener gives in-flight requests
 * (long polls carrying close packets) a grace period before it cuts what is left.
 */
import type { Server as HttpServer } from "node:http";

/** At most this many steps, whatever the number of sessions. */
export const MAX_SHUTDOWN_STEPS = 20;
/** How often idle keep-alive connections are swept while busy ones finish. */
const IDLE_SWEEP_MS = 50;

export interface PacedClose {
  /** Sessions still open. */
  open(): number;
  /** Closes up to `count` sessions (of each kind the caller closes). */
  closeSome(count: number): void;
  /** Closes whatever is still open. */
  closeAll(): void;
}

export type Sleep = (ms: number) => Promise<void>;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Closes every session in up to MAX_SHUTDOWN_STEPS equal steps, `spreadMs / steps` apart (no wait after
 * the last step), stopping early when none is left; then closes any session that opened meanwhile.
 */
export async function closePaced(sessions: PacedClose, spreadMs: number, sleep: Sleep = delay): Promise<void> {
  const total = sessions.open();
  const steps = Math.max(1, Math.min(MAX_SHUTDOWN_STEPS, total));
  const perStep = Math.ceil(total / steps);
  for (let step = 0; step < steps && sessions.open() > 0; step++) {
    sessions.closeSome(perStep);
    if (spreadMs > 0 && step < steps - 1) await sleep(spreadMs / steps);
  }
  sessions.closeAll();
}

/**
 * Stops listening; idle keep-alive connections go at once, busy ones (a long poll about to carry its close
 * packet) may finish within `graceMs`; then every connection is cut and `afterCut` runs (to close what
 * served them). Resolves when the server is closed.
 */
export async function closeListener(http: HttpServer, graceMs: number, afterCut?: () => void, sleep: Sleep = delay): Promise<void> {
  let done = false;
  const closed = new Promise<void>((resolve) => http.close(() => resolve())).then(() => {
    done = true;
  });
  const deadline = Date.now() + graceMs;
  while (!done && Date.now() < deadline) {
    http.closeIdleConnections();
    await sleep(IDLE_SWEEP_MS);
  }
  http.closeAllConnections();
  afterCut?.();
  await closed;
}
