/**
 * Prometheus metrics. The core publishes typed events (src/telemetry/events.ts); this module subscribes
 * to them and owns every prom-client object, so nothing else imports prom-client. Gauges that describe
 * current state are read on scrape from `MetricsSources`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { subscribe, type Backend, type ClientTransport, type Unsubscribe } from "../telemetry/events.js";

export interface MetricsSources {
  sessionCounts(): Record<Backend, Record<ClientTransport, number>>;
}

export interface Metrics {
  readonly registry: Registry;
  render(): Promise<string>;
  readonly contentType: string;
  close(): void;
}

const CONNECT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14400, 86400];

export function createMetrics(sources: MetricsSources, instanceId: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: instanceId });
  collectDefaultMetrics({ register: registry });
  const unsubscribers: Unsubscribe[] = [];

  new Gauge({
    name: "switchyard_sessions_open",
    help: "Client sessions currently open, by backend and client transport.",
    labelNames: ["backend", "transport"],
    registers: [registry],
    collect() {
      const counts = sources.sessionCounts();
      for (const backend of ["legacy", "hub"] as const) {
        for (const transport of ["polling", "websocket"] as const) this.set({ backend, transport }, counts[backend][transport]);
      }
    },
  });

  const opened = new Counter({
    name: "switchyard_sessions_opened_total",
    help: "Client sessions opened, by backend, Engine.IO protocol version, session mode and shadowing.",
    labelNames: ["backend", "protocol", "mode", "shadowed"],
    registers: [registry],
  });
  const closed = new Counter({
    name: "switchyard_sessions_closed_total",
    help: "Client sessions closed, by backend and reason (code is an SWY_ERR_* code or none).",
    labelNames: ["backend", "reason", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "switchyard_session_duration_seconds",
    help: "Lifetime of closed client sessions.",
    labelNames: ["backend"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const upgrades = new Counter({
    name: "switchyard_session_upgrades_total",
    help: "Polling sessions upgraded to WebSocket, by backend.",
    labelNames: ["backend"],
    registers: [registry],
  });
  const packets = new Counter({
    name: "switchyard_packets_total",
    help: "Engine.IO messages relayed, by backend and direction.",
    labelNames: ["backend", "direction"],
    registers: [registry],
  });
  const connectSeconds = new Histogram({
    name: "switchyard_upstream_connect_duration_seconds",
    help: "Time to open a backend session (TCP, upgrade and Engine.IO open packet).",
    labelNames: ["backend", "role"],
    buckets: CONNECT_BUCKETS,
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: "switchyard_upstream_errors_total",
    help: "Backend sessions that could not be opened, by backend, role and SWY_ERR_* code.",
    labelNames: ["backend", "role", "code"],
    registers: [registry],
  });
  const protocolErrors = new Counter({
    name: "switchyard_protocol_errors_total",
    help: "Client sessions closed for breaking the Socket.IO protocol, by SWY_ERR_* code.",
    labelNames: ["code"],
    registers: [registry],
  });
  const passthrough = new Counter({
    name: "switchyard_passthrough_requests_total",
    help: "Requests passed to the legacy app (strangler pass-through), by kind and outcome.",
    labelNames: ["kind", "outcome"],
    registers: [registry],
  });
  const refused = new Counter({
    name: "switchyard_handshakes_refused_total",
    help: "Client handshakes the gateway refused, by SWY_ERR_* code.",
    labelNames: ["code"],
    registers: [registry],
  });

  // Pre-create the packet series: they are hot, and a label lookup per packet is avoidable.
  const packetCounters = {
    legacy: { client_to_server: packets.labels("legacy", "client_to_server"), server_to_client: packets.labels("legacy", "server_to_client") },
    hub: { client_to_server: packets.labels("hub", "client_to_server"), server_to_client: packets.labels("hub", "server_to_client") },
  };

  unsubscribers.push(
    subscribe("switchyard:session:opened", (e) => opened.inc({ backend: e.backend, protocol: String(e.protocol), mode: e.mode, shadowed: String(e.shadowed) })),
    subscribe("switchyard:session:closed", (e) => {
      closed.inc({ backend: e.backend, reason: e.reason, code: e.code ?? "none" });
      duration.observe({ backend: e.backend }, e.durationMs / 1000);
    }),
    subscribe("switchyard:session:upgraded", (e) => upgrades.inc({ backend: e.backend })),
    subscribe("switchyard:packet", (e) => packetCounters[e.backend][e.direction].inc()),
    subscribe("switchyard:upstream:connected", (e) => connectSeconds.observe({ backend: e.backend, role: e.role }, e.seconds)),
    subscribe("switchyard:upstream:failed", (e) => upstreamErrors.inc({ backend: e.backend, role: e.role, code: e.code })),
    subscribe("switchyard:protocol:error", (e) => protocolErrors.inc({ code: e.code })),
    subscribe("switchyard:passthrough", (e) => passthrough.inc({ kind: e.kind, outcome: e.outcome })),
    subscribe("switchyard:handshake:refused", (e) => refused.inc({ code: e.code })),
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
