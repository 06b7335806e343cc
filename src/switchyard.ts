/**
 * Wires one gateway instance: the routing store and route decider, the upstream connector (legacy, hub,
 * fallback), the gateway, the operations listener with metrics and the admin API. Used by main.ts and,
 * in-process, by the integration tests.
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { StaticConfig } from "./config/static-config.js";
import type { ClientSession } from "./downstream/client-session.js";
import { hasEngineSession } from "./downstream/engine-internals.js";
import { createEngine, type HandshakeValues } from "./downstream/engine-options.js";
import { Gateway } from "./downstream/gateway.js";
import { forwardingMarker } from "./downstream/gateway-headers.js";
import { HandshakeLearner } from "./downstream/handshake-learner.js";
import { HandshakeOrchestrator, type HandshakeOrchestratorDeps } from "./downstream/handshake-orchestrator.js";
import { OwnerRouting } from "./downstream/owner-routing.js";
import { PendingHandshakes } from "./downstream/pending-handshakes.js";
import { RequestDispatcher } from "./downstream/request-dispatch.js";
import { failRequest } from "./downstream/request-guard.js";
import type { SessionDirectory } from "./downstream/session-directory.js";
import { SessionTable } from "./downstream/session-table.js";
import { createLogger } from "./logger.js";
import { registerAdminApi, storeReadinessCheck, type AdminApi } from "./ops/admin-api.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
import { createOpsServer, type OpsServer } from "./ops/ops-server.js";
import { SessionAdmission } from "./limits/session-admission.js";
import { LegacyProxy } from "./passthrough/legacy-proxy.js";
import { OwnerForwarder } from "./passthrough/owner-forwarder.js";
import { PipeSessions } from "./passthrough/pipe-sessions.js";
import { NetworkList } from "./routing/networks.js";
import { createRouteDecider } from "./routing/route-decider.js";
import { generateSessionId } from "./session-id.js";
import { createRoutingStore, type RedisStoreTuning } from "./store/create-store.js";
import type { RoutingStore } from "./store/routing-store.js";
import { MemoryDiffEvidence, RedisDiffEvidence } from "./shadow/evidence.js";
import { ShadowManager } from "./shadow/shadow-manager.js";
import { UpstreamConnector } from "./upstream/upstream-connector.js";
import { HubLinks } from "./upstream/hub-link.js";
import { HUB_DEFAULTS } from "./upstream/hub-upstream.js";
import { createRollout } from "./rollout/create-rollout.js";
import { registerRolloutApi } from "./ops/rollout-api.js";
import { createRoomWorlds, roomLimitsOf, type RoomWorlds } from "./rooms/room-worlds.js";
import type { EngineIoRevision } from "./protocol/engineio.js";
import { publish } from "./telemetry/events.js";
import { listenPrivately, withPort } from "./workers/private-listener.js";

export interface SwitchyardOptions {
  readonly config: StaticConfig;
  /** The legacy server (LEGACY_URL, or the sample one main.ts started). */
  readonly legacyUrl: string;
  /** The hub (HUB_URL, or the sample one main.ts started); undefined: no hub. */
  readonly hubUrl?: string | undefined;
  readonly logger?: Logger;
  /** Tests shorten the Redis store's timers. */
  readonly storeTuning?: RedisStoreTuning;
  /**
   * WORKERS > 1: this process is one worker of an instance (src/workers/worker.ts). It also listens on a port of its
   * own, its internal URL, and labels its metrics with the instance's name, which the primary sums them under.
   */
  readonly worker?: {
    readonly metricsInstanceId: string;
    /** A pipe session closed here whose next poll may reach another worker (PipeSessionOptions.onDrained). */
    readonly onPipeDrained?: (sid: string, eio: EngineIoRevision) => Promise<void> | void;
  };
}

