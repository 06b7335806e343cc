/**
 * docker-compose.yml as data, so that tests start the stack's processes with the compose services' own
 * commands (and the compose test can check those commands against package.json and the Dockerfile).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./dashboard-queries.js";

export const COMPOSE_PATH = join(REPO_ROOT, "docker-compose.yml");

export interface ComposeService {
  readonly image?: string;
  readonly command?: string[] | string;
  readonly environment?: Record<string, string>;
  readonly volumes?: string[];
  readonly ports?: string[];
  readonly expose?: string[];
  readonly depends_on?: Record<string, { condition: string }> | string[];
  readonly healthcheck?: { test: string[] };
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
}

/** The compose file with YAML merge keys (`<<: *anchor`) resolved. */
export function loadCompose(): ComposeFile {
  return parseYaml(readFileSync(COMPOSE_PATH, "utf8"), { merge: true }) as ComposeFile;
}

/** A service's command as an argv array (compose services here use the exec form). */
export function composeCommand(service: string, compose: ComposeFile = loadCompose()): string[] {
  const command = compose.services[service]?.command;
  if (!Array.isArray(command)) throw new Error(`compose service ${service} has no exec-form command`);
  return command;
}
