/**
 * The metric catalog: the contract between the gateway, the Grafana dashboard and the Prometheus alerts.
 * Every `switchyard_*` series the gateway may export is declared here (name, type, labels, help), including
 * the ones whose feature feeds them later; metrics.ts builds its prom-client objects from these entries, and
 * the dashboard/alert tests accept no metric that is not listed. Every label has a bounded value set: no
 * session, user or room ids, ever (they would make one series per session).
 */

import { ERROR_CATALOG, type ErrorCode } from "../errors.js";
import { CONTAINMENT_BOUNDARIES, LIMIT_NAMES } from "../telemetry/events.js";
import { PHASES as ROLLOUT_PHASES } from "../rollout/decision.js";

export type MetricType = "counter" | "gauge" | "histogram";

export type LabelSet = Readonly<Record<string, string>>;

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Histograms only: bucket upper bounds, in the metric's base unit. */
  readonly buckets?: readonly number[];
  /**
   * Counters only: the series exported at 0 from start-up (a known, bounded label set), so that rate() and
   * alerts see the first increment instead of "no data" (Prometheus's advice on missing series).
   */
  readonly zeroSeries?: readonly LabelSet[];
}

function spec(name: string, type: MetricType, labels: readonly string[], help: string, buckets?: readonly number[]): MetricSpec {
  return Object.freeze({
    name,
    type,
    help,
    labels: Object.freeze([...labels]),
    ...(buckets ? { buckets: Object.freeze([...buckets]) } : {}),
  });
}

/** A counter whose series `zero` are exported at 0 from start-up. */
function counter(name: string, labels: readonly string[], help: string, zero: readonly LabelSet[]): MetricSpec {
  return Object.freeze({ ...spec(name, "counter", labels, help), zeroSeries: Object.freeze(zero.map((set) => Object.freeze({ ...set }))) });
}

/** Every combination of the given label values: `product({a: ["1", "2"]}, {b: ["x"]})` → `[{a: "1", b: "x"}, {a: "2", b: "x"}]`. */
function product(...dimensions: Readonly<Record<string, readonly string[]>>[]): LabelSet[] {
  let sets: LabelSet[] = [{}];
  for (const dimension of dimensions) {
    for (const [label, values] of Object.entries(dimension))
      sets = sets.flatMap((set) => values.map((value) => ({ ...set, [label]: value })));
  }
  return sets;
}

const BACKENDS = ["legacy", "hub"];
const ROLES = ["primary", "shadow"];
/** What a client's packets can break (every SWY_ERR_PROTOCOL_* code): switchyard_protocol_errors_total. */
const PROTOCOL_CODES = (Object.keys(ERROR_CATALOG) as ErrorCode[]).filter((code) => code.startsWith("SWY_ERR_PROTOCOL_"));
/** Why a backend session could not be opened (src/upstream/upstream-socket.ts). */
const UPSTREAM_OPEN_CODES: readonly ErrorCode[] = [
  "SWY_ERR_UPSTREAM_UNREACHABLE",
  "SWY_ERR_UPSTREAM_TIMEOUT",
  "SWY_ERR_UPSTREAM_REJECTED",
  "SWY_ERR_UPSTREAM_HANDSHAKE",
];
/** Why a client handshake is refused: draining, its backend could not be opened, no Engine.IO revision. */
const HANDSHAKE_REFUSAL_CODES: readonly ErrorCode[] = [
  "SWY_ERR_DRAINING",
  ...UPSTREAM_OPEN_CODES,
  "SWY_ERR_HUB_UNAVAILABLE",
  "SWY_ERR_QUEUE_OVERFLOW",
  "SWY_ERR_UNSUPPORTED_PROTOCOL",
  "SWY_ERR_SESSION_LIMIT",
  "SWY_ERR_ADDRESS_LIMIT",
  "SWY_ERR_RATE_LIMITED",
  "SWY_ERR_ENGINE_REFUSED",
];
/** Where containment happens and what it reports there. */
const CONTAINED_SERIES: readonly LabelSet[] = [
  ...product({ boundary: CONTAINMENT_BOUNDARIES, code: ["SWY_ERR_INTERNAL"] }),
  { boundary: "store", code: "SWY_ERR_STORE_MALFORMED" },
  { boundary: "request", code: "SWY_ERR_BAD_REQUEST" },
  { boundary: "admin", code: "SWY_ERR_BAD_REQUEST" },
];

