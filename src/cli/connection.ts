/**
 * Which admin API a command talks to and with which token: --url / --token, else SWITCHYARD_URL /
 * SWITCHYARD_TOKEN, else the saved context (--context NAME, or the current one), else the local default.
 * A saved token is only ever sent to its own context's URL.
 */
import { CliError, EXIT } from "./admin-client.js";
import { CliConfigError, cliConfigPath, readCliConfig, type SavedContext } from "./cli-config.js";

export const DEFAULT_URL = "http://127.0.0.1:9464";

export interface Connection {
  readonly url: string;
  readonly token: string | undefined;
  /** Where the URL came from, for messages: "--url", "SWITCHYARD_URL", `context "local"` or "the default". */
  readonly urlSource: string;
}

export interface ConnectionFlags {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly context?: string | undefined;
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  let saved: { name: string; context: SavedContext } | undefined;
  const path = cliConfigPath(env);
  try {
    const config = readCliConfig(path);
    const name = flags.context ?? config.current;
    if (name !== undefined) {
      const context = config.contexts[name];
      if (context === undefined) {
        if (flags.context !== undefined)
          throw new CliError(
            `no context ${JSON.stringify(name)} in ${path} (known: ${Object.keys(config.contexts).join(", ") || "none"})`,
            EXIT.usage,
          );
      } else saved = { name, context };
    }
  } catch (error) {
    if (error instanceof CliConfigError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  const envUrl = env.SWITCHYARD_URL === "" ? undefined : env.SWITCHYARD_URL;
  const envToken = env.SWITCHYARD_TOKEN === "" ? undefined : env.SWITCHYARD_TOKEN;
  const [url, urlSource] =
    flags.url !== undefined
      ? [flags.url, "--url"]
      : flags.context === undefined && envUrl !== undefined
        ? [envUrl, "SWITCHYARD_URL"]
        : saved !== undefined
          ? [saved.context.url, `context ${JSON.stringify(saved.name)}`]
          : [DEFAULT_URL, "the default"];
  const sameAsSaved = saved !== undefined && url.replace(/\/+$/, "") === saved.context.url.replace(/\/+$/, "");
  const token = flags.token ?? envToken ?? (sameAsSaved ? saved?.context.token : undefined);
  return { url, token, urlSource };
}
