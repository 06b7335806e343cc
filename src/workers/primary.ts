/**
 * The primary process of an instance of several workers (WORKERS > 1). It starts the sample backends when
 * LEGACY_URL or HUB_URL is unset, forks the workers (src/workers/worker.ts), which share PORT through
 * node:cluster (round-robin), serves OPS_PORT for the instance (src/ops/primary-ops.ts), and serves no client
 * itself. Each worker is an instance of its own in Redis, so sessions, drains and rooms are found across workers as
 * they are across instances.
 *
 * Lifecycle: SIGTERM/SIGINT → every worker drains (within DRAIN_TIMEOUT_MS, as a single process does), and the
 * primary exits when they all have, with the worst status. A worker that exits unexpectedly is logged
 * (SWY_ERR_WORKER_EXITED), counted (switchyard_worker_restarts_total) and forked again after a backoff; its clients
 * reconnect to the other workers meanwhile. A worker that exits 78 (its configuration is invalid) or fails before
 * the instance first listened stops the instance with its status.
 */
import cluster, { type Worker } from "node:cluster";
import type { StaticConfig } from "../config/static-config.js";
import { createLogger } from "../logger.js";
import { createPrimaryOps } from "../ops/primary-ops.js";
import { createPrimaryMetrics, isMetricsAnswer, type MetricsRequest } from "../ops/worker-metrics.js";
import { installProcessGuard } from "../process-guard.js";
import { EXIT_CONFIG, startMissingBackends } from "../process-lifecycle.js";
import { DEFAULT_ROUTING_CONFIG, type RoutingConfig } from "../config/routing-config.js";
import { announce, generateDemoToken } from "../startup-banner.js";
import {
  isPipeDrained,
  isPipeDrainedAck,
  isWorkerReady,
  PIPE_DRAINED_ACK_TIMEOUT_MS,
  WORKER_NUMBER_ENV,
  type PipeDrained,
  type PipeDrainedAck,
  type WorkerReady,
} from "./worker.js";

interface Slot {
  readonly number: number;
  worker: Worker | undefined;
  ready: WorkerReady | undefined;
  startedAt: number;
  /** Unexpected exits in a row, each soon after its start: the backoff grows with them. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

const METRICS_TIMEOUT_MS = 3_000;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** A worker that served this long before it exited starts again at once (its failures are forgotten). */
const STABLE_AFTER_MS = 10_000;
/** Beyond DRAIN_TIMEOUT_MS (the workers' own deadline): then the workers left are killed. */
const KILL_GRACE_MS = 5_000;

let metricsRequests = 0;

/** Every given worker's registry; a worker that does not answer in time (or exits) contributes nothing. */
function collectMetrics(workers: readonly Worker[]): Promise<unknown[][]> {
  const request: MetricsRequest = { type: "switchyard:metrics", id: ++metricsRequests };
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<unknown[]>((resolve) => {
          const done = (metrics: unknown[]) => {
            clearTimeout(timer);
            worker.off("message", listener);
            worker.off("exit", gone);
            resolve(metrics);
          };
          const listener = (message: unknown) => {
            if (isMetricsAnswer(message) && message.id === request.id) done(message.metrics);
          };
          const gone = () => done([]);
          const timer = setTimeout(gone, METRICS_TIMEOUT_MS);
          worker.on("message", listener);
          worker.once("exit", gone);
          try {
            worker.send(request);
          } catch {
            gone();
          }
        }),
    ),
  );
}