/** Backend session set-up: a local hop is a millisecond, a cross-region one a few hundred. */
const CONNECT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** An emit's ack round trip through a backend: milliseconds when healthy, seconds under load. */
const ACK_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Session lifetimes: seconds (reconnect storms) to a day (idle tabs). */
const SESSION_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14400, 86400];
/** Shadow delivery minus primary delivery: well under a second when both backends are healthy. */
const SHADOW_DELAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Redis pub/sub between instances: a millisecond on one network, more under load. */
const BRIDGE_LAG_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const SWITCHYARD_METRICS = Object.freeze({
  // Sessions and traffic (fed by the core's telemetry events today).
  sessionsOpen: spec(
    "switchyard_sessions_open",
    "gauge",
    ["backend", "transport"],
    "Client sessions currently open, by backend and client transport.",
  ),
  sessionsOpened: counter(
    "switchyard_sessions_opened_total",
    ["backend", "protocol", "mode", "shadowed"],
    "Client sessions opened, by backend, Engine.IO protocol version, session mode and shadowing.",
    product({ backend: BACKENDS, protocol: ["3", "4"], mode: ["pipe", "terminate"], shadowed: ["true", "false"] }),
  ),
  sessionsClosed: spec(
    "switchyard_sessions_closed_total",
    "counter",
    ["backend", "reason", "code"],
    "Client sessions closed, by backend and reason (code is an SWY_ERR_* code or none).",
  ),
  sessionDuration: spec(
    "switchyard_session_duration_seconds",
    "histogram",
    ["backend"],
    "Lifetime of closed client sessions.",
    SESSION_DURATION_BUCKETS,
  ),
  sessionUpgrades: counter(
    "switchyard_session_upgrades_total",
    ["backend"],
    "Polling sessions upgraded to WebSocket, by backend.",
    product({ backend: BACKENDS }),
  ),
  packets: counter(
    "switchyard_packets_total",
    ["backend", "direction"],
    "Engine.IO messages relayed by terminated sessions, by backend and direction (pipe sessions are not counted per packet).",
    product({ backend: BACKENDS, direction: ["client_to_server", "server_to_client"] }),
  ),
  upstreamConnectDuration: spec(
    "switchyard_upstream_connect_duration_seconds",
    "histogram",
    ["backend", "role"],
    "Time to open a backend session (TCP, upgrade and Engine.IO open packet), by backend and role.",
    CONNECT_BUCKETS,
  ),
  ackLatency: spec(
    "switchyard_ack_latency_seconds",
    "histogram",
    ["backend"],
    "Client emits with an ack on terminated sessions: from forwarding the emit to the backend until its ack came back, by backend.",
    ACK_LATENCY_BUCKETS,
  ),
  upstreamErrors: counter(
    "switchyard_upstream_errors_total",
    ["backend", "role", "code"],
    "Backend sessions that could not be opened, by backend, role and SWY_ERR_* code.",
    product({ backend: BACKENDS, role: ROLES, code: UPSTREAM_OPEN_CODES }),
  ),
  protocolErrors: counter(
    "switchyard_protocol_errors_total",
    ["code"],
    "Client sessions closed for breaking the Socket.IO protocol, by SWY_ERR_* code.",
    product({ code: PROTOCOL_CODES }),
  ),
  passthroughRequests: counter(
    "switchyard_passthrough_requests_total",
    ["kind", "outcome"],
    "Requests passed to the legacy app (strangler pass-through), by kind and outcome.",
    product({ kind: ["http", "websocket"], outcome: ["forwarded", "failed"] }),
  ),
  handshakesRefused: counter(
    "switchyard_handshakes_refused_total",
    ["code"],
    "Client handshakes the gateway refused, by SWY_ERR_* code (SWY_ERR_ENGINE_REFUSED: requests engine.io refused with its " +
      "own error, such as an unknown transport).",
    product({ code: HANDSHAKE_REFUSAL_CODES }),
  ),
  limitHits: counter(
    "switchyard_limit_hits_total",
    ["limit"],
    "Times a configured bound was reached, by limit (docs/operating.md#operating-limits-and-failure-behaviour): the " +
      "session or request was refused or closed with its own SWY_ERR_* code.",
    product({ limit: LIMIT_NAMES }),
  ),
  adminRefused: counter(
    "switchyard_admin_refused_total",
    ["reason"],
    "Admin calls refused for their token, by reason (missing, wrong, disabled: no ADMIN_TOKEN configured).",
    product({ reason: ["missing", "wrong", "disabled"] }),
  ),
  drainedSessions: counter(
    "switchyard_drained_sessions_total",
    ["backend"],
    "Client sessions closed by admin drains (not by shutdown), by backend.",
    product({ backend: BACKENDS }),
  ),
  // Failure containment (issue 9): what would have been a crash, and what still reached the process.
  containedErrors: counter(
    "switchyard_contained_errors_total",
    ["boundary", "code"],
    "Failures caught at a trust boundary (client, backend, shadow, request, admin, store) that ended or refused " +
      "only their own session or request, by boundary and SWY_ERR_* code (SWY_ERR_INTERNAL: an exception, i.e. a bug; " +
      "SWY_ERR_STORE_MALFORMED: a Redis entry treated as absent).",
    CONTAINED_SERIES,
  ),
  uncaughtErrors: counter(
    "switchyard_uncaught_errors_total",
    ["kind"],
    "Errors that reached the process's last line of defence, by kind (uncaughtException: the instance drains and exits with " +
      "status 70; unhandledRejection: logged and counted, the instance keeps serving).",
    product({ kind: ["uncaughtException", "unhandledRejection"] }),
  ),
  workerRestarts: counter(
    "switchyard_worker_restarts_total",
    [],
    "Worker processes (WORKERS > 1) that exited unexpectedly and were restarted by the instance's primary process.",
    [{}],
  ),
  // The hub backend.
  hubFallbacks: counter(
    "switchyard_hub_fallbacks_total",
    ["code"],
    "Hub-route sessions sent to the legacy server because the hub failed, by SWY_ERR_* code.",
    product({ code: [...UPSTREAM_OPEN_CODES, "SWY_ERR_HUB_UNAVAILABLE"] }),
  ),
  // Routing and the shared store.
  routingHubPercent: spec(
    "switchyard_routing_hub_percent",
    "gauge",
    [],
    "Desired share of new sessions routed to the hub (0-100), from the applied routing config.",
  ),
  routingConfigVersion: spec("switchyard_routing_config_version", "gauge", [], "Version of the routing config this instance applies."),
  routingConfigReloads: counter(
    "switchyard_routing_config_reloads_total",
    ["outcome"],
    "Routing config changes received, by outcome (applied/rejected).",
    product({ outcome: ["applied", "rejected"] }),
  ),
  routingDecisions: counter(
    "switchyard_routing_decisions_total",
    ["backend", "reason"],
    "Route decisions, by backend and reason (split/override/list/fallback).",
    product({ backend: BACKENDS, reason: ["split", "override", "list", "fallback"] }),
  ),
  storeUp: spec("switchyard_store_up", "gauge", ["store"], "1 when the routing store (memory/redis) is connected, 0 when degraded."),
  ownerForwards: counter(
    "switchyard_owner_forwards_total",
    ["outcome"],
    "Session requests forwarded to the instance that owns the session, by outcome.",
    product({ outcome: ["forwarded", "failed"] }),
  ),
  // The shadow comparator.
  shadowSessionsOpen: spec(
    "switchyard_shadow_sessions_open",
    "gauge",
    ["target"],
    "Shadow sessions currently open, by shadow target backend.",
  ),
  shadowComparisons: spec(
    "switchyard_shadow_comparisons_total",
    "counter",
    ["result", "event"],
    "Primary/shadow deliveries compared, by result (match/mismatch/missing/extra) and event (a bounded set).",
  ),
  shadowDelay: spec(
    "switchyard_shadow_delay_seconds",
    "histogram",
    [],
    "Shadow delivery time minus primary delivery time, for matched pairs.",
    SHADOW_DELAY_BUCKETS,
  ),
  shadowReordered: counter(
    "switchyard_shadow_reordered_total",
    [],
    "Matched pairs the shadow delivered in another order than the primary.",
    [{}],
  ),
  shadowErrors: counter(
    "switchyard_shadow_errors_total",
    ["code"],
    "Shadow session failures, by SWY_ERR_* code.",
    product({ code: ["SWY_ERR_SHADOW", "SWY_ERR_INTERNAL", ...UPSTREAM_OPEN_CODES, ...PROTOCOL_CODES] }),
  ),
  shadowOverflow: counter(
    "switchyard_shadow_overflow_total",
    ["kind"],
    "Shadow comparisons abandoned because a bound was reached, by kind (pending/queue/buffer).",
    product({ kind: ["pending", "queue", "buffer"] }),
  ),
  // Rooms across backends (hub sessions' rooms at the gateway, the Redis adapter bridge).
  roomBroadcasts: spec(
    "switchyard_room_broadcasts_total",
    "counter",
    ["world", "source"],
    "Room broadcasts delivered by this instance, by world (primary/shadow) and source (hub " +
      "frame, another gateway, a legacy node, an emitter).",
  ),
  roomDeliveries: spec(
    "switchyard_room_deliveries_total",
    "counter",
    ["world"],
    "Room broadcast deliveries to hub-routed clients of this instance (one per recipient).",
  ),
  roomSockets: spec(
    "switchyard_room_sockets",
    "gauge",
    ["world"],
    "Hub-routed sockets (session x namespace) in this instance's room worlds.",
  ),
  bridgeUp: spec(
    "switchyard_bridge_up",
    "gauge",
    ["world"],
    "1 when the room bridge (socket.io Redis adapter protocol) is connected, 0 when down; absent without a bridge.",
  ),
  bridgePublishFailures: spec(
    "switchyard_bridge_publish_failures_total",
    "counter",
    ["world"],
    "Bridge publishes that failed (Redis down): broadcasts and answers other nodes missed, the gap of an outage.",
  ),
  bridgeMalformed: spec(
    "switchyard_bridge_malformed_total",
    "counter",
    ["world", "kind"],
    "Bridge inputs (kind: message/request) that break the adapter protocol, dropped.",
  ),
  bridgeLag: spec(
    "switchyard_bridge_lag_seconds",
    "histogram",
    ["world"],
    "From another gateway instance's publish of a hub broadcast to its delivery here (both instances' wall clocks).",
    BRIDGE_LAG_BUCKETS,
  ),
  // The progressive rollout (src/rollout/): every instance exports the state it sees; checks by the leader.
  rolloutPhase: spec(
    "switchyard_rollout_phase",
    "gauge",
    ["phase"],
    "1 for the rollout's current phase, 0 for the others; absent before any rollout.",
  ),
  rolloutWeight: spec("switchyard_rollout_weight", "gauge", [], "The hub weight (percent) the rollout set; 0 before any rollout."),
  rolloutStep: spec("switchyard_rollout_step", "gauge", [], "The rollout's current step, 1-based (0: rolled back below the first)."),
  rolloutGateValue: spec(
    "switchyard_rollout_gate_value",
    "gauge",
    ["gate"],
    "The last check's value of each gate of the plan (gate: its name).",
  ),
  rolloutGateLimit: spec("switchyard_rollout_gate_limit", "gauge", ["gate"], "The largest passing value of each gate at the last check."),
  rolloutLeader: spec("switchyard_rollout_leader", "gauge", [], "1 on the instance that leads the rollout (holds the lease)."),
  rolloutChecks: counter(
    "switchyard_rollout_checks_total",
    ["result"],
    "Rollout checks made by this instance as leader, by result (pass/fail/inconclusive).",
    product({ result: ["pass", "fail", "inconclusive"] }),
  ),
  rolloutTransitions: counter(
    "switchyard_rollout_transitions_total",
    ["to", "trigger"],
    "Rollout phase or weight changes made by this instance, by new phase and trigger (operator/automatic).",
    product({ to: [...ROLLOUT_PHASES], trigger: ["operator", "automatic"] }),
  ),
} satisfies Record<string, MetricSpec>);

export const CATALOG: readonly MetricSpec[] = Object.freeze(Object.values(SWITCHYARD_METRICS));

/** The label every series carries: the gateway instance's name (INSTANCE_ID). */
export const INSTANCE_LABEL = "instance_id";

/**
 * prom-client's default `nodejs_active_{handles,requests,resources}_total` are gauges with a counter's
 * suffix, which `promtool check metrics` rejects. They are dropped: `sum by (instance_id)` of the per-type
 * gauges of the same name without `_total` gives the same number.
 */
export const DROPPED_DEFAULT_METRICS: readonly string[] = Object.freeze([
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
]);

/** The catalog entry a series name belongs to (histograms expose `_bucket`, `_sum` and `_count` series). */
export function catalogEntryOf(seriesName: string): MetricSpec | undefined {
  for (const entry of CATALOG) {
    if (entry.name === seriesName) return entry;
    if (entry.type === "histogram" && [`${entry.name}_bucket`, `${entry.name}_sum`, `${entry.name}_count`].includes(seriesName))
      return entry;
  }
  return undefined;
}
