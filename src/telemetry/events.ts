/**
 * Observability as typed events (the undici way): the core publishes on `node:diagnostics_channel`
 * channels and never imports a metrics library; src/ops/metrics.ts subscribes. Publishing to a channel
 * without subscribers costs a property check, so the hot paths publish unconditionally.
 */
import diagnostics from "node:diagnostics_channel";
import type { Backend, ClientTransport, Direction, RouteReason, SessionCloseReason, SessionMode } from "../domain.js";
import type { ErrorCode } from "../errors.js";

export interface SessionOpenedEvent {
  readonly sessionId: string;
  readonly backend: Backend;
  readonly mode: SessionMode;
  readonly transport: ClientTransport;
  readonly protocol: 3 | 4;
  readonly shadowed: boolean;
}

export interface SessionClosedEvent {
  readonly sessionId: string;
  readonly backend: Backend;
  readonly mode: SessionMode;
  readonly transport: ClientTransport;
  readonly reason: SessionCloseReason;
  readonly code: ErrorCode | undefined;
  readonly durationMs: number;
}

export interface SessionUpgradedEvent {
  readonly sessionId: string;
  readonly backend: Backend;
  readonly mode: SessionMode;
}

export interface PacketEvent {
  readonly backend: Backend;
  readonly direction: Direction;
}

export interface UpstreamConnectedEvent {
  readonly backend: Backend;
  readonly role: "primary" | "shadow";
  readonly seconds: number;
}

export interface UpstreamFailedEvent {
  readonly backend: Backend;
  readonly role: "primary" | "shadow";
  readonly code: ErrorCode;
  readonly seconds: number;
}

export interface ProtocolErrorEvent {
  readonly code: ErrorCode;
  /** The session's backend; undefined while the session had no route yet (its first CONNECT was the error). */
  readonly backend: Backend | undefined;
}

/**
 * A client emit with an ack id answered: the time from the gateway forwarding the event to the backend until
 * the backend's ack for it came back through the gateway (primary terminated sessions only). The same measure
 * for either backend, so that the rollout can judge the hub against legacy over one interval.
 */
export interface AckLatencyEvent {
  readonly backend: Backend;
  readonly seconds: number;
}

export interface PassthroughEvent {
  readonly kind: "http" | "websocket";
  readonly outcome: "forwarded" | "failed";
  readonly code: ErrorCode | undefined;
}

export interface HandshakeRefusedEvent {
  readonly code: ErrorCode;
}

export interface RouteDecidedEvent {
  readonly backend: Backend;
  readonly reason: RouteReason;
}

export interface HubFallbackEvent {
  readonly code: ErrorCode;
}

export interface OwnerForwardEvent {
  readonly outcome: "forwarded" | "failed";
}

export type ShadowResult = "match" | "mismatch" | "missing" | "extra";

export interface ShadowComparisonEvent {
  readonly result: ShadowResult;
  /** A bounded label (see src/shadow/budget.ts EventLabels). */
  readonly event: string;
  /** match: shadow delivery minus primary delivery. */
  readonly delaySeconds: number | undefined;
  readonly reordered: boolean;
}

export interface ShadowSessionEvent {
  readonly target: Backend;
  readonly open: boolean;
}

export interface ShadowErrorEvent {
  readonly code: ErrorCode;
}

export interface ShadowOverflowEvent {
  /**
   * pending: the comparison budget; queue: mirrored messages waiting for the shadow to open or for the tap;
   * buffer: bytes waiting for the shadow backend.
   */
  readonly kind: "pending" | "queue" | "buffer";
}

/**
 * A bound of src/config/limit-settings.ts (or an older one) was reached: a metric label, bounded. The
 * session or request it happened to is refused or closed with its own SWY_ERR_* code as well.
 */
export const LIMIT_NAMES = Object.freeze([
  "early_buffer",
  "pending_queue",
  "shadow_queue",
  "client_buffer",
  "upstream_buffer",
  "request_timeout",
  "header_size",
  "sessions",
  "sessions_per_address",
  "handshake_rate",
  "admin_body",
] as const);

export type LimitName = (typeof LIMIT_NAMES)[number];

export interface LimitHitEvent {
  readonly limit: LimitName;
}

/** Why an admin call was refused: no Bearer token, a wrong one, or no ADMIN_TOKEN configured. A metric label. */
export type AdminRefusalReason = "missing" | "wrong" | "disabled";

/** An admin call refused for its token. Never carries the token itself. */
export interface AdminRefusedEvent {
  readonly reason: AdminRefusalReason;
  readonly method: string;
  /** The path without its query string. */
  readonly path: string;
  readonly address: string;
}

export type RoomWorldName = "primary" | "shadow";

/** One room broadcast delivered on this instance (one event per broadcast, not per recipient). */
export interface RoomBroadcastEvent {
  readonly world: RoomWorldName;
  /** hub: a broadcast frame on this instance; gateway: another instance's; legacy: a socket.io node's; emitter: a Redis emitter's. */
  readonly source: "hub" | "gateway" | "legacy" | "emitter";
  /** Hub-routed sockets of this instance it was delivered to. */
  readonly recipients: number;
  /** Engine.IO messages written for it (recipients × the parts of a binary broadcast). */
  readonly messages: number;
}

export interface BridgeStateEvent {
  readonly world: RoomWorldName;
  readonly up: boolean;
}

/** A publish the bridge could not make (Redis down): a broadcast or an answer other nodes miss. */
export interface BridgeGapEvent {
  readonly world: RoomWorldName;
}

