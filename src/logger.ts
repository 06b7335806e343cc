/** Structured JSON logs (pino), one logger per process; modules take a child with their own bindings. */
import { pino, type Logger } from "pino";
import type { LogLevel } from "./config/settings.js";

export function createLogger(level: LogLevel, instanceId: string): Logger {
  return pino({
    level,
    base: { service: "switchyard", instance: instanceId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
