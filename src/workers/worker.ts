/**
 * One worker process of an instance (WORKERS > 1), forked by the primary (src/workers/primary.ts): a whole
 * gateway under the name `<INSTANCE_ID>-w<n>` in Redis, serving the client port shared through node:cluster and
 * a port of its own for forwarded requests (its internal URL), with its ops listener on a private port the
 * primary proxies admin calls to. It tells the primary when it listens, answers its metrics requests, drains on
 * SIGTERM/SIGINT as a single process does, and also when the primary goes away (the IPC channel closes).
 */
import type { StaticConfig } from "../config/static-config.js";
import { createLogger } from "../logger.js";
import type { EngineIoRevision } from "../protocol/engineio.js";
import { isPlainObject } from "../protocol/json-values.js";
import { answerMetricsRequests } from "../ops/worker-metrics.js";
import { installProcessGuard } from "../process-guard.js";
import { drainOnSignals } from "../process-lifecycle.js";
import { startSwitchyard } from "../switchyard.js";

/** The environment variable the primary names each worker with (1, 2, ...; a restarted worker keeps its number). */
export const WORKER_NUMBER_ENV = "SWITCHYARD_WORKER";

/** What a worker tells the primary once it listens. */
export interface WorkerReady {
  readonly type: "switchyard:worker:ready";
  readonly url: string;
  readonly opsUrl: string;
  readonly internalUrl: string;
}

/**
 * A pipe polling session a worker closed (SIGTERM, an admin drain) whose next poll may reach another worker: the
 * primary passes it on to the others, which answer that poll with the close packet (PipeSessions.markDrained).
 */
export interface PipeDrained {
  readonly type: "switchyard:pipe:drained";
  readonly sid: string;
  readonly eio: EngineIoRevision;
  /** Set by the worker that drained it: the primary answers with PipeDrainedAck once every other worker knows. */
  readonly id?: number;
}

/** Every other worker marked the pipe session drained (the primary to the draining worker; a worker to the primary). */
export interface PipeDrainedAck {
  readonly type: "switchyard:pipe:drained:ack";
  readonly id: number;
}

/** How long a draining worker waits for the others to know before it tells the legacy server anyway. */
export const PIPE_DRAINED_ACK_TIMEOUT_MS = 2_000;

export function isPipeDrained(message: unknown): message is PipeDrained {
  return isPlainObject(message) && message.type === "switchyard:pipe:drained";
}

export function isPipeDrainedAck(message: unknown): message is PipeDrainedAck {
  return isPlainObject(message) && message.type === "switchyard:pipe:drained:ack" && typeof message.id === "number";
}

export function isWorkerReady(message: unknown): message is WorkerReady {
  return isPlainObject(message) && message.type === "switchyard:worker:ready";
}

export function workerInstanceId(instanceId: string, worker: number): string {
  return `${instanceId}-w${worker}`;
}

/** Relayed pipe drains waiting for the primary's ack, by id. */
const acks = new Map<number, () => void>();
let relays = 0;

/** Tells the other workers (through the primary); resolves once they all know, or after PIPE_DRAINED_ACK_TIMEOUT_MS. */
function relayPipeDrained(sid: string, eio: EngineIoRevision): Promise<void> | undefined {
  if (!process.connected || process.send === undefined) return undefined;
  const id = ++relays;
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      acks.delete(id);
      resolve();
    };
    const timer = setTimeout(done, PIPE_DRAINED_ACK_TIMEOUT_MS);
    acks.set(id, done);
    try {
      process.send?.({ type: "switchyard:pipe:drained", sid, eio, id } satisfies PipeDrained);
    } catch {
      done();
    }
  });
}

export async function runWorker(config: StaticConfig): Promise<void> {
  const number = Number(process.env[WORKER_NUMBER_ENV] ?? "0");
  const instanceId = workerInstanceId(config.instanceId, number);
  const logger = createLogger(config.logLevel, instanceId);
  let stop = (_reason: string, exitCode: number): void => process.exit(exitCode);
  installProcessGuard({ logger, stop: (reason, exitCode) => stop(reason, exitCode) });
  // The primary passes LEGACY_URL (its sample's, when unset) and HUB_URL, so that every worker uses the same.
  if (config.legacyUrl === undefined) throw new Error("a worker needs LEGACY_URL (the primary passes it)");
  const switchyard = await startSwitchyard({
    config: Object.freeze({ ...config, instanceId }),
    legacyUrl: config.legacyUrl,
    hubUrl: config.hubUrl,
    logger,
    worker: {
      metricsInstanceId: config.instanceId,
      onPipeDrained: (sid, eio) => relayPipeDrained(sid, eio),
    },
  });
  process.on("message", (message: unknown) => {
    if (isPipeDrained(message)) {
      switchyard.gateway.pipes.markDrained(message.sid, message.eio);
      if (message.id !== undefined && process.connected)
        process.send?.({ type: "switchyard:pipe:drained:ack", id: message.id } satisfies PipeDrainedAck);
    } else if (isPipeDrainedAck(message)) {
      acks.get(message.id)?.();
    }
  });
  const stopAnswering = answerMetricsRequests(switchyard.metrics);
  const lifecycle = drainOnSignals({
    logger,
    drainTimeoutMs: config.drainTimeoutMs,
    drain: async () => {
      stopAnswering();
      await switchyard.shutdown(config.drainTimeoutMs / 2, config.drainTimeoutMs / 4);
    },
  });
  stop = lifecycle.stop;
  // The primary is gone (killed): nobody restarts or aggregates us any more; drain as on SIGTERM.
  process.once("disconnect", () => stop("primary exited", 0));
  logger.info(
    {
      url: switchyard.url,
      ops: switchyard.opsUrl,
      internal: switchyard.internalUrl,
      worker: number,
      pid: process.pid,
      mode: config.legacyMode,
    },
    "switchyard worker listening",
  );
  process.send?.({ type: "switchyard:worker:ready", url: switchyard.url, opsUrl: switchyard.opsUrl, internalUrl: switchyard.internalUrl });
}