export async function runPrimary(config: StaticConfig): Promise<void> {
  const logger = createLogger(config.logLevel, config.instanceId);
  let stop = (_reason: string, exitCode: number): void => process.exit(exitCode);
  installProcessGuard({ logger, stop: (reason, exitCode) => stop(reason, exitCode) });
  const backends = await startMissingBackends(config, logger);
  const adminToken = config.adminToken ?? (backends.demo ? generateDemoToken() : undefined);

  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({
    number: i + 1,
    worker: undefined,
    ready: undefined,
    startedAt: 0,
    failures: 0,
    restart: undefined,
  }));
  const metrics = createPrimaryMetrics(config.instanceId);
  const ops = createPrimaryOps({
    metrics,
    logger,
    limits: config.listener,
    workers: () => slots.map((slot) => ({ name: `w${slot.number}`, opsUrl: slot.ready?.opsUrl })),
    collect: () => collectMetrics(slots.flatMap((slot) => (slot.ready !== undefined && slot.worker?.isConnected() ? [slot.worker] : []))),
  });
  const opsAddress = await ops.listen(config.opsPort, config.opsHost);
  const opsUrl = `http://${opsAddress.address === "0.0.0.0" ? "127.0.0.1" : opsAddress.address}:${opsAddress.port}`;

  // Every worker uses the same backends and token; its ops listener is private (the primary proxies to it).
  const workerEnv: Record<string, string> = {
    INSTANCE_ID: config.instanceId,
    LEGACY_URL: backends.legacyUrl,
    ...(backends.hubUrl === undefined ? {} : { HUB_URL: backends.hubUrl }),
    ...(adminToken === undefined ? {} : { ADMIN_TOKEN: adminToken }),
    OPS_PORT: "0",
    OPS_HOST: "127.0.0.1",
  };
  // The routing document the workers apply (GET /admin/routing needs no token), for the banner.
  const showBanner = async (ready: WorkerReady) => {
    const routing = await fetch(`${ready.opsUrl}/admin/routing`)
      .then((response) => response.json() as Promise<RoutingConfig>)
      .catch(() => config.routingConfig ?? DEFAULT_ROUTING_CONFIG);
    announce(
      {
        url: ready.url,
        opsUrl,
        legacyUrl: backends.legacyUrl,
        hubUrl: backends.hubUrl,
        store: "redis",
        routing,
        demo: backends.demo,
        adminToken,
      },
      (reason) => logger.warn({ reason }, "could not save the CLI context for the demo"),
    );
  };
  let started = false;
  // A pipe session a worker drained: every other live worker marks it, then the draining worker hears back (and
  // only then tells the legacy server), so that the client's next poll gets the close packet wherever it lands.
  const pipeDrainAcks = new Map<number, () => void>();
  let pipeDrainRelays = 0;
  const relayPipeDrained = (from: Worker, message: PipeDrained): void => {
    const answer = () => {
      if (message.id !== undefined && from.isConnected())
        from.send({ type: "switchyard:pipe:drained:ack", id: message.id } satisfies PipeDrainedAck);
    };
    const others = slots.flatMap((s) => (s.worker !== undefined && s.worker !== from && s.worker.isConnected() ? [s.worker] : []));
    if (others.length === 0) return answer();
    const id = ++pipeDrainRelays;
    let waiting = others.length;
    pipeDrainAcks.set(id, () => {
      if (--waiting > 0) return;
      pipeDrainAcks.delete(id);
      answer();
    });
    // A worker that exits before answering: the draining worker stops waiting after the same timeout.
    setTimeout(() => pipeDrainAcks.delete(id), PIPE_DRAINED_ACK_TIMEOUT_MS).unref();
    for (const other of others) other.send({ ...message, id });
  };
  let stopping = false;
  let exitStatus = 0;

  const fork = (slot: Slot) => {
    slot.restart = undefined;
    slot.ready = undefined;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ ...workerEnv, [WORKER_NUMBER_ENV]: String(slot.number) });
    slot.worker = worker;
    worker.on("message", (message: unknown) => {
      if (isPipeDrained(message)) {
        relayPipeDrained(worker, message);
        return;
      }
      if (isPipeDrainedAck(message)) {
        pipeDrainAcks.get(message.id)?.();
        return;
      }
      if (!isWorkerReady(message) || slot.worker !== worker) return;
      slot.ready = message;
      if (started || !slots.every((s) => s.ready !== undefined)) return;
      started = true;
      logger.info(
        {
          url: message.url,
          ops: opsUrl,
          workers: slots.length,
          legacy: backends.legacyUrl,
          hub: backends.hubUrl,
          store: "redis",
          mode: config.legacyMode,
        },
        "switchyard listening",
      );
      void showBanner(message);
    });
    worker.once("exit", (code, signal) => exited(slot, worker, code, signal));
  };

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    void Promise.all([ops.close(), ...backends.samples.map((sample) => sample.stop())])
      .catch((error: unknown) => logger.error({ err: error }, "error while stopping"))
      .finally(() => {
        metrics.close();
        logger.info({ exitStatus }, "drained; bye");
        process.exit(exitStatus);
      });
  };

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker === worker) {
      slot.worker = undefined;
      slot.ready = undefined;
    }
    const status = code ?? 1;
    if (stopping) {
      exitStatus = Math.max(exitStatus, status);
      if (slots.every((s) => s.worker === undefined)) finish();
      return;
    }
    if (code === EXIT_CONFIG) {
      logger.error({ code: "SWY_ERR_CONFIG_INVALID", worker: slot.number }, "a worker refused its configuration; stopping");
      return stop("worker configuration invalid", EXIT_CONFIG);
    }
    if (!started) {
      logger.error({ code: "SWY_ERR_WORKER_EXITED", worker: slot.number, exitCode: code, signal }, "a worker failed to start; stopping");
      return stop("worker failed to start", status === 0 ? 1 : status);
    }
    slot.failures = Date.now() - slot.startedAt < STABLE_AFTER_MS ? slot.failures + 1 : 0;
    const delayMs = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** slot.failures);
    metrics.workerRestarted();
    logger.error(
      { code: "SWY_ERR_WORKER_EXITED", worker: slot.number, pid: worker.process.pid, exitCode: code, signal, restartInMs: delayMs },
      "a worker exited unexpectedly; its clients reconnect to the other workers; restarting it",
    );
    slot.restart = setTimeout(() => fork(slot), delayMs);
  };

  stop = (reason: string, exitCode: number) => {
    exitStatus = Math.max(exitStatus, exitCode);
    if (stopping) return;
    stopping = true;
    logger.info({ reason, drainTimeoutMs: config.drainTimeoutMs, workers: slots.length }, "draining");
    for (const slot of slots) {
      clearTimeout(slot.restart);
      slot.worker?.process.kill("SIGTERM");
    }
    const deadline = setTimeout(() => {
      logger.warn("drain timeout reached; killing the workers left");
      for (const slot of slots) slot.worker?.process.kill("SIGKILL");
      exitStatus = Math.max(exitStatus, 1);
      finish();
    }, config.drainTimeoutMs + KILL_GRACE_MS);
    deadline.unref();
    if (slots.every((slot) => slot.worker === undefined)) finish();
  };
  // Ctrl-C reaches the workers too (one process group): each drains once, whichever signal comes first.
  process.on("SIGTERM", () => stop("SIGTERM", 0));
  process.on("SIGINT", () => stop("SIGINT", 0));
  for (const sample of backends.samples) {
    sample.child.once("exit", (code) => {
      if (!stopping) logger.error({ sample: sample.name, code }, "a sample backend exited");
    });
  }
  for (const slot of slots) fork(slot);
}
