/**
 * What every gateway process shares, whether it is the only one (WORKERS=1) or the primary or a worker of an
 * instance: the sample backends started when LEGACY_URL or HUB_URL is unset, and the drain on SIGTERM/SIGINT
 * within DRAIN_TIMEOUT_MS.
 */
import type { Logger } from "pino";
import type { StaticConfig } from "./config/static-config.js";
import { startSampleBackend, type SampleBackend } from "./sample-backends.js";

/** EX_CONFIG (sysexits.h): a setting is invalid; the process (or an instance's worker) refuses to start. */
export const EXIT_CONFIG = 78;

export interface Backends {
  readonly legacyUrl: string;
  readonly hubUrl: string | undefined;
  /** The sample backends this process started (none when both URLs are configured). */
  readonly samples: readonly SampleBackend[];
  /** Neither LEGACY_URL nor HUB_URL: the demo, which always allows admin changes. */
  readonly demo: boolean;
}

/** LEGACY_URL and HUB_URL, or sample backends in their place. */
export async function startMissingBackends(config: StaticConfig, logger: Logger): Promise<Backends> {
  const samples: SampleBackend[] = [];
  // With Redis, the two samples share their chat history there, as a real migration shares its database, and the
  // legacy sample shares its rooms through @socket.io/redis-adapter on the gateway's ADAPTER_KEY (its bridge's).
  const sampleEnv: Record<string, string> =
    config.redisUrl === undefined
      ? {}
      : { REDIS_URL: config.redisUrl, REDIS_KEY_PREFIX: config.redisKeyPrefix, ADAPTER_KEY: config.rooms.adapterKey };
  let legacyUrl = config.legacyUrl;
  if (legacyUrl === undefined) {
    const legacy = await startSampleBackend("legacy", "../examples/legacy-chat/server", sampleEnv);
    samples.push(legacy);
    legacyUrl = legacy.url;
    logger.info({ url: legacy.url }, "LEGACY_URL is unset: started the sample legacy chat server");
  }
  let hubUrl = config.hubUrl;
  if (hubUrl === undefined) {
    const hub = await startSampleBackend("hub", "../examples/hub/server", sampleEnv);
    samples.push(hub);
    hubUrl = hub.url;
    logger.info({ url: hub.url }, "HUB_URL is unset: started the sample hub");
  }
  return { legacyUrl, hubUrl, samples, demo: config.legacyUrl === undefined && config.hubUrl === undefined };
}

export interface DrainOptions {
  readonly logger: Logger;
  readonly drainTimeoutMs: number;
  /** Closes everything (sessions paced, listeners, samples); the process exits when it resolves. */
  readonly drain: () => Promise<void>;
}

/**
 * Returns `stop(reason, exitCode)`, which drains once and exits with the highest status asked for (0 for a signal,
 * raised by an uncaught exception even during a drain), and installs it on SIGTERM and SIGINT.
 */
export function drainOnSignals(options: DrainOptions): { stop(reason: string, exitCode: number): void; stopping(): boolean } {
  const { logger, drainTimeoutMs } = options;
  let stopping = false;
  let exitStatus = 0;
  const stop = (reason: string, exitCode = 0) => {
    exitStatus = Math.max(exitStatus, exitCode);
    if (stopping) return;
    stopping = true;
    logger.info({ reason, drainTimeoutMs }, "draining");
    const deadline = setTimeout(() => {
      logger.warn("drain timeout reached; exiting");
      process.exit(exitStatus);
    }, drainTimeoutMs);
    deadline.unref();
    options
      .drain()
      .then(() => {
        logger.info({ exitStatus }, "drained; bye");
        process.exit(exitStatus);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, "error while draining");
        process.exit(Math.max(exitStatus, 1));
      });
  };
  // `on`, not `once`: Ctrl-C under `npm start` delivers SIGINT twice (from the terminal and forwarded by npm),
  // and a second signal must not kill the process in the middle of its drain (stop() runs once).
  process.on("SIGTERM", () => stop("SIGTERM", 0));
  process.on("SIGINT", () => stop("SIGINT", 0));
  return { stop, stopping: () => stopping };
}