/** A bridge input that breaks the adapter protocol, dropped. */
export interface BridgeMalformedEvent {
  readonly world: RoomWorldName;
  readonly kind: "message" | "request";
}

/** Another gateway instance's broadcast: its publish to its delivery here (wall clocks of both instances). */
export interface BridgeLagEvent {
  readonly world: RoomWorldName;
  readonly seconds: number;
}

/**
 * Where a failure from outside the process was caught (bounded, a metric label): `client` (client messages),
 * `backend` (legacy or hub frames), `shadow` (the shadow tap and its backend), `request` (client-listener
 * HTTP requests and upgrades, owner forwarding), `admin` (ops/admin requests), `store` (Redis entries).
 */
export type ContainmentBoundary = "client" | "backend" | "shadow" | "request" | "admin" | "store";

export const CONTAINMENT_BOUNDARIES: readonly ContainmentBoundary[] = Object.freeze([
  "client",
  "backend",
  "shadow",
  "request",
  "admin",
  "store",
]);

export interface ContainedErrorEvent {
  readonly boundary: ContainmentBoundary;
  /** SWY_ERR_INTERNAL for an exception (a bug); SWY_ERR_STORE_MALFORMED for a store entry treated as absent. */
  readonly code: ErrorCode;
}

export type UncaughtKind = "uncaughtException" | "unhandledRejection";

export interface UncaughtErrorEvent {
  readonly kind: UncaughtKind;
}

/** The rollout this instance sees (every instance, on every applied routing document with a rollout). */
export interface RolloutStateEvent {
  readonly id: string;
  readonly phase: string;
  readonly weight: number;
  readonly step: number;
  /** The last check's gates: value and limit (undefined when it had none). */
  readonly gates: readonly { readonly name: string; readonly value: number | undefined; readonly limit: number | undefined }[];
  readonly leader: boolean;
}

/** A check the leader made at the end of an interval. */
export interface RolloutCheckEvent {
  readonly verdict: "pass" | "fail" | "inconclusive";
}

/** A change of phase or weight, by the instance that made it. */
export interface RolloutTransitionEvent {
  readonly from: string;
  readonly to: string;
  readonly trigger: "operator" | "automatic";
  readonly weight: number;
}

export interface TelemetryEvents {
  "switchyard:session:opened": SessionOpenedEvent;
  "switchyard:session:closed": SessionClosedEvent;
  "switchyard:session:upgraded": SessionUpgradedEvent;
  "switchyard:packet": PacketEvent;
  "switchyard:upstream:connected": UpstreamConnectedEvent;
  "switchyard:upstream:failed": UpstreamFailedEvent;
  "switchyard:protocol:error": ProtocolErrorEvent;
  "switchyard:ack:latency": AckLatencyEvent;
  "switchyard:passthrough": PassthroughEvent;
  "switchyard:handshake:refused": HandshakeRefusedEvent;
  "switchyard:route:decided": RouteDecidedEvent;
  "switchyard:hub:fallback": HubFallbackEvent;
  "switchyard:owner:forward": OwnerForwardEvent;
  "switchyard:shadow:comparison": ShadowComparisonEvent;
  "switchyard:shadow:session": ShadowSessionEvent;
  "switchyard:shadow:error": ShadowErrorEvent;
  "switchyard:shadow:overflow": ShadowOverflowEvent;
  "switchyard:limit:hit": LimitHitEvent;
  "switchyard:admin:refused": AdminRefusedEvent;
  "switchyard:rooms:broadcast": RoomBroadcastEvent;
  "switchyard:bridge:state": BridgeStateEvent;
  "switchyard:bridge:gap": BridgeGapEvent;
  "switchyard:bridge:malformed": BridgeMalformedEvent;
  "switchyard:bridge:lag": BridgeLagEvent;
  "switchyard:error:contained": ContainedErrorEvent;
  "switchyard:process:uncaught": UncaughtErrorEvent;
  "switchyard:rollout:state": RolloutStateEvent;
  "switchyard:rollout:check": RolloutCheckEvent;
  "switchyard:rollout:transition": RolloutTransitionEvent;
}

export type TelemetryEventName = keyof TelemetryEvents;

const channels = new Map<string, diagnostics.Channel>();

function channelOf(name: TelemetryEventName): diagnostics.Channel {
  let channel = channels.get(name);
  if (channel === undefined) {
    channel = diagnostics.channel(name);
    channels.set(name, channel);
  }
  return channel;
}

export function publish<N extends TelemetryEventName>(name: N, event: TelemetryEvents[N]): void {
  const channel = channelOf(name);
  if (channel.hasSubscribers) channel.publish(event);
}

export type Unsubscribe = () => void;

export function subscribe<N extends TelemetryEventName>(name: N, listener: (event: TelemetryEvents[N]) => void): Unsubscribe {
  const handler = (message: unknown) => listener(message as TelemetryEvents[N]);
  diagnostics.subscribe(name, handler);
  return () => {
    diagnostics.unsubscribe(name, handler);
  };
}

/** Packet events are published per packet: these frozen descriptors keep that allocation-free. */
export const PACKET_EVENTS: Readonly<Record<Backend, Readonly<Record<Direction, PacketEvent>>>> = Object.freeze({
  legacy: Object.freeze({
    client_to_server: Object.freeze({ backend: "legacy", direction: "client_to_server" }),
    server_to_client: Object.freeze({ backend: "legacy", direction: "server_to_client" }),
  }),
  hub: Object.freeze({
    client_to_server: Object.freeze({ backend: "hub", direction: "client_to_server" }),
    server_to_client: Object.freeze({ backend: "hub", direction: "server_to_client" }),
  }),
});
