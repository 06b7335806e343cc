/**
 * Child processes a test file starts (gateways, redis-server) must not outlive it, whether it ends
 * normally, fails, or is stopped by the runner (SIGTERM on a timeout, SIGINT on Ctrl-C). Only SIGKILL
 * escapes this.
 */
import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
let installed = false;

function killAll(): void {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
}

export function reapOnExit(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (installed) return;
  installed = true;
  process.once("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // `once`: after killing the children, the signal is raised again and takes its default course.
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}