export interface Switchyard {
  readonly config: StaticConfig;
  readonly gateway: Gateway;
  readonly store: RoutingStore;
  readonly ops: OpsServer;
  readonly metrics: Metrics;
  readonly admin: AdminApi;
  readonly shadow: ShadowManager;
  /** Hub sessions' rooms (primary and shadow worlds). */
  readonly rooms: RoomWorlds;
  readonly logger: Logger;
  /** http://host:port of the client listener. */
  readonly url: string;
  readonly opsUrl: string;
  /** How other instances (and workers) reach this one's sessions (INTERNAL_URL, or derived). */
  readonly internalUrl: string;
  /** Resolves once the legacy server's handshake values are known (or were overridden). */
  readonly handshakeLearned: Promise<HandshakeValues>;
  /**
   * Graceful: refuse new sessions, close open ones paced over `spreadMs`, let in-flight requests finish
   * within `graceMs`, then close listeners.
   */
  shutdown(spreadMs?: number, graceMs?: number): Promise<void>;
  /** Immediate close of everything. */
  close(): Promise<void>;
}

function urlOf(address: AddressInfo, scheme: "http" | "https" = "http"): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${scheme}://${host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${address.port}`;
}

/** How other instances reach this one: INTERNAL_URL, or this host's name when bound to every interface. */
function internalUrlOf(config: StaticConfig, address: AddressInfo): string {
  if (config.internalUrl !== undefined) return config.internalUrl;
  const scheme = config.tls === undefined ? "http" : "https";
  const wildcard = address.address === "0.0.0.0" || address.address === "::";
  return wildcard ? `${scheme}://${hostname()}:${address.port}` : urlOf(address, scheme);
}

