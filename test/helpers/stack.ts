/**
 * A real stack for integration tests, in-process: the sample legacy chat server (socket.io 4) and a
 * Switchyard instance in front of it, both on 127.0.0.1 with port 0.
 */
import { startLegacyChat, type LegacyChat, type LegacyChatOptions } from "../../examples/legacy-chat/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import type { LegacyMode } from "../../src/config/settings.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";

export interface Stack {
  readonly legacy: LegacyChat;
  readonly switchyard: Switchyard;
  /** The gateway's client URL. */
  readonly url: string;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly mode?: LegacyMode;
  readonly env?: Record<string, string>;
  readonly legacy?: LegacyChatOptions;
}

export function gatewayEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1", OPS_HOST: "127.0.0.1", LOG_LEVEL: process.env.LOG_LEVEL ?? "silent", ...extra };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const legacy = await startLegacyChat(options.legacy);
  const config = loadStaticConfig(gatewayEnv({ LEGACY_MODE: options.mode ?? "terminate", ...options.env }));
  const switchyard = await startSwitchyard({ config, legacyUrl: legacy.url });
  return {
    legacy,
    switchyard,
    url: switchyard.url,
    close: async () => {
      await switchyard.close();
      await legacy.close();
    },
  };
}
