/**
 * The command-line entry shared by the sample servers: settings from the environment, one JSON line with
 * the URL on stdout (src/sample-backends.ts and the bench read it), and a clean exit on SIGTERM/SIGINT or
 * when the gateway that spawned the sample goes away (its IPC channel closes), however it ends.
 */
import { fileURLToPath } from "node:url";

export function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

/** True when the module at `moduleUrl` is the process's entry point. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(moduleUrl) === process.argv[1];
}

export async function runSample(label: string, start: () => Promise<{ url: string; close(): Promise<void> }>): Promise<void> {
  const server = await start();
  process.stdout.write(`${JSON.stringify({ msg: label, url: server.url })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  if (process.connected) process.once("disconnect", stop);
}
