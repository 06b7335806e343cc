/**
 * A fresh checkout of the working tree for tests that run the project as a user does (`npm start`, the
 * README's commands): the tracked and untracked-but-not-ignored files copied to a temporary folder, with
 * node_modules linked (what `npm install` would put there). It builds its own dist/, so it never races
 * with tests that build or read the repository's. Also: which processes still run from a folder.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "./reap.js";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Checkout {
  readonly dir: string;
  /** Runs `npm <args>` in the checkout and resolves with its exit code and output. */
  npm(args: readonly string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<{ code: number | null; output: string }>;
  remove(): void;
}

export function copyCheckout(): Checkout {
  const dir = mkdtempSync(join(tmpdir(), "swy-checkout-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO_ROOT, encoding: "utf8" })
    .split("\0")
    .filter((file) => file !== "" && existsSync(join(REPO_ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(dir, file));
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return {
    dir,
    npm: (args, env = process.env, timeoutMs = 300_000) =>
      new Promise((resolve) => {
        const child = spawn("npm", [...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
        reapOnExit(child);
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Processes (other than this one) whose working folder is `dir` or whose command line names a path in it. */
export function processesIn(dir: string): { pid: number; args: string }[] {
  const found: { pid: number; args: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`) || args.includes(`${dir}/`)) found.push({ pid, args });
    } catch {
      // The process ended while we looked, or is not ours to inspect.
    }
  }
  return found;
}

/** Starts `npm <args>` in its own process group (as a terminal runs it), so that a test can signal the group. */
export function spawnNpmGroup(checkout: Checkout, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn("npm", [...args], { cwd: checkout.dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  reapOnExit(child);
  return child;
}
