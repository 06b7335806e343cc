/**
 * Containment at trust boundaries. Every handler that runs on input from outside the process (client bytes,
 * backend frames, Redis entries, HTTP requests) is guarded: an exception it throws is a bug, and it must end
 * only the session or request it happened in, never the process. The caller decides what to end (it knows
 * which session or request that is); this module counts the failure
 * (`switchyard_contained_errors_total{boundary, code}`) and describes it for the caller's log line. Nothing
 * is swallowed silently: every contained failure is counted and logged with its code.
 */
import type { ErrorCode } from "../errors.js";
import { publish, type ContainmentBoundary } from "./events.js";

/** Stack frames kept in a contained error's description: enough to find the bug, short enough for one log line. */
const STACK_FRAMES = 4;

/** `TypeError: Invalid URL | at f (file:1:2) | …` */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-error thrown: ${String(error)}`;
  const frames = (error.stack ?? "")
    .split("\n")
    .slice(1, 1 + STACK_FRAMES)
    .map((line) => line.trim());
  return [`${error.name}: ${error.message}`, ...frames].join(" | ");
}

/** Counts a failure caught at `boundary` and returns its description. */
export function reportContained(boundary: ContainmentBoundary, error: unknown, code: ErrorCode = "SWY_ERR_INTERNAL"): string {
  publish("switchyard:error:contained", { boundary, code });
  return describeError(error);
}

/**
 * Wraps an event handler so that an exception never leaves it: `onThrow` gets it (and ends the session or
 * request concerned). Listeners of EventEmitters and timers call these, so an escape would be uncaught.
 */
export function guard<A extends unknown[]>(handler: (...args: A) => void, onThrow: (error: unknown) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      handler(...args);
    } catch (error) {
      onThrow(error);
    }
  };
}
