/**
 * `npm start` with nothing configured runs the bundled sample backends (examples/) as child processes,
 * each on a free port, so that the gateway works out of the box.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface SampleBackend {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

/** `script` is relative to src/ (e.g. "../examples/legacy-chat/server"); the extension follows ours. */
export function startSampleBackend(name: string, script: string, env: Record<string, string> = {}): Promise<SampleBackend> {
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const file = fileURLToPath(new URL(`${script}${extension}`, import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, file], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    // The IPC channel ties the sample's life to ours: it exits when we go, even on SIGKILL.
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    // Its own process group: Ctrl-C in the terminal reaches the gateway only, which drains its sessions first
    // and then stops the samples (they would otherwise die at once under the sessions being drained).
    detached: true,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`sample ${name} did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sample ${name} exited with code ${code}`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      let url: unknown;
      try {
        url = (JSON.parse(line) as { url?: unknown }).url;
      } catch {
        return;
      }
      if (typeof url !== "string") return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      lines.removeAllListeners("line");
      child.stdout!.resume();
      resolve({
        name,
        url,
        child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}
