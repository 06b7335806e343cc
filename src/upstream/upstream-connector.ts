/**
 * Opens the upstream a route asks for: the one place that knows how each backend is reached, and the
 * hub fallback policy (a new hub-route session whose hub is down or refusing goes to the legacy server,
 * counted and logged, so that a dead hub never locks users out).
 */
import type { Logger } from "pino";
import { SwitchyardError, errorCodeOf } from "../errors.js";
import { publish } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import type { ClientContext } from "./client-context.js";
import { openEngineIoUpstream } from "./engineio-upstream.js";
import type { HubLinks } from "./hub-link.js";
import { openHubUpstream } from "./hub-upstream.js";
import type { RoomFrameLimits } from "../protocol/hub-frames.js";
import type { RoomWorlds } from "../rooms/room-worlds.js";
import type { Upstream } from "./upstream.js";
import type { UpstreamRole } from "../domain.js";

export interface UpstreamConnectorOptions {
  readonly legacyUrl: string;
  readonly hubUrl: string | undefined;
  /** Where shadow sessions of legacy-route sessions go (HUB_SHADOW_URL, default HUB_URL). */
  readonly hubShadowUrl: string | undefined;
  /** The dark legacy deployment hub-route sessions are shadowed to (LEGACY_SHADOW_URL). */
  readonly legacyShadowUrl: string | undefined;
  readonly socketIoPath: string;
  readonly connectTimeoutMs: number;
  /** Bytes waiting for a backend below which a paused client resumes. */
  readonly drainLowWater: number;
  readonly maxAttachments: number;
  /** Bytes a backend may send before the client session attaches (EARLY_BUFFER_BYTES). */
  readonly earlyBufferBytes?: number;
  readonly hubFallback: boolean;
  readonly logger: Logger;
  /** Where hub sessions' sockets and rooms live (primary sessions: the primary world; shadow: the shadow world). */
  readonly rooms?: RoomWorlds;
  readonly roomLimits?: RoomFrameLimits;
  /** The process's hub links (HUB_PROTOCOL auto or v2); absent: v1, a WebSocket per hub session. */
  readonly hubLinks?: HubLinks;
}

export interface OpenedUpstream {
  readonly upstream: Upstream;
  /** The backend that serves the session: the route's, or legacy after a hub fallback. */
  readonly backend: Backend;
  readonly fellBack: boolean;
}

export class UpstreamConnector {
  constructor(private readonly options: UpstreamConnectorOptions) {}

  /**
   * Opens the primary upstream of a session; rejects with a coded SwitchyardError. `sessionId`: an engine
   * id the client already has (a session routed at its first CONNECT), for the hub to adopt.
   */
  async openPrimary(backend: Backend, context: ClientContext, sessionId?: string): Promise<OpenedUpstream> {
    if (backend === "legacy")
      return { upstream: await this.openLegacy(this.options.legacyUrl, context, "primary"), backend, fellBack: false };
    try {
      return { upstream: await this.openHub(this.options.hubUrl, context, "primary", sessionId), backend, fellBack: false };
    } catch (error) {
      if (!this.options.hubFallback) throw error;
      const code = errorCodeOf(error, "SWY_ERR_HUB_UNAVAILABLE");
      publish("switchyard:hub:fallback", { code });
      this.options.logger.warn({ code, err: (error as Error).message }, "hub unavailable: new session falls back to the legacy server");
      return { upstream: await this.openLegacy(this.options.legacyUrl, context, "primary"), backend: "legacy", fellBack: true };
    }
  }

  /**
   * Opens the shadow of a session whose primary is on `primary`: the hub for legacy primaries, the dark
   * legacy deployment for hub primaries. `sessionId` is the primary's engine id, which a shadow hub
   * adopts so that 2.x-derived socket ids agree on both sides.
   */
  openShadow(primary: Backend, context: ClientContext, sessionId: string): Promise<Upstream> {
    if (primary === "legacy") return this.openHub(this.options.hubShadowUrl ?? this.options.hubUrl, context, "shadow", sessionId);
    if (this.options.legacyShadowUrl === undefined)
      return Promise.reject(new SwitchyardError("SWY_ERR_SHADOW", "LEGACY_SHADOW_URL is not set"));
    return this.openLegacy(this.options.legacyShadowUrl, context, "shadow");
  }

  private openLegacy(baseUrl: string, context: ClientContext, role: UpstreamRole): Promise<Upstream> {
    return openEngineIoUpstream({
      backend: "legacy",
      role,
      baseUrl,
      path: this.options.socketIoPath,
      context,
      connectTimeoutMs: this.options.connectTimeoutMs,
      drainLowWater: this.options.drainLowWater,
      ...(this.options.earlyBufferBytes !== undefined ? { earlyBufferBytes: this.options.earlyBufferBytes } : {}),
    });
  }

  private openHub(
    hubUrl: string | undefined,
    context: ClientContext,
    role: UpstreamRole,
    sessionId: string | undefined,
  ): Promise<Upstream> {
    if (hubUrl === undefined) return Promise.reject(new SwitchyardError("SWY_ERR_HUB_UNAVAILABLE", "no hub is configured (HUB_URL)"));
    return openHubUpstream({
      hubUrl,
      ...(sessionId !== undefined ? { sessionId } : {}),
      context,
      role,
      connectTimeoutMs: this.options.connectTimeoutMs,
      drainLowWater: this.options.drainLowWater,
      maxAttachments: this.options.maxAttachments,
      ...(this.options.earlyBufferBytes !== undefined ? { earlyBufferBytes: this.options.earlyBufferBytes } : {}),
      ...(this.options.rooms !== undefined ? { rooms: this.options.rooms.of(role) } : {}),
      ...(this.options.roomLimits !== undefined ? { roomLimits: this.options.roomLimits } : {}),
      ...(this.options.hubLinks !== undefined ? { links: this.options.hubLinks } : {}),
    });
  }
}
