/**
 * The real gateway with every session routed to the sample hub (hubPercent 100, no fallback to legacy), and
 * what it reports about its sessions: the codes and details of session errors (from its log) and the backend
 * sessions it could not open (from its telemetry). Tests of the hub upstream go through the production path:
 * dispatch, the handshake orchestrator, the pending-handshake table, ClientSession.
 */
import { pino } from "pino";
import { subscribe } from "../../src/telemetry/events.js";
import type { ErrorCode } from "../../src/errors.js";
import type { SampleHubOptions } from "../../examples/hub/server.js";
import { startStack, type Stack } from "./stack.js";

export interface HubGateway extends Stack {
  /** Session errors the gateway logged, in order. */
  readonly errors: { code: ErrorCode; detail: string | undefined }[];
  /** Backend sessions the gateway could not open. */
  readonly openFailures: ErrorCode[];
}

/** `env`: more gateway settings (HUB_PROTOCOL, ...). */
export async function startHubGateway(hubOptions: SampleHubOptions = {}, env: Record<string, string> = {}): Promise<HubGateway> {
  const errors: HubGateway["errors"] = [];
  const logger = pino(
    { level: "info" },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg?: string; code?: ErrorCode; detail?: string };
        if (entry.msg === "session error" && entry.code !== undefined) errors.push({ code: entry.code, detail: entry.detail });
      },
    },
  );
  const openFailures: ErrorCode[] = [];
  const unsubscribe = subscribe("switchyard:upstream:failed", (e) => openFailures.push(e.code));
  const stack = await startStack({
    mode: "terminate",
    hub: true,
    hubOptions,
    routing: { hubPercent: 100 },
    env: { HUB_FALLBACK: "false", ...env },
    logger,
  });
  return {
    ...stack,
    errors,
    openFailures,
    close: async () => {
      unsubscribe();
      await stack.close();
    },
  };
}
