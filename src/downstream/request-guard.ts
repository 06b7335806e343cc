/**
 * The last guard of the client listener's request and upgrade handling (and of the promises they start:
 * handshakes, owner look-ups): whatever throws or rejects there ends only that request. Client mistakes are
 * answered where they are found (4xx with a code); what reaches this guard is a bug or a dependency failing
 * in a way nobody anticipated, so it is counted (switchyard_contained_errors_total{boundary="request"}),
 * logged with SWY_ERR_INTERNAL, and answered 500 (or the upgrade socket is closed) so the client retries.
 */
import { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { SwitchyardError } from "../errors.js";
import { writeJsonError, writeUpgradeError } from "../passthrough/legacy-proxy.js";
import { reportContained } from "../telemetry/containment.js";

export function failRequest(log: Logger, target: ServerResponse | Duplex, error: unknown, what: string): void {
  const detail = reportContained("request", error);
  log.error({ code: "SWY_ERR_INTERNAL", err: detail }, `${what} failed`);
  const reason = new SwitchyardError("SWY_ERR_INTERNAL", what);
  try {
    if (target instanceof ServerResponse) writeJsonError(target, 500, reason);
    else writeUpgradeError(target, 500, "Internal Server Error", reason);
  } catch {
    // The connection is in a state that cannot take an answer: drop it.
    target.destroy();
  }
}
