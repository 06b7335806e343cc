/**
 * Process entry point: validate configuration (exit 78 naming every bad setting), start the sample
 * backends when none are configured, start the gateway, and drain on SIGTERM/SIGINT within
 * DRAIN_TIMEOUT_MS. An uncaught exception (a bug outside every guard) is logged and counted, then drains too and
 * exits 70; an unhandled rejection is logged and counted (src/process-guard.ts).
 * With WORKERS > 1 this process is the instance's primary (src/workers/primary.ts), which forks the workers
 * (this same entry point, src/workers/worker.ts) and serves no client itself.
 */
import cluster from "node:cluster";
import { loadStaticConfig, type StaticConfig } from "./config/static-config.js";
import { SwitchyardError } from "./errors.js";
import { createLogger } from "./logger.js";
import { drainOnSignals, EXIT_CONFIG, startMissingBackends } from "./process-lifecycle.js";
import { installProcessGuard } from "./process-guard.js";
import { announce, generateDemoToken } from "./startup-banner.js";
import { startSwitchyard } from "./switchyard.js";
import { runPrimary } from "./workers/primary.js";
import { runWorker } from "./workers/worker.js";

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

async function runGateway(config: StaticConfig): Promise<void> {
  const logger = createLogger(config.logLevel, config.instanceId);
  // Installed first: an exception before the gateway is up has nothing to drain and exits at once.
  let stop = (_reason: string, exitCode: number): void => process.exit(exitCode);
  installProcessGuard({ logger, stop: (reason, exitCode) => stop(reason, exitCode) });
  const { legacyUrl, hubUrl, samples, demo } = await startMissingBackends(config, logger);

  // The demo (both samples) always allows admin changes: with ADMIN_TOKEN, or a token generated for this run.
  const adminToken = config.adminToken ?? (demo ? generateDemoToken() : undefined);
  const gatewayConfig = adminToken === config.adminToken ? config : Object.freeze({ ...config, adminToken });
  const switchyard = await startSwitchyard({ config: gatewayConfig, legacyUrl, hubUrl, logger });
  const publicUrl = switchyard.url;
  logger.info(
    { url: publicUrl, ops: switchyard.opsUrl, legacy: legacyUrl, hub: hubUrl, store: switchyard.store.kind, mode: config.legacyMode },
    "switchyard listening",
  );
  announce(
    {
      url: publicUrl,
      opsUrl: switchyard.opsUrl,
      legacyUrl,
      hubUrl,
      store: switchyard.store.kind,
      routing: switchyard.store.current(),
      demo,
      adminToken,
    },
    (reason) => logger.warn({ reason }, "could not save the CLI context for the demo"),
  );

  const lifecycle = drainOnSignals({
    logger,
    drainTimeoutMs: config.drainTimeoutMs,
    drain: async () => {
      await switchyard.shutdown(config.drainTimeoutMs / 2, config.drainTimeoutMs / 4);
      await Promise.all(samples.map((s) => s.stop()));
    },
  });
  stop = lifecycle.stop;
  for (const sample of samples) {
    sample.child.once("exit", (code) => {
      if (!lifecycle.stopping()) logger.error({ sample: sample.name, code }, "a sample backend exited");
    });
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (cluster.isWorker) await runWorker(config);
  else if (config.workers > 1) await runPrimary(config);
  else await runGateway(config);
}

main().catch((error: unknown) => {
  process.stderr.write(`switchyard: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
