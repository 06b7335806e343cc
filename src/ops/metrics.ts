/**
 * Prometheus metrics. The core publishes typed events (src/telemetry/events.ts); this module subscribes
 * to them and owns every prom-client object, so nothing else imports prom-client. Names, labels and help
 * texts come from the catalog (metric-catalog.ts), the contract the dashboard and the alerts are built on.
 * Gauges that describe current state are read on scrape from `MetricsSources`.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
} from "prom-client";
import { subscribe, type Unsubscribe } from "../telemetry/events.js";
import type { Backend, ClientTransport, Direction } from "../domain.js";
import { DROPPED_DEFAULT_METRICS, INSTANCE_LABEL, SWITCHYARD_METRICS, type MetricSpec } from "./metric-catalog.js";
import { registerRoomMetrics, type RoomsSource } from "./room-metrics.js";
import { registerRolloutMetrics } from "./rollout-metrics.js";

export interface MetricsSources {
  sessionCounts(): Record<Backend, Record<ClientTransport, number>>;
  /**
   * The routing config this instance applies, read on scrape: switchyard_routing_hub_percent and
   * switchyard_routing_config_version. Omitted: those gauges are not exported (rather than a fake 0).
   */
  routing?(): { readonly hubPercent: number; readonly version: number };
  /** The routing store, read on scrape: switchyard_store_up{store}. Omitted: not exported. */
  store?(): { readonly kind: "memory" | "redis"; readonly connected: boolean };
  /** Calls `listener` for each routing config change received: switchyard_routing_config_reloads_total. */
  onRoutingConfig?(listener: (outcome: "applied" | "rejected") => void): Unsubscribe;
  /** Shadow sessions open now, by shadow target: switchyard_shadow_sessions_open. Omitted: not exported. */
  shadowSessions?(): Record<Backend, number>;
  /** Hub sessions' rooms, read on scrape: switchyard_room_sockets and switchyard_bridge_up. Omitted: not exported. */
  rooms?: RoomsSource;
}

export interface Metrics {
  readonly registry: Registry;
  render(): Promise<string>;
  readonly contentType: string;
  close(): void;
}

const BACKENDS: readonly Backend[] = ["legacy", "hub"];
const TRANSPORTS: readonly ClientTransport[] = ["polling", "websocket"];
const DIRECTIONS: readonly Direction[] = ["client_to_server", "server_to_client"];

export function assertType(spec: MetricSpec, type: MetricSpec["type"]): void {
  if (spec.type !== type) throw new Error(`${spec.name} is a ${spec.type} in the catalog, not a ${type}`);
}

/**
 * A counter, with the catalog's zero series exported from start-up: rate() and ratios then see the first
 * increment, and a dashboard shows "0/s" rather than "no data".
 */
export function counterOf(registry: Registry, spec: MetricSpec): Counter {
  assertType(spec, "counter");
  const counter = new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: [...spec.labels],
    registers: [registry],
  } satisfies CounterConfiguration<string>);
  for (const labels of spec.zeroSeries ?? []) counter.inc(labels, 0);
  return counter;
}

export function gaugeOf(registry: Registry, spec: MetricSpec, collect?: GaugeConfiguration<string>["collect"]): Gauge {
  assertType(spec, "gauge");
  return new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: [...spec.labels],
    registers: [registry],
    ...(collect ? { collect } : {}),
  });
}

export function histogramOf(registry: Registry, spec: MetricSpec): Histogram {
  assertType(spec, "histogram");
  return new Histogram({
    name: spec.name,
    help: spec.help,
    labelNames: [...spec.labels],
    buckets: [...(spec.buckets ?? [])],
    registers: [registry],
  });
}

/** prom-client's process_* and nodejs_* metrics, minus the ones promtool rejects (see DROPPED_DEFAULT_METRICS). */
function registerDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}

