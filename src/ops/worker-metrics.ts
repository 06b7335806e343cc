/**
 * One /metrics for an instance of several worker processes (WORKERS > 1). Each worker keeps its own registry
 * (src/ops/metrics.ts, labelled with the instance's name); the primary asks every live worker for it over the
 * cluster IPC channel and merges them with its own (its process metrics and switchyard_worker_restarts_total):
 * counters and histograms are summed, and each catalog gauge is merged the way its meaning asks (GAUGE_MERGE).
 * prom-client's process metrics keep their own choice (RSS, CPU and descriptors summed over the processes, the
 * event loop lag averaged, the start time omitted).
 */
import { AggregatorRegistry, Registry, collectDefaultMetrics, type Aggregator } from "prom-client";
import { DROPPED_DEFAULT_METRICS, INSTANCE_LABEL, SWITCHYARD_METRICS } from "./metric-catalog.js";
import { counterOf } from "./metrics.js";
import type { Metrics } from "./metrics.js";
import { isPlainObject } from "../protocol/json-values.js";

const M = SWITCHYARD_METRICS;

/**
 * How each catalog gauge of the workers becomes the instance's: counts of what the workers hold are summed;
 * what every worker reads from the shared routing document (Redis) is the same in each, and the highest is the
 * newest while one lags; a connection is up when every worker's is (min).
 */
export const GAUGE_MERGE: Readonly<Record<string, Extract<Aggregator, "sum" | "max" | "min">>> = Object.freeze({
  [M.sessionsOpen.name]: "sum",
  [M.shadowSessionsOpen.name]: "sum",
  [M.roomSockets.name]: "sum",
  [M.routingHubPercent.name]: "max",
  [M.routingConfigVersion.name]: "max",
  [M.storeUp.name]: "min",
  [M.bridgeUp.name]: "min",
  [M.rolloutPhase.name]: "max",
  [M.rolloutWeight.name]: "max",
  [M.rolloutStep.name]: "max",
  [M.rolloutGateValue.name]: "max",
  [M.rolloutGateLimit.name]: "max",
  // One worker holds the rollout lease: the instance leads.
  [M.rolloutLeader.name]: "max",
});

/** The IPC message a primary sends for a worker's metrics, and the worker's answer. */
export interface MetricsRequest {
  readonly type: "switchyard:metrics";
  readonly id: number;
}
export interface MetricsAnswer extends MetricsRequest {
  readonly metrics: unknown[];
}

export function isMetricsRequest(message: unknown): message is MetricsRequest {
  return isPlainObject(message) && message.type === "switchyard:metrics";
}

export function isMetricsAnswer(message: unknown): message is MetricsAnswer {
  return isMetricsRequest(message) && Array.isArray((message as MetricsAnswer).metrics);
}

/** In a worker: answers the primary's requests with this process's metrics. Returns the removal. */
export function answerMetricsRequests(metrics: Metrics, channel: NodeJS.Process = process): () => void {
  const listener = (message: unknown) => {
    if (!isMetricsRequest(message) || isMetricsAnswer(message)) return;
    void metrics.registry.getMetricsAsJSON().then((json) => {
      if (channel.connected) channel.send?.({ type: message.type, id: message.id, metrics: json } satisfies MetricsAnswer);
    });
  };
  channel.on("message", listener);
  return () => void channel.off("message", listener);
}

export interface PrimaryMetrics {
  readonly contentType: string;
  /** A worker exited unexpectedly and is being restarted. */
  workerRestarted(): void;
  /** The instance's exposition: the workers' registries (as getMetricsAsJSON gave them) merged with the primary's. */
  render(workers: readonly unknown[][]): Promise<string>;
  close(): void;
}

/** The primary's own registry: its process metrics and the worker restarts, under the instance's name. */
export function createPrimaryMetrics(instanceId: string): PrimaryMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ [INSTANCE_LABEL]: instanceId });
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  const restarts = counterOf(registry, M.workerRestarts);
  return {
    contentType: registry.contentType,
    workerRestarted: () => restarts.inc(),
    async render(workers) {
      const all = [await registry.getMetricsAsJSON(), ...workers] as { name: string; aggregator?: Aggregator }[][];
      for (const metrics of all) {
        for (const metric of metrics) {
          const merge = GAUGE_MERGE[metric.name];
          if (merge !== undefined) metric.aggregator = merge;
        }
      }
      return AggregatorRegistry.aggregate(all).metrics();
    },
    close: () => registry.clear(),
  };
}
