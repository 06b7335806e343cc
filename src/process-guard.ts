/**
 * The process's last line of defence. Every handler that reads untrusted input is guarded
 * (src/telemetry/containment.ts), so nothing should reach these two process events; when something does, it is a
 * bug outside every guard, and it must be seen (logged with a code, counted in
 * switchyard_uncaught_errors_total{kind}) before the process decides what to do:
 * - `uncaughtException`: the stack that threw was unwound half-way through someone's state change, so the
 *   instance's state is unknown. Node's advice is to stop: the instance drains (clients reconnect elsewhere, as
 *   on SIGTERM) and exits with EXIT_UNCAUGHT, so that the supervisor restarts it and sees that it failed.
 * - `unhandledRejection`: a promise nobody awaited failed; its continuation simply never ran, no stack was cut
 *   short, so the instance keeps serving (Node's default would be to crash every session for it).
 */
import type { Logger } from "pino";
import { describeError } from "./telemetry/containment.js";
import { publish } from "./telemetry/events.js";

/** EX_SOFTWARE (sysexits.h): an internal software error. */
export const EXIT_UNCAUGHT = 70;

export interface ProcessGuardOptions {
  readonly logger: Logger;
  /** Drains the instance and exits with `exitCode` (called once per uncaught exception; it must be idempotent). */
  readonly stop: (reason: "uncaughtException", exitCode: number) => void;
  /** The process whose events are handled (a stand-in in unit tests). */
  readonly target?: Pick<NodeJS.Process, "on" | "off">;
}

/** Installs the handlers; returns their removal. */
export function installProcessGuard(options: ProcessGuardOptions): () => void {
  const { logger, stop } = options;
  const target = options.target ?? process;
  const onException = (error: unknown, origin: string): void => {
    publish("switchyard:process:uncaught", { kind: "uncaughtException" });
    logger.fatal({ code: "SWY_ERR_UNCAUGHT_EXCEPTION", origin, error: describeError(error) }, "uncaught exception: draining and exiting");
    stop("uncaughtException", EXIT_UNCAUGHT);
  };
  const onRejection = (reason: unknown): void => {
    publish("switchyard:process:uncaught", { kind: "unhandledRejection" });
    logger.error({ code: "SWY_ERR_UNHANDLED_REJECTION", error: describeError(reason) }, "unhandled promise rejection; still serving");
  };
  target.on("uncaughtException", onException);
  target.on("unhandledRejection", onRejection);
  return () => {
    target.off("uncaughtException", onException);
    target.off("unhandledRejection", onRejection);
  };
}