export async function startSwitchyard(options: SwitchyardOptions): Promise<Switchyard> {
  const { config, legacyUrl } = options;
  const hubUrl = options.hubUrl ?? config.hubUrl;
  const logger = options.logger ?? createLogger(config.logLevel, config.instanceId);
  const store = createRoutingStore(config, logger, options.storeTuning);
  const learner = HandshakeLearner.forLegacy(config, legacyUrl, logger);
  await Promise.all([learner.probeOnce(), store.start()]);

  const rooms = createRoomWorlds(config, logger);
  const hubLinks = hubLinksOf(config);
  const connector = new UpstreamConnector({
    legacyUrl,
    hubUrl,
    hubShadowUrl: config.hubShadowUrl,
    legacyShadowUrl: config.legacyShadowUrl,
    socketIoPath: config.socketIoPath,
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    drainLowWater: Math.floor(config.limits.upstreamBufferHighWater / 2),
    maxAttachments: config.limits.maxAttachments,
    earlyBufferBytes: config.limits.earlyBufferBytes,
    hubFallback: config.hubFallback,
    logger,
    rooms,
    roomLimits: roomLimitsOf(config),
    ...(hubLinks !== undefined ? { hubLinks } : {}),
  });
  const router = createRouteDecider(() => store.current(), {
    legacyShadow: config.legacyShadowUrl !== undefined,
    hubShadow: (config.hubShadowUrl ?? hubUrl) !== undefined,
  });
  const shadow = new ShadowManager({
    instanceId: config.instanceId,
    config: () => store.current().shadow,
    openShadow: (primary, context, sessionId) => connector.openShadow(primary, context, sessionId),
    evidence:
      config.redisUrl === undefined
        ? new MemoryDiffEvidence(config.shadowEvidenceLimit)
        : new RedisDiffEvidence(config.redisUrl, config.redisKeyPrefix, config.shadowEvidenceLimit, logger),
    limits: {
      maxBacklog: config.shadowBacklogLimit,
      maxQueuedMessages: config.limits.maxPendingMessages,
      maxQueuedBytes: config.limits.shadowQueueBytes,
      maxBufferedBytes: config.limits.upstreamBufferLimit,
      maxAttachments: config.limits.maxAttachments,
    },
    logger,
  });
  const gateway = composeGateway({
    config,
    legacyUrl,
    handshake: learner.current,
    logger,
    router,
    connector,
    directory: store,
    onSessionBound: (session, route, context) => shadow.attach(session, route, context),
    ...(options.worker?.onPipeDrained === undefined ? {} : { onPipeDrained: options.worker.onPipeDrained }),
  });
  store.setSessionCountsSource(() => gateway.sessionCounts());
  const metrics = createMetrics(
    {
      sessionCounts: () => gateway.sessionCounts(),
      routing: () => store.current(),
      store: () => ({ kind: store.kind, connected: store.health().state === "connected" }),
      onRoutingConfig: (listener) => store.onChange(() => listener("applied")),
      shadowSessions: () => shadow.openShadows,
      rooms: {
        sockets: () => ({ primary: rooms.primary.socketCount, shadow: rooms.shadow.socketCount }),
        bridgeUp: () => rooms.bridgeUp(),
      },
    },
    options.worker?.metricsInstanceId ?? config.instanceId,
  );
  const ops = createOpsServer(metrics, logger, config.listener);
  const admin = registerAdminApi(ops, { store, control: gateway, adminToken: config.adminToken, logger, shadowEvidence: shadow.evidence });
  const rollout = createRollout(config, store, admin.drains, logger);
  registerRolloutApi(ops, { controller: rollout.controller, adminToken: config.adminToken });

  const handshakeLearned = learner.untilLearned((values) => gateway.updateHandshake(values));

  ops.addReadinessCheck({
    name: "accepting sessions",
    check: () => ({ ok: !gateway.isDraining, detail: gateway.isDraining ? "draining" : undefined }),
  });
  ops.addReadinessCheck({
    name: "legacy handshake",
    check: () => ({
      ok: learner.state !== "defaults",
      detail: learner.state === "defaults" ? "not learned yet (legacy unreachable)" : learner.state,
    }),
  });
  ops.addReadinessCheck(storeReadinessCheck(store));
  // Informational (never unready: an outage of Redis must not take gateways out of rotation).
  ops.addReadinessCheck({
    name: "room bridge",
    check: () => {
      const up = rooms.bridgeUp();
      return {
        ok: true,
        detail: up === undefined ? "off: hub sessions' rooms span this instance only" : up.primary ? "connected" : "down",
      };
    },
  });
  if (!config.rooms.bridge && hubUrl !== undefined)
    logger.info(
      "room bridge off (REDIS_URL unset or BRIDGE=off): hub sessions' rooms span this instance only and do not reach legacy sessions",
    );

  // A worker's own port first: its sessions are registered with it from the first one on.
  const own = options.worker === undefined ? undefined : await listenPrivately(gateway.http, config.host);
  const ownUrl =
    own === undefined
      ? undefined
      : config.internalUrl === undefined
        ? internalUrlOf(config, own.address)
        : withPort(config.internalUrl, own.address.port);
  if (ownUrl !== undefined) store.setInternalUrl(ownUrl);
  const [clientAddress, opsAddress] = await Promise.all([
    gateway.listen(config.port, config.host),
    ops.listen(config.opsPort, config.opsHost),
  ]);
  const internalUrl = ownUrl ?? internalUrlOf(config, clientAddress);
  store.setInternalUrl(internalUrl);

  let closing: Promise<void> | undefined;
  const finish = async (graceful: boolean, spreadMs: number, graceMs: number) => {
    learner.stop();
    await rollout.close();
    admin.close();
    // The workers of an instance drain together: a pipe session's poll may wait on one worker for the close that
    // another sends, so each listens until the whole spread is over.
    if (graceful) await gateway.shutdown(spreadMs, graceMs, options.worker === undefined ? 0 : spreadMs);
    else await gateway.close();
    own?.close();
    // After the sessions: each has sent its close frame on its link by now.
    hubLinks?.close();
    await ops.close();
    await shadow.close();
    await rooms.close();
    await store.close();
    metrics.close();
  };
  return {
    config,
    gateway,
    store,
    ops,
    metrics,
    admin,
    shadow,
    rooms,
    logger,
    url: urlOf(clientAddress, config.tls === undefined ? "http" : "https"),
    opsUrl: urlOf(opsAddress),
    internalUrl,
    handshakeLearned,
    shutdown: (spreadMs = config.drainTimeoutMs / 2, graceMs = config.drainTimeoutMs / 4) => (closing ??= finish(true, spreadMs, graceMs)),
    close: () => (closing ??= finish(false, 0, 0)),
  };
}

