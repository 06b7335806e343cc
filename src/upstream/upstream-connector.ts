/**
 * Opens the upstream a route asks for: the one place that knows how each backend is reached.
 */
import { SwitchyardError } from "../errors.js";
import type { Backend } from "../telemetry/events.js";
import type { ClientContext } from "./client-context.js";
import { openEngineIoUpstream } from "./engineio-upstream.js";
import type { Upstream, UpstreamRole } from "./upstream.js";

export interface UpstreamConnectorOptions {
  readonly legacyUrl: string;
  readonly socketIoPath: string;
  readonly connectTimeoutMs: number;
  /** Bytes waiting for a backend below which a paused client resumes. */
  readonly drainLowWater: number;
}

export class UpstreamConnector {
  constructor(private readonly options: UpstreamConnectorOptions) {}

  /** Opens a backend session for one client session; rejects with a coded SwitchyardError. */
  open(backend: Backend, context: ClientContext, role: UpstreamRole = "primary"): Promise<Upstream> {
    if (backend === "legacy") {
      return openEngineIoUpstream({
        backend,
        role,
        baseUrl: this.options.legacyUrl,
        path: this.options.socketIoPath,
        context,
        connectTimeoutMs: this.options.connectTimeoutMs,
        drainLowWater: this.options.drainLowWater,
      });
    }
    return Promise.reject(new SwitchyardError("SWY_ERR_HUB_UNAVAILABLE", "no hub is configured"));
  }
}
