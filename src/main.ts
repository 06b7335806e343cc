/**
 * Process entry point: validate configuration (exit 78 naming every bad setting), start the sample
 * backends when none are configured, start the gateway, and drain on SIGTERM/SIGINT within
 * DRAIN_TIMEOUT_MS. An uncaught exception (a bug outside every guard) is logged and counted, then drains too and
 * exits 70; an unhandled rejection is logged and counted (src/process-guard.ts).
 */
import { loadStaticConfig, type StaticConfig } from "./config/static-config.js";
import { SwitchyardError } from "./errors.js";
import { createLogger } from "./logger.js";
import { installProcessGuard } from "./process-guard.js";
import { startSampleBackend, type SampleBackend } from "./sample-backends.js";
import { generateDemoToken, saveDemoContext, startupBanner } from "./startup-banner.js";
import { startSwitchyard } from "./switchyard.js";

const EXIT_CONFIG = 78;

function loadConfigOrExit(): StaticConfig {
  try {
    return loadStaticConfig(process.env);
  } catch (error) {
    if (error instanceof SwitchyardError && error.code === "SWY_ERR_CONFIG_INVALID") {
      const problems = error.message.replace(/^[^:]*: /, "").split("; ");
      process.stderr.write(`switchyard: invalid configuration (${error.code})\n${problems.map((p) => `  - ${p}\n`).join("")}`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, config.instanceId);
  // Installed first: an exception before the gateway is up has nothing to drain and exits at once.
  let stop = (_reason: string, exitCode: number): void => process.exit(exitCode);
  installProcessGuard({ logger, stop: (reason, exitCode) => stop(reason, exitCode) });
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

  // The demo (both samples) always allows admin changes: with ADMIN_TOKEN, or a token generated for this run.
  const demo = config.legacyUrl === undefined && config.hubUrl === undefined;
  const adminToken = config.adminToken ?? (demo ? generateDemoToken() : undefined);
  const gatewayConfig = adminToken === config.adminToken ? config : Object.freeze({ ...config, adminToken });
  const switchyard = await startSwitchyard({ config: gatewayConfig, legacyUrl, hubUrl, logger });
  const publicUrl = switchyard.url;
  logger.info(
    { url: publicUrl, ops: switchyard.opsUrl, legacy: legacyUrl, hub: hubUrl, store: switchyard.store.kind, mode: config.legacyMode },
    "switchyard listening",
  );
  if (process.stdout.isTTY || demo) {
    const saved = demo && adminToken !== undefined ? saveDemoContext(switchyard.opsUrl, adminToken) : undefined;
    if (saved !== undefined && "error" in saved) logger.warn({ reason: saved.error }, "could not save the CLI context for the demo");
    process.stderr.write(
      startupBanner({
        url: publicUrl,
        opsUrl: switchyard.opsUrl,
        legacyUrl,
        hubUrl,
        store: switchyard.store.kind,
        routing: switchyard.store.current(),
        adminEnabled: adminToken !== undefined,
        ...(saved !== undefined && adminToken !== undefined ? { demo: { saved, token: adminToken } } : {}),
      }),
    );
  }

  let stopping = false;
  // The exit status: 0 for a signal, raised by an uncaught exception even when it happens during a drain.
  let exitStatus = 0;
  stop = (reason: string, exitCode = 0) => {
    exitStatus = Math.max(exitStatus, exitCode);
    if (stopping) return;
    stopping = true;
    logger.info({ reason, drainTimeoutMs: config.drainTimeoutMs }, "draining");
    const deadline = setTimeout(() => {
      logger.warn("drain timeout reached; exiting");
      process.exit(exitStatus);
    }, config.drainTimeoutMs);
    deadline.unref();
    switchyard
      .shutdown(config.drainTimeoutMs / 2, config.drainTimeoutMs / 4)
      .then(() => Promise.all(samples.map((s) => s.stop())))
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
  for (const sample of samples) {
    sample.child.once("exit", (code) => {
      if (!stopping) logger.error({ sample: sample.name, code }, "a sample backend exited");
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`switchyard: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