/** Everything composeGateway needs from outside the downstream layer. */
interface GatewayInputs extends Pick<HandshakeOrchestratorDeps, "router" | "connector" | "logger" | "onSessionBound"> {
  readonly config: StaticConfig;
  readonly legacyUrl: string;
  readonly handshake: HandshakeValues;
  readonly directory: SessionDirectory;
  readonly onPipeDrained?: (sid: string, eio: EngineIoRevision) => Promise<void> | void;
}

/** Builds the gateway's parts and wires them: engine.io, the legacy proxy and pipes, owner forwarding, handshakes. */
function composeGateway(inputs: GatewayInputs): Gateway {
  const { config, legacyUrl, handshake, directory } = inputs;
  const engine = createEngine(config, handshake);
  const proxy = new LegacyProxy({ target: legacyUrl, trustProxy: config.trustProxy });
  const pipes = new PipeSessions({
    proxy,
    legacyUrl,
    path: config.socketIoPath,
    idleTimeoutMs: handshake.pingInterval + handshake.pingTimeout,
    handshakeTimeoutMs: config.upstreamConnectTimeoutMs,
    ...(inputs.onPipeDrained === undefined ? {} : { onDrained: inputs.onPipeDrained }),
  });
  const marker = forwardingMarker(config);
  const forwarder = new OwnerForwarder(marker);
  const sessions = new SessionTable<ClientSession>();
  const pending = new PendingHandshakes(directory);
  const handshakes = new HandshakeOrchestrator({
    trustProxy: config.trustProxy,
    trustedProxies: new NetworkList(config.trustedProxies),
    forwardHeaders: config.forwardHeaders,
    legacyMode: config.legacyMode,
    limits: config.limits,
    router: inputs.router,
    connector: inputs.connector,
    directory,
    pending,
    sessions,
    logger: inputs.logger,
    admission: new SessionAdmission(config.listener, () => sessions.size + pipes.size),
    ...(inputs.onSessionBound !== undefined ? { onSessionBound: inputs.onSessionBound } : {}),
  });
  engine.generateId = (req) => pending.sessionIdOf(req) ?? generateSessionId();
  engine.on("connection", (socket) => handshakes.connect(socket));
  engine.on("connection_error", (error: { req: IncomingMessage }) => {
    pending.refuse(error.req);
    // engine.io answered it with its own error code (the client sees engine.io's answer); operators see it counted.
    publish("switchyard:handshake:refused", { code: "SWY_ERR_ENGINE_REFUSED" });
  });
  const dispatcher = new RequestDispatcher({
    socketIoPath: config.socketIoPath,
    legacy: proxy,
    engine: {
      hasSession: (sid) => hasEngineSession(engine, sid),
      handleRequest: (req, res) => engine.handleRequest(req, res),
      handleUpgrade: (req, socket, head) => engine.handleUpgrade(req, socket, head),
    },
    pipes,
    owners: new OwnerRouting(directory),
    forwarder,
    handshake: (request) => handshakes.handshake(request),
    fail: (target, error, what) => failRequest(inputs.logger, target, error, what),
  });
  return new Gateway({
    engine,
    proxy,
    pipes,
    forwarder,
    sessions,
    handshakes,
    dispatcher,
    listener: config.listener,
    forwardingMarker: marker,
    ...(config.tls === undefined
      ? {}
      : {
          tls: {
            ...config.tls,
            onReload: (error: Error | undefined) =>
              error === undefined
                ? inputs.logger.info({ certFile: config.tls?.certFile }, "TLS certificate reloaded")
                : inputs.logger.error({ err: error.message }, "TLS files changed but cannot serve: the previous certificate stays"),
          },
        }),
  });
}

/** HUB_PROTOCOL auto or v2: the process's hub links (docs/hub-protocol.md §11); v1: none. */
function hubLinksOf(config: StaticConfig): HubLinks | undefined {
  const { protocol, ...bounds } = config.hubLink;
  if (protocol === "v1") return undefined;
  return new HubLinks({
    protocol,
    ...bounds,
    drainLowWater: Math.floor(config.limits.upstreamBufferHighWater / 2),
    pingIntervalMs: HUB_DEFAULTS.pingIntervalMs,
  });
}
