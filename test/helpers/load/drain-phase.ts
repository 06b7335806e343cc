/**
 * Drain under load: SIGTERM on gateway gw-1 while its clients chat, measured from outside as an
 * orchestrator would see it: its /readyz (polled back to back), handshakes sent straight to it (not
 * through the balancer) while it drains, when its clients were disconnected (from the load report), its
 * exit code and log, and where its clients are afterwards.
 */
import type { Deployment } from "./deployment.js";
import type { Fault, PhaseResult } from "./faults.js";

export interface Probe {
  /** When the request was sent (epoch ms). */
  readonly at: number;
  /** HTTP status, or 0: the connection was refused (the listener is closed). */
  readonly status: number;
}

export interface DrainMeasures {
  signalledAt: number;
  exitedAt: number;
  exitCode: number | null;
  readiness: Probe[];
  handshakes: Probe[];
  /** The instance's own account: it finished its drain ("drained; bye") or hit the deadline. */
  finished: boolean;
  deadlineHit: boolean;
}

const INDEX = 1;

async function probe(url: string): Promise<Probe> {
  const at = Date.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return { at, status: response.status };
  } catch {
    return { at, status: 0 };
  }
}

/** Polls `url` back to back (with a short pause) until `stop` resolves. */
async function pollUntil(url: string, pauseMs: number, into: Probe[], stop: Promise<unknown>): Promise<void> {
  let done = false;
  void stop.then(() => {
    done = true;
  });
  while (!done) {
    into.push(await probe(url));
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** The drain as a fault of the load run; `measures` is filled in when it has run. */
export function drainFault(): Fault & { measures: DrainMeasures | undefined } {
  const fault = {
    name: "gateway gw-1 drained (SIGTERM)",
    mustDeliver: "all" as const,
    measures: undefined as DrainMeasures | undefined,
    inject: async (deployment: Deployment) => {
      const gateway = deployment.gateways[INDEX]!;
      const measures: DrainMeasures = {
        signalledAt: Date.now(),
        exitedAt: 0,
        exitCode: null,
        readiness: [],
        handshakes: [],
        finished: false,
        deadlineHit: false,
      };
      const exited = gateway.exited;
      const polls = Promise.all([
        pollUntil(`${gateway.opsUrl}/readyz`, 10, measures.readiness, exited),
        pollUntil(`${gateway.url}/socket.io/?EIO=4&transport=polling&userId=drain-probe`, 100, measures.handshakes, exited),
      ]);
      measures.signalledAt = Date.now();
      gateway.child.kill("SIGTERM");
      measures.exitCode = await exited;
      measures.exitedAt = Date.now();
      deployment.gateways[INDEX] = undefined;
      await polls;
      measures.finished = gateway.logs.some((entry) => entry.msg === "drained; bye");
      measures.deadlineHit = gateway.logs.some((entry) => entry.msg === "drain timeout reached; exiting");
      fault.measures = measures;
    },
    restore: (deployment: Deployment) => deployment.startGateway(INDEX).then(() => undefined),
  };
  return fault;
}

export interface DrainSummary {
  readonly exitCode: number | null;
  /** From SIGTERM to exit. */
  readonly exitMs: number;
  readonly finishedItsDrain: boolean;
  /** From SIGTERM to the first /readyz that was not 200, and to the first / last client disconnected. */
  readonly unreadyAfterMs: number;
  readonly firstCloseAfterMs: number;
  readonly lastCloseAfterMs: number;
  /** /readyz answers sent after the first client was disconnected that still said ready (must be 0). */
  readonly readyAfterClosing: number;
  /** Direct handshakes once it was unready, by answer ("0": connection refused). None may be 200. */
  readonly handshakeAnswers: Record<string, number>;
  /** Clients disconnected in each tenth of the span from the first to the last close. */
  readonly closesPerTenth: number[];
}

export function summarizeDrain(result: PhaseResult, m: DrainMeasures): DrainSummary {
  const closes = result.report.disconnectTimes;
  const first = closes[0] ?? m.signalledAt;
  const last = closes.at(-1) ?? m.signalledAt;
  const unready = m.readiness.find((p) => p.at >= m.signalledAt && p.status !== 200);
  const handshakeAnswers: Record<string, number> = {};
  // From the moment it said unready (a handshake sent a moment before the signal was handled may pass).
  for (const p of m.handshakes.filter((p) => unready !== undefined && p.at >= unready.at))
    handshakeAnswers[p.status] = (handshakeAnswers[p.status] ?? 0) + 1;
  const tenths = new Array<number>(10).fill(0);
  const span = Math.max(1, last - first);
  for (const at of closes) tenths[Math.min(9, Math.floor(((at - first) / span) * 10))]!++;
  return {
    exitCode: m.exitCode,
    exitMs: m.exitedAt - m.signalledAt,
    finishedItsDrain: m.finished && !m.deadlineHit,
    unreadyAfterMs: unready === undefined ? -1 : unready.at - m.signalledAt,
    firstCloseAfterMs: first - m.signalledAt,
    lastCloseAfterMs: last - m.signalledAt,
    readyAfterClosing: m.readiness.filter((p) => p.at > first && p.status === 200).length,
    handshakeAnswers,
    closesPerTenth: tenths,
  };
}
