/**
 * Wires one gateway instance: the routing store and route decider, the upstream connector (legacy, hub,
 * fallback), the gateway, the operations listener with metrics and the admin API. Used by main.ts and,
 * in-process, by the integration tests.
 */
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { StaticConfig } from "./config/static-config.js";
import { effectiveHandshake, type HandshakeValues } from "./downstream/engine-options.js";
import { Gateway } from "./downstream/gateway.js";
import { createLogger } from "./logger.js";
import { registerAdminApi, storeReadinessCheck, type AdminApi } from "./ops/admin-api.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
import { createOpsServer, type OpsServer } from "./ops/ops-server.js";
import { createRouteDecider } from "./routing/route-decider.js";
import { createRoutingStore, type RedisStoreTuning } from "./store/create-store.js";
import type { RoutingStore } from "./store/routing-store.js";
import { MemoryDiffEvidence, RedisDiffEvidence } from "./shadow/evidence.js";
import { ShadowManager } from "./shadow/shadow-manager.js";
import { probeLegacyHandshake } from "./upstream/legacy-probe.js";
import { UpstreamConnector } from "./upstream/upstream-connector.js";

export interface SwitchyardOptions {
  readonly config: StaticConfig;
  /** The legacy server (LEGACY_URL, or the sample one main.ts started). */
  readonly legacyUrl: string;
  /** The hub (HUB_URL, or the sample one main.ts started); undefined: no hub. */
  readonly hubUrl?: string | undefined;
  readonly logger?: Logger;
  /** Tests shorten the Redis store's timers. */
  readonly storeTuning?: RedisStoreTuning;
}

export interface Switchyard {
  readonly config: StaticConfig;
  readonly gateway: Gateway;
  readonly store: RoutingStore;
  readonly ops: OpsServer;
  readonly metrics: Metrics;
  readonly admin: AdminApi;
  readonly shadow: ShadowManager;
  readonly logger: Logger;
  /** http://host:port of the client listener. */
  readonly url: string;
  readonly opsUrl: string;
  /** Resolves once the legacy server's handshake values are known (or were overridden). */
  readonly handshakeLearned: Promise<HandshakeValues>;
  /** Graceful: refuse new sessions, close open ones paced over `spreadMs`, let in-flight requests finish within `graceMs`, then close listeners. */
  shutdown(spreadMs?: number, graceMs?: number): Promise<void>;
  /** Immediate close of everything. */
  close(): Promise<void>;
}

const PROBE_RETRY_MS = 5_000;

function urlOf(address: AddressInfo): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${address.port}`;
}

/** How other instances reach this one: INTERNAL_URL, or this host's name when bound to every interface. */
function internalUrlOf(config: StaticConfig, address: AddressInfo): string {
  if (config.internalUrl !== undefined) return config.internalUrl;
  const wildcard = address.address === "0.0.0.0" || address.address === "::";
  return wildcard ? `http://${hostname()}:${address.port}` : urlOf(address);
}

