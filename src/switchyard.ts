/**
 * Wires one gateway instance: probe the legacy server, build the gateway and the operations listener,
 * subscribe metrics. Used by main.ts and, in-process, by the integration tests.
 */
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { StaticConfig } from "./config/static-config.js";
import { effectiveHandshake, type HandshakeValues } from "./downstream/engine-options.js";
import { Gateway } from "./downstream/gateway.js";
import { createLogger } from "./logger.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
import { createOpsServer, type OpsServer } from "./ops/ops-server.js";
import { LEGACY_ONLY } from "./routing/route.js";
import { probeLegacyHandshake } from "./upstream/legacy-probe.js";
import { UpstreamConnector } from "./upstream/upstream-connector.js";

export interface SwitchyardOptions {
  readonly config: StaticConfig;
  /** The legacy server (LEGACY_URL, or the sample one main.ts started). */
  readonly legacyUrl: string;
  readonly logger?: Logger;
}

export interface Switchyard {
  readonly config: StaticConfig;
  readonly gateway: Gateway;
  readonly ops: OpsServer;
  readonly metrics: Metrics;
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

export async function startSwitchyard(options: SwitchyardOptions): Promise<Switchyard> {
  const { config, legacyUrl } = options;
  const logger = options.logger ?? createLogger(config.logLevel, config.instanceId);
  const overridden = config.handshake.pingIntervalMs !== undefined && config.handshake.pingTimeoutMs !== undefined && config.handshake.maxPayloadBytes !== undefined;

  let learned: HandshakeValues | undefined;
  if (!overridden) {
    try {
      const probe = await probeLegacyHandshake(legacyUrl, config.socketIoPath, config.upstreamConnectTimeoutMs);
      learned = effectiveHandshake(config, probe);
      logger.info({ handshake: learned }, "learned the legacy server's handshake values");
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "legacy probe handshake failed; using socket.io defaults until it succeeds");
    }
  }
  const handshake = learned ?? effectiveHandshake(config, undefined);

  const connector = new UpstreamConnector({
    legacyUrl,
    socketIoPath: config.socketIoPath,
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    drainLowWater: Math.floor(config.limits.upstreamBufferHighWater / 2),
  });
  const gateway = new Gateway({ config, legacyUrl, logger, router: LEGACY_ONLY, connector, handshake });
  const metrics = createMetrics({ sessionCounts: () => gateway.sessionCounts() }, config.instanceId);
  const ops = createOpsServer(metrics, logger);

  let probeTimer: NodeJS.Timeout | undefined;
  const handshakeLearned = new Promise<HandshakeValues>((resolve) => {
    if (overridden || learned !== undefined) return resolve(handshake);
    const retry = () => {
      probeLegacyHandshake(legacyUrl, config.socketIoPath, config.upstreamConnectTimeoutMs).then(
        (probe) => {
          const values = effectiveHandshake(config, probe);
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
    check: () => ({ ok: overridden || learned !== undefined, detail: overridden ? "overridden" : learned === undefined ? "not learned yet (legacy unreachable)" : "learned" }),
  });

  const [clientAddress, opsAddress] = await Promise.all([gateway.listen(config.port, config.host), ops.listen(config.opsPort, config.opsHost)]);

  let closing: Promise<void> | undefined;
  const finish = async (graceful: boolean, spreadMs: number, graceMs: number) => {
    clearTimeout(probeTimer);
    if (graceful) await gateway.shutdown(spreadMs, graceMs);
    else await gateway.close();
    await ops.close();
    metrics.close();
  };
  return {
    config,
    gateway,
    ops,
    metrics,
    logger,
    url: urlOf(clientAddress),
    opsUrl: urlOf(opsAddress),
    handshakeLearned,
    shutdown: (spreadMs = config.drainTimeoutMs / 2, graceMs = config.drainTimeoutMs / 4) => (closing ??= finish(true, spreadMs, graceMs)),
    close: () => (closing ??= finish(false, 0, 0)),
  };
}
