/**
 * Learns the handshake values the legacy server gives its clients (pingInterval, pingTimeout, maxPayload)
 * so that the gateway's clients get the same ones. One probe at start-up; when the legacy server is down
 * then, the gateway starts with socket.io's defaults and keeps probing every `retryMs` until it answers.
 * Configured overrides (all three values) make probing unnecessary.
 */
import type { Logger } from "pino";
import type { StaticConfig } from "../config/static-config.js";
import type { EngineIoHandshake } from "../protocol/engineio.js";
import { probeLegacyHandshake } from "../upstream/legacy-probe.js";
import { effectiveHandshake, type HandshakeValues } from "./engine-options.js";

export const PROBE_RETRY_MS = 5_000;

export type HandshakeProbe = () => Promise<EngineIoHandshake>;

export interface HandshakeLearnerOptions {
  readonly config: StaticConfig;
  readonly logger: Logger;
  /** One probe handshake (HandshakeLearner.forLegacy: with the legacy server). */
  readonly probe: HandshakeProbe;
  readonly retryMs?: number;
}

export type HandshakeSource = "overridden" | "learned" | "defaults";

export class HandshakeLearner {
  private values: HandshakeValues;
  private source: HandshakeSource;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: HandshakeLearnerOptions) {
    const { handshake } = options.config;
    const overridden =
      handshake.pingIntervalMs !== undefined && handshake.pingTimeoutMs !== undefined && handshake.maxPayloadBytes !== undefined;
    this.source = overridden ? "overridden" : "defaults";
    this.values = effectiveHandshake(options.config, undefined);
  }

  static forLegacy(config: StaticConfig, legacyUrl: string, logger: Logger, retryMs?: number): HandshakeLearner {
    const probe = () => probeLegacyHandshake(legacyUrl, config.socketIoPath, config.upstreamConnectTimeoutMs);
    return new HandshakeLearner({ config, logger, probe, ...(retryMs !== undefined ? { retryMs } : {}) });
  }

  /** The values clients get now: overridden, learned, or socket.io's defaults until learned. */
  get current(): HandshakeValues {
    return this.values;
  }

  get state(): HandshakeSource {
    return this.source;
  }

  /** The first probe (none when overridden). Never rejects: a failure leaves the defaults in place. */
  async probeOnce(): Promise<void> {
    if (this.source !== "defaults") return;
    try {
      this.learn(await this.options.probe());
    } catch (error) {
      this.options.logger.warn(
        { err: (error as Error).message },
        "legacy probe handshake failed; using socket.io defaults until it succeeds",
      );
    }
  }

  /** Resolves with the values once they are known; until then probes every `retryMs`, telling `onLearned`. */
  untilLearned(onLearned: (values: HandshakeValues) => void): Promise<HandshakeValues> {
    return new Promise((resolve) => {
      if (this.source !== "defaults") return resolve(this.values);
      const retry = () => {
        if (this.stopped) return;
        this.options.probe().then(
          (probe) => {
            if (this.stopped) return;
            onLearned(this.learn(probe));
            resolve(this.values);
          },
          () => this.schedule(retry),
        );
      };
      this.schedule(retry);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(retry: () => void): void {
    if (this.stopped) return;
    this.timer = setTimeout(retry, this.options.retryMs ?? PROBE_RETRY_MS);
    this.timer.unref();
  }

  private learn(probe: EngineIoHandshake): HandshakeValues {
    this.values = effectiveHandshake(this.options.config, probe);
    this.source = "learned";
    this.options.logger.info({ handshake: this.values }, "learned the legacy server's handshake values");
    return this.values;
  }
}
