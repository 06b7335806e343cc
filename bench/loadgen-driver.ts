/**
 * The orchestrator's side of a load-generator process: start it, put its clock on ours, and await its
 * replies with deadlines (a stuck load generator fails the setup instead of hanging the run).
 */
import type { ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { LoadgenMessage, LoadgenReport, OrchestratorMessage } from "./ipc.js";
import { forkLoadgen, stopChild } from "./processes.js";

export const orchestratorClock = (): number => performance.timeOrigin + performance.now();

interface Waiter {
  readonly accept: (message: LoadgenMessage) => boolean;
  readonly resolve: (message: LoadgenMessage) => void;
  readonly reject: (error: Error) => void;
}

const CLOCK_PROBES = 9;

export class LoadgenHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  private readonly waiters = new Set<Waiter>();
  private failure: Error | undefined;
  /** The latest message of each type, e.g. the last connect progress. */
  readonly latest = new Map<LoadgenMessage["type"], LoadgenMessage>();

  private constructor(
    readonly label: string,
    script: string,
  ) {
    this.child = forkLoadgen(script);
    this.pid = this.child.pid!;
    this.child.on("message", (message: LoadgenMessage) => {
      this.latest.set(message.type, message);
      if (message.type === "fatal") this.fail(new Error(`${label}: ${message.message}`));
      for (const waiter of [...this.waiters]) {
        if (waiter.accept(message)) {
          this.waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    });
    this.child.once("exit", (code, signal) => this.fail(new Error(`${label} exited (code ${code}, signal ${signal})`)));
  }

  static async start(label: string, script: string, timeoutMs = 15_000): Promise<LoadgenHandle> {
    const handle = new LoadgenHandle(label, script);
    await handle.next((m) => m.type === "ready", timeoutMs, "start");
    return handle;
  }

  send(message: OrchestratorMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Resolves with the first message accepted from now on; rejects on timeout or when the process dies. */
  next<T extends LoadgenMessage>(accept: (message: LoadgenMessage) => boolean, timeoutMs: number, what: string): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        accept,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Measures the offset of the child's clock to ours from the probe with the shortest round trip (its
   * reply was taken at about the midpoint), and tells the child to apply it.
   */
  async syncClock(): Promise<{ offsetMs: number; roundTripMs: number }> {
    let best = { offsetMs: 0, roundTripMs: Infinity };
    for (let id = 0; id < CLOCK_PROBES; id++) {
      const sentAt = orchestratorClock();
      this.send({ type: "clock-probe", id });
      const reply = await this.next<Extract<LoadgenMessage, { type: "clock-reply" }>>(
        (m) => m.type === "clock-reply" && m.id === id,
        5_000,
        "clock reply",
      );
      const receivedAt = orchestratorClock();
      const roundTripMs = receivedAt - sentAt;
      if (roundTripMs < best.roundTripMs) best = { offsetMs: (sentAt + receivedAt) / 2 - reply.now, roundTripMs };
    }
    this.send({ type: "clock-offset", offsetMs: best.offsetMs });
    return best;
  }

  async receivedTotal(timeoutMs: number): Promise<number> {
    const reply = this.next<Extract<LoadgenMessage, { type: "received" }>>((m) => m.type === "received", timeoutMs, "received count");
    this.send({ type: "count-received" });
    return (await reply).total;
  }

  async report(timeoutMs: number): Promise<LoadgenReport> {
    const reply = this.next<Extract<LoadgenMessage, { type: "report" }>>((m) => m.type === "report", timeoutMs, "report");
    this.send({ type: "report" });
    return reply;
  }

  /** Asks the child to disconnect its clients and exit; kills it if it does not. */
  async close(): Promise<void> {
    this.send({ type: "close" });
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => void stopChild(this.child, 1_000).then(resolve), 3_000);
      this.child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of [...this.waiters]) waiter.reject(error);
    this.waiters.clear();
  }
}