export function createMetrics(sources: MetricsSources, instanceId: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ [INSTANCE_LABEL]: instanceId });
  registerDefaultMetrics(registry);
  const unsubscribers: Unsubscribe[] = [];
  const m = SWITCHYARD_METRICS;

  gaugeOf(registry, m.sessionsOpen, function collect() {
    const counts = sources.sessionCounts();
    for (const backend of BACKENDS) {
      for (const transport of TRANSPORTS) this.set({ backend, transport }, counts[backend][transport]);
    }
  });
  const opened = counterOf(registry, m.sessionsOpened);
  const closed = counterOf(registry, m.sessionsClosed);
  const duration = histogramOf(registry, m.sessionDuration);
  const upgrades = counterOf(registry, m.sessionUpgrades);
  const packets = counterOf(registry, m.packets);
  const connectSeconds = histogramOf(registry, m.upstreamConnectDuration);
  const ackSeconds = histogramOf(registry, m.ackLatency);
  const upstreamErrors = counterOf(registry, m.upstreamErrors);
  const protocolErrors = counterOf(registry, m.protocolErrors);
  const passthrough = counterOf(registry, m.passthroughRequests);
  const refused = counterOf(registry, m.handshakesRefused);
  const drained = counterOf(registry, m.drainedSessions);
  const limitHits = counterOf(registry, m.limitHits);
  const adminRefused = counterOf(registry, m.adminRefused);
  const decisions = counterOf(registry, m.routingDecisions);
  const hubFallbacks = counterOf(registry, m.hubFallbacks);
  const ownerForwards = counterOf(registry, m.ownerForwards);
  const contained = counterOf(registry, m.containedErrors);
  const uncaught = counterOf(registry, m.uncaughtErrors);
  // Counted by an instance's primary (WORKERS > 1, worker-metrics.ts); a gateway process exports its zero, which the
  // primary's sum keeps.
  counterOf(registry, m.workerRestarts);

  // The packet series are hot: pre-created children save a label lookup per packet.
  const packetCounters = Object.fromEntries(
    BACKENDS.map((backend) => [
      backend,
      Object.fromEntries(DIRECTIONS.map((direction) => [direction, packets.labels(backend, direction)])),
    ]),
  ) as Record<Backend, Record<Direction, Counter.Internal>>;

  const { routing, store, onRoutingConfig, shadowSessions } = sources;
  if (shadowSessions) {
    gaugeOf(registry, m.shadowSessionsOpen, function collect() {
      const open = shadowSessions();
      for (const target of BACKENDS) this.set({ target }, open[target]);
    });
  }
  const comparisons = counterOf(registry, m.shadowComparisons);
  const shadowDelay = histogramOf(registry, m.shadowDelay);
  const reordered = counterOf(registry, m.shadowReordered);
  const shadowErrors = counterOf(registry, m.shadowErrors);
  const shadowOverflow = counterOf(registry, m.shadowOverflow);
  if (routing) {
    gaugeOf(registry, m.routingHubPercent, function collect() {
      this.set(routing().hubPercent);
    });
    gaugeOf(registry, m.routingConfigVersion, function collect() {
      this.set(routing().version);
    });
  }
  if (store) {
    gaugeOf(registry, m.storeUp, function collect() {
      const { kind, connected } = store();
      this.set({ store: kind }, connected ? 1 : 0);
    });
  }
  if (onRoutingConfig) {
    const reloads = counterOf(registry, m.routingConfigReloads);
    unsubscribers.push(onRoutingConfig((outcome) => reloads.inc({ outcome })));
  }

  unsubscribers.push(...registerRoomMetrics(registry, sources.rooms));
  unsubscribers.push(...registerRolloutMetrics(registry));
  unsubscribers.push(
    subscribe("switchyard:session:opened", (e) =>
      opened.inc({ backend: e.backend, protocol: String(e.protocol), mode: e.mode, shadowed: String(e.shadowed) }),
    ),
    subscribe("switchyard:session:closed", (e) => {
      closed.inc({ backend: e.backend, reason: e.reason, code: e.code ?? "none" });
      duration.observe({ backend: e.backend }, e.durationMs / 1000);
      // Admin drains close with "drained"; SIGTERM's own drain closes with "shutdown" and is not counted.
      if (e.reason === "drained") drained.inc({ backend: e.backend });
    }),
    subscribe("switchyard:session:upgraded", (e) => upgrades.inc({ backend: e.backend })),
    subscribe("switchyard:packet", (e) => packetCounters[e.backend][e.direction].inc()),
    // Room broadcast deliveries to hub-routed clients, counted per broadcast (shadow sessions are not client packets).
    subscribe("switchyard:rooms:broadcast", (e) => {
      if (e.world === "primary" && e.messages > 0) packetCounters.hub.server_to_client.inc(e.messages);
    }),
    subscribe("switchyard:upstream:connected", (e) => connectSeconds.observe({ backend: e.backend, role: e.role }, e.seconds)),
    subscribe("switchyard:upstream:failed", (e) => upstreamErrors.inc({ backend: e.backend, role: e.role, code: e.code })),
    subscribe("switchyard:protocol:error", (e) => protocolErrors.inc({ code: e.code })),
    subscribe("switchyard:ack:latency", (e) => ackSeconds.observe({ backend: e.backend }, e.seconds)),
    subscribe("switchyard:passthrough", (e) => passthrough.inc({ kind: e.kind, outcome: e.outcome })),
    subscribe("switchyard:handshake:refused", (e) => refused.inc({ code: e.code })),
    subscribe("switchyard:limit:hit", (e) => limitHits.inc({ limit: e.limit })),
    subscribe("switchyard:admin:refused", (e) => adminRefused.inc({ reason: e.reason })),
    subscribe("switchyard:route:decided", (e) => decisions.inc({ backend: e.backend, reason: e.reason })),
    subscribe("switchyard:hub:fallback", (e) => hubFallbacks.inc({ code: e.code })),
    subscribe("switchyard:owner:forward", (e) => ownerForwards.inc({ outcome: e.outcome })),
    subscribe("switchyard:shadow:comparison", (e) => {
      comparisons.inc({ result: e.result, event: e.event });
      // A shadow that delivers first has a negative delay; the histogram counts it in its lowest bucket.
      if (e.delaySeconds !== undefined) shadowDelay.observe(Math.max(0, e.delaySeconds));
      if (e.reordered) reordered.inc();
    }),
    subscribe("switchyard:shadow:error", (e) => shadowErrors.inc({ code: e.code })),
    subscribe("switchyard:shadow:overflow", (e) => shadowOverflow.inc({ kind: e.kind })),
    subscribe("switchyard:error:contained", (e) => contained.inc({ boundary: e.boundary, code: e.code })),
    subscribe("switchyard:process:uncaught", (e) => uncaught.inc({ kind: e.kind })),
  );

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close() {
      for (const unsubscribe of unsubscribers) unsubscribe();
      registry.clear();
    },
  };
}