export async function startSwitchyard(options: SwitchyardOptions): Promise<Switchyard> {
  const { config, legacyUrl } = options;
  const hubUrl = options.hubUrl ?? config.hubUrl;
  const logger = options.logger ?? createLogger(config.logLevel, config.instanceId);
  const overridden =
    config.handshake.pingIntervalMs !== undefined &&
    config.handshake.pingTimeoutMs !== undefined &&
    config.handshake.maxPayloadBytes !== undefined;

  const store = createRoutingStore(config, logger, options.storeTuning);
  const [probe] = await Promise.all([
    overridden
      ? undefined
      : probeLegacyHandshake(legacyUrl, config.socketIoPath, config.upstreamConnectTimeoutMs).catch((error: Error) => error),
    store.start(),
  ]);
  let learned: HandshakeValues | undefined;
  if (probe instanceof Error)
    logger.warn({ err: probe.message }, "legacy probe handshake failed; using socket.io defaults until it succeeds");
  else if (probe !== undefined) {
    learned = effectiveHandshake(config, probe);
    logger.info({ handshake: learned }, "learned the legacy server's handshake values");
  }
  const handshake = learned ?? effectiveHandshake(config, undefined);

  const connector = new UpstreamConnector({
    legacyUrl,
    hubUrl,
    hubShadowUrl: config.hubShadowUrl,
    legacyShadowUrl: config.legacyShadowUrl,
    socketIoPath: config.socketIoPath,
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    drainLowWater: Math.floor(config.limits.upstreamBufferHighWater / 2),
    maxAttachments: config.limits.maxAttachments,
    hubFallback: config.hubFallback,
    logger,
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
      maxBufferedBytes: config.limits.upstreamBufferLimit,
      maxAttachments: config.limits.maxAttachments,
    },
    logger,
  });
  const gateway = new Gateway({
    config,
    legacyUrl,
    logger,
    router,
    connector,
    handshake,
    directory: store,
    onSessionBound: (session, route, context) => shadow.attach(session, route, context),
  });
  store.setSessionCountsSource(() => gateway.sessionCounts());
  const metrics = createMetrics(
    {
      sessionCounts: () => gateway.sessionCounts(),
      routing: () => store.current(),
      store: () => ({ kind: store.kind, connected: store.health().state === "connected" }),
      onRoutingConfig: (listener) => store.onChange(() => listener("applied")),
      shadowSessions: () => shadow.openShadows,
    },
    config.instanceId,
  );
  const ops = createOpsServer(metrics, logger);
  const admin = registerAdminApi(ops, { store, control: gateway, adminToken: config.adminToken, logger, shadowEvidence: shadow.evidence });

  let probeTimer: NodeJS.Timeout | undefined;
  const handshakeLearned = new Promise<HandshakeValues>((resolve) => {
    if (overridden || learned !== undefined) return resolve(handshake);
    const retry = () => {
      probeLegacyHandshake(legacyUrl, config.socketIoPath, config.upstreamConnectTimeoutMs).then(
        (value) => {
          const values = effectiveHandshake(config, value);
          learned = values;
          gateway.updateHandshake(values);
          logger.info({ handshake: values }, "learned the legacy server's handshake values");
          resolve(values);
        },
        () => {
          probeTimer = setTimeout(retry, PROBE_RETRY_MS);
          probeTimer.unref();
        },
      );
    };
    probeTimer = setTimeout(retry, PROBE_RETRY_MS);
    probeTimer.unref();
  });

  ops.addReadinessCheck({
    name: "accepting sessions",
    check: () => ({ ok: !gateway.isDraining, detail: gateway.isDraining ? "draining" : undefined }),
  });
  ops.addReadinessCheck({
    name: "legacy handshake",
    check: () => ({
      ok: overridden || learned !== undefined,
      detail: overridden ? "overridden" : learned === undefined ? "not learned yet (legacy unreachable)" : "learned",
    }),
  });
  ops.addReadinessCheck(storeReadinessCheck(store));

  const [clientAddress, opsAddress] = await Promise.all([
    gateway.listen(config.port, config.host),
    ops.listen(config.opsPort, config.opsHost),
  ]);
  store.setInternalUrl(internalUrlOf(config, clientAddress));

  let closing: Promise<void> | undefined;
  const finish = async (graceful: boolean, spreadMs: number, graceMs: number) => {
    clearTimeout(probeTimer);
    admin.close();
    if (graceful) await gateway.shutdown(spreadMs, graceMs);
    else await gateway.close();
    await ops.close();
    await shadow.close();
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
    logger,
    url: urlOf(clientAddress),
    opsUrl: urlOf(opsAddress),
    handshakeLearned,
    shutdown: (spreadMs = config.drainTimeoutMs / 2, graceMs = config.drainTimeoutMs / 4) => (closing ??= finish(true, spreadMs, graceMs)),
    close: () => (closing ??= finish(false, 0, 0)),
  };
}
