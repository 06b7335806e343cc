/**
 * A gateway process on one route, for tests that attack it: the real entry point (src/main.ts) as a child
 * process with the sample legacy server and the sample hub, so that a crash is observed (the child exits)
 * rather than fatal to the test runner. Routes:
 * - `pipe`: legacy sessions proxied byte for byte (LEGACY_MODE=pipe);
 * - `terminate`: legacy sessions terminated and relayed (LEGACY_MODE=terminate);
 * - `hub`: every session on the hub (hubPercent 100);
 * - `shadow-to-hub`: legacy sessions shadowed to the hub (shadow percent 100);
 * - `shadow-to-legacy`: hub sessions shadowed to a dark legacy server (LEGACY_SHADOW_URL, started here).
 */
import { startLegacyChat, type LegacyChat } from "../../../examples/legacy-chat/server.js";
import { startGatewayProcess, type GatewayProcess } from "../process.js";
import { reapOnExit } from "../reap.js";
import { parseMetrics, type MetricSample } from "../shadow-probe.js";

export { parseMetrics, type MetricSample };

export type GatewayRoute = "pipe" | "terminate" | "hub" | "shadow-to-hub" | "shadow-to-legacy";
export const GATEWAY_ROUTES: readonly GatewayRoute[] = ["pipe", "terminate", "hub", "shadow-to-hub", "shadow-to-legacy"];

export interface GatewayUnderTest extends ObservedGateway {
  readonly route: GatewayRoute;
  readonly url: string;
  readonly opsUrl: string;
  stop(): Promise<void>;
}

const SHADOW = { percent: 100, windowMs: 1000 };

function routingOf(route: GatewayRoute): Record<string, unknown> {
  switch (route) {
    case "pipe":
    case "terminate":
      return { hubPercent: 0 };
    case "hub":
      return { hubPercent: 100 };
    case "shadow-to-hub":
      return { hubPercent: 0, shadow: SHADOW };
    case "shadow-to-legacy":
      return { hubPercent: 100, shadow: SHADOW };
  }
}

export async function startGatewayUnderTest(route: GatewayRoute, env: Record<string, string> = {}): Promise<GatewayUnderTest> {
  let darkLegacy: LegacyChat | undefined;
  if (route === "shadow-to-legacy") darkLegacy = await startLegacyChat();
  const gateway = await startGatewayProcess({
    LEGACY_MODE: route === "pipe" ? "pipe" : "terminate",
    ROUTING_CONFIG: JSON.stringify(routingOf(route)),
    ...(darkLegacy !== undefined ? { LEGACY_SHADOW_URL: darkLegacy.url } : {}),
    ...env,
  });
  // Object.assign keeps the observer's getters (alive, stderr) live; a spread would copy their values once.
  return Object.assign(observeGateway(gateway), {
    route,
    url: gateway.url,
    opsUrl: gateway.opsUrl,
    async stop() {
      await gateway.stop();
      await darkLegacy?.close();
    },
  });
}

/** What a test watches on a gateway process: whether it runs, its stderr, /healthz and /metrics (reaped on exit). */
export interface ObservedGateway {
  readonly process: GatewayProcess;
  /** Still running (a crash shows here). */
  readonly alive: boolean;
  /** Why it died, from its stderr (empty while alive). */
  readonly stderr: string;
  /** GET /healthz answered 200. */
  healthy(): Promise<boolean>;
  metrics(): Promise<MetricSample[]>;
}

export function observeGateway(gateway: GatewayProcess): ObservedGateway {
  reapOnExit(gateway.child);
  let stderr = "";
  gateway.child.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 100_000) stderr += chunk.toString();
  });
  return {
    process: gateway,
    get alive() {
      return gateway.child.exitCode === null && gateway.child.signalCode === null;
    },
    get stderr() {
      return stderr;
    },
    async healthy() {
      try {
        return (await fetch(`${gateway.opsUrl}/healthz`, { signal: AbortSignal.timeout(5000) })).status === 200;
      } catch {
        return false;
      }
    },
    async metrics() {
      return parseMetrics(await (await fetch(`${gateway.opsUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text());
    },
  };
}

/** The sum of a metric's samples whose labels include `labels`. */
export function metricSum(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
    .reduce((sum, s) => sum + s.value, 0);
}
