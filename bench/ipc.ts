/**
 * The messages the bench orchestrator (run.ts) and its load-generator processes (loadgen.ts) exchange
 * over the fork IPC channel (serialization "advanced", so typed arrays travel as they are).
 * All times are in milliseconds on the orchestrator's clock: each load generator corrects its own
 * `performance.timeOrigin + performance.now()` by the offset the orchestrator measured for it, so send
 * timestamps written by one process and receive times read by another are comparable.
 */

export interface ClientSpec {
  /** Global index in [0, clients): fixes the client's room and its send phase. */
  readonly index: number;
  readonly room: string;
  readonly polling: boolean;
}

export interface ConnectCommand {
  readonly type: "connect";
  readonly url: string;
  readonly clients: readonly ClientSpec[];
  /** New connections per second this load generator opens (its share of the ramp). */
  readonly ratePerSec: number;
  /** Handshakes in flight at once, so that a slow server is not buried in connection attempts. */
  readonly maxInFlight: number;
  readonly connectTimeoutMs: number;
  /**
   * 0: a client whose connection fails counts as failed at once (steady-state runs). More (storms): it
   * retries with socket.io-client's backoff, as a real client does, and gives up after that many attempts.
   */
  readonly reconnectionAttempts: number;
}

export interface SendCommand {
  readonly type: "send";
  /** When client 0 sends first; client i sends first at startAt + i / totalClients * intervalMs. */
  readonly startAt: number;
  /** Every client sends once per interval. */
  readonly intervalMs: number;
  readonly totalClients: number;
  /** Messages whose send time falls in [windowStart, windowEnd) are measured. */
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly payloadBytes: number;
}

export type OrchestratorMessage =
  | { readonly type: "clock-probe"; readonly id: number }
  | { readonly type: "clock-offset"; readonly offsetMs: number }
  | ConnectCommand
  | SendCommand
  | { readonly type: "stop-sending" }
  | { readonly type: "count-received" }
  | { readonly type: "report" }
  | { readonly type: "close" };

export interface ConnectProgress {
  readonly launched: number;
  readonly connected: number;
  readonly joined: number;
  readonly failed: number;
}

/** Sent with the last connect-progress message. */
export interface ConnectTimings {
  /** For each client that connected: ms from its first attempt to its Socket.IO connect (retries included). */
  readonly handshakeMs: Float64Array;
  /** Failed attempts that were retried. */
  readonly retries: number;
  /** Clients that gave up (their reconnection attempts ran out). */
  readonly gaveUp: number;
}

export interface LoadgenReport {
  /** Delivery latency (ms) of every message received whose send time is in the window. */
  readonly latencies: Float64Array;
  /** For each latency sample, its send time in ms after the window start. */
  readonly sendOffsets: Float64Array;
  readonly receivedTotal: number;
  /** Messages sent in the window, by room. */
  readonly sentInWindowByRoom: Record<string, number>;
  readonly sentTotal: number;
  /** How late sends left relative to their schedule (a saturated load generator falls behind). */
  readonly sendLagP99Ms: number;
  readonly sendLagMaxMs: number;
  /** Event-loop utilization over the window (near 1 = this load generator is the bottleneck). */
  readonly eventLoopUtilization: number;
  /** Unrequested disconnects after a successful connect, by reason. */
  readonly disconnects: Record<string, number>;
  /** Connection / join failures, by message. */
  readonly errors: Record<string, number>;
}

export type LoadgenMessage =
  | { readonly type: "ready" }
  | { readonly type: "clock-reply"; readonly id: number; readonly now: number }
  | ({ readonly type: "connect-progress"; readonly done: boolean; readonly joinedByRoom: Record<string, number> } & ConnectProgress &
      Partial<ConnectTimings>)
  | { readonly type: "received"; readonly total: number }
  | ({ readonly type: "report" } & LoadgenReport)
  | { readonly type: "fatal"; readonly message: string };
