/**
 * A real stack for integration tests, in-process: the sample legacy chat server (socket.io 4), optionally
 * the sample hub, and a Switchyard instance in front of them, all on 127.0.0.1 with port 0.
 */
import { startLegacyChat, type LegacyChat, type LegacyChatOptions } from "../../examples/legacy-chat/server.js";
import { startSampleHub, type SampleHub, type SampleHubOptions } from "../../examples/hub/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import type { LegacyMode } from "../../src/config/settings.js";
import type { Logger } from "pino";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";

export interface Stack {
  readonly legacy: LegacyChat;
  readonly hub: SampleHub | undefined;
  readonly switchyard: Switchyard;
  /** The gateway's client URL. */
  readonly url: string;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly mode?: LegacyMode;
  readonly env?: Record<string, string>;
  readonly legacy?: LegacyChatOptions;
  /** Start the sample hub too (HUB_URL points at it). */
  readonly hub?: boolean;
  readonly hubOptions?: SampleHubOptions;
  /** A routing config document (ROUTING_CONFIG). */
  readonly routing?: Record<string, unknown>;
  /** The gateway's logger (to read what it logs). Default: one at LOG_LEVEL (silent). */
  readonly logger?: Logger;
}

export function gatewayEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1", OPS_HOST: "127.0.0.1", LOG_LEVEL: process.env.LOG_LEVEL ?? "silent", ...extra };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const legacy = await startLegacyChat(options.legacy);
  const hub = options.hub ? await startSampleHub(options.hubOptions) : undefined;
  const env = gatewayEnv({
    LEGACY_MODE: options.mode ?? "terminate",
    ...(options.routing ? { ROUTING_CONFIG: JSON.stringify(options.routing) } : {}),
    ...options.env,
  });
  const config = loadStaticConfig(env);
  const switchyard = await startSwitchyard({
    config,
    legacyUrl: legacy.url,
    hubUrl: hub?.url,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  return {
    legacy,
    hub,
    switchyard,
    url: switchyard.url,
    close: async () => {
      await switchyard.close();
      await hub?.close();
      await legacy.close();
    },
  };
}
