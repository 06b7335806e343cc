/** Runs Switchyard's real entry point (src/main.ts through tsx) as a child process, for boot/drain tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly opsUrl: string;
  readonly logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

/** `nodeArgs`: more Node options before the entry point (e.g. `--import` of a test's fault injector). */
export function spawnGateway(env: Record<string, string>, nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ...nodeArgs, MAIN], {
    env: { ...process.env, HOST: "127.0.0.1", OPS_HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * Starts the gateway process and resolves once it logs "switchyard listening". `keepLine`: which log lines are
 * parsed into `logs` (default all; a busy gateway's info lines cost the test process its CPU).
 */
export function startGatewayProcess(
  env: Record<string, string>,
  timeoutMs = 20_000,
  nodeArgs: readonly string[] = [],
  keepLine: (line: string) => boolean = () => true,
): Promise<GatewayProcess> {
  const child = spawnGateway(env, nodeArgs);
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening; stderr: ${stderr}`));
    });
    let listening = false;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (listening && !keepLine(line)) return;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === "switchyard listening") {
        listening = true;
        clearTimeout(timer);
        resolve({
          child,
          url: String(entry.url),
          opsUrl: String(entry.ops),
          logs,
          exited,
          stop: () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            return exited;
          },
        });
      }
    });
  });
}
