/**
 * The CLI's saved connections ("contexts", as in a kubeconfig): which admin API to talk to and the token
 * for it, so that commands need neither --url nor --token. One YAML file, mode 0600:
 *
 *   current: local
 *   contexts:
 *     local: { url: http://127.0.0.1:9464, token: ... }
 *
 * Where: $SWITCHYARD_CLI_CONFIG, else $XDG_CONFIG_HOME/switchyard/config.yaml, else
 * ~/.config/switchyard/config.yaml. Written by `switchyard login` and by `npm start` in its demo (like
 * minikube or kind writing a context for the cluster they start).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";

export interface SavedContext {
  readonly url: string;
  readonly token?: string | undefined;
}

export interface CliConfig {
  readonly current?: string | undefined;
  readonly contexts: Readonly<Record<string, SavedContext>>;
}

/** The context name `npm start` writes for its demo gateway. */
export const DEMO_CONTEXT = "local";

export class CliConfigError extends Error {}

export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SWITCHYARD_CLI_CONFIG !== undefined && env.SWITCHYARD_CLI_CONFIG !== "") return env.SWITCHYARD_CLI_CONFIG;
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== "" ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), ".config");
  return join(base, "switchyard", "config.yaml");
}

/** "~/.config/switchyard/config.yaml" rather than the full path, when it is under the home folder. */
export function displayPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME ?? homedir();
  return home !== "" && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

function contextOf(name: string, value: unknown, path: string): SavedContext {
  const record = value as Record<string, unknown> | null;
  if (record === null || typeof record !== "object" || typeof record.url !== "string")
    throw new CliConfigError(`${path}: contexts.${name} needs a url`);
  if (record.token !== undefined && typeof record.token !== "string")
    throw new CliConfigError(`${path}: contexts.${name}.token must be a string`);
  return { url: record.url, token: record.token };
}

/** The saved contexts; none when the file does not exist. Throws CliConfigError when it cannot be read. */
export function readCliConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { contexts: {} };
    throw new CliConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new CliConfigError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return { contexts: {} };
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new CliConfigError(`${path}: expected current and contexts`);
  const record = parsed as Record<string, unknown>;
  const contexts: Record<string, SavedContext> = {};
  const raw = record.contexts ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new CliConfigError(`${path}: contexts must be a map of names`);
  for (const [name, value] of Object.entries(raw)) contexts[name] = contextOf(name, value, path);
  if (record.current !== undefined && typeof record.current !== "string")
    throw new CliConfigError(`${path}: current must be a context name`);
  return { current: record.current as string | undefined, contexts };
}

function writeCliConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const header =
    "# The switchyard CLI's saved gateways (written by `switchyard login` and by `npm start`'s demo). Holds tokens: keep it private.\n";
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, header + toYaml({ current: config.current, contexts: config.contexts }), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Saves (or replaces) a context and, unless told otherwise, makes it the current one. */
export function saveContext(path: string, name: string, context: SavedContext, makeCurrent = true): void {
  const config = readCliConfig(path);
  const saved = context.token === undefined ? { url: context.url } : { url: context.url, token: context.token };
  writeCliConfig(path, { current: makeCurrent ? name : config.current, contexts: { ...config.contexts, [name]: saved } });
}

/** Makes `name` the current context; throws CliConfigError when there is no such context. */
export function useContext(path: string, name: string): void {
  const config = readCliConfig(path);
  if (config.contexts[name] === undefined)
    throw new CliConfigError(`no context ${JSON.stringify(name)} in ${path} (known: ${Object.keys(config.contexts).join(", ") || "none"})`);
  writeCliConfig(path, { ...config, current: name });
}
