/**
 * A new session, from its handshake request to its bound ClientSession. The route is decided once and
 * pinned: legacy-route sessions that are not shadowed become pipes (proxied byte for byte); every other
 * session is terminated by engine.io and bound to an upstream opened *before* the handshake completes, so
 * that the client's engine id is the backend's (2.x clients derive socket ids from it). A session whose
 * route waits for its first CONNECT gets an id of ours and its upstream later.
 */
import type { Socket as EngineSocket } from "engine.io";
import type { Logger } from "pino";
import type { LegacyMode } from "../config/settings.js";
import type { SessionAdmission } from "../limits/session-admission.js";
import type { NetworkList } from "../routing/networks.js";
import type { Limits } from "../config/static-config.js";
import { SwitchyardError, errorCodeOf, type ErrorCode } from "../errors.js";
import { ENGINE_UNSUPPORTED_PROTOCOL } from "../protocol/engineio.js";
import { isDeferred, type Route, type RouteDecider, type RouteInput } from "../routing/route.js";
import { generateSessionId } from "../session-id.js";
import { reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import { clientContextOf, type ClientContext } from "../upstream/client-context.js";
import type { UpstreamConnector } from "../upstream/upstream-connector.js";
import { ClientSession, type BoundUpstream } from "./client-session.js";
import { engineSocketId } from "./engine-internals.js";
import type { PendingHandshakes } from "./pending-handshakes.js";
import type { HandshakeRequest } from "./request-dispatch.js";
import type { SessionDirectory } from "./session-directory.js";
import type { SessionTable } from "./session-table.js";

export interface HandshakeOrchestratorDeps {
  readonly trustProxy: boolean;
  /** TRUSTED_PROXIES: whose X-Forwarded-For gives the client address (see routingAddress). */
  readonly trustedProxies?: Pick<NetworkList, "matches" | "networks">;
  /** Client headers forwarded to the backends (FORWARD_HEADERS). */
  readonly forwardHeaders: readonly string[];
  readonly legacyMode: LegacyMode;
  readonly limits: Limits;
  readonly router: RouteDecider;
  readonly connector: Pick<UpstreamConnector, "openPrimary">;
  readonly directory: Pick<SessionDirectory, "registerSession" | "unregisterSession">;
  readonly pending: PendingHandshakes;
  readonly sessions: SessionTable<ClientSession>;
  readonly logger: Logger;
  /** The session caps and the handshake rate; absent: every handshake is admitted. */
  readonly admission?: Pick<SessionAdmission, "admit">;
  /** Called when a session has its upstream (the shadow attaches its tap here). */
  readonly onSessionBound?: (session: ClientSession, route: Route, context: ClientContext) => void;
}

const STATUS_FOR: Partial<Record<ErrorCode, number>> = { SWY_ERR_UPSTREAM_TIMEOUT: 504, SWY_ERR_DRAINING: 503 };

export class HandshakeOrchestrator {
  private refusing = false;

  constructor(private readonly deps: HandshakeOrchestratorDeps) {}

  /** Whether new sessions are refused (the instance drains). */
  get isRefusing(): boolean {
    return this.refusing;
  }

  /** From now on every handshake gets 503 SWY_ERR_DRAINING; open sessions are not affected. */
  refuseNewSessions(): void {
    this.refusing = true;
  }

  /** A request without a sid: decide its route, open its upstream, and hand it on (or refuse it). */
  async handshake({ req, search, query, transport, io }: HandshakeRequest): Promise<void> {
    if (this.refusing) {
      publish("switchyard:handshake:refused", { code: "SWY_ERR_DRAINING" });
      return io.refuse(503, new SwitchyardError("SWY_ERR_DRAINING"));
    }
    // Malformed handshakes are engine.io's to refuse, with its own error codes; no upstream for them.
    if (req.method !== "GET" || query.transport !== transport) return io.engine();
    // engine.io reads a missing EIO as revision 3 (allowEIO3 is on for 2.x clients), but every real client sends
    // it: a handshake without it is refused as engine.io refuses a revision it does not serve, on every route.
    if (query.EIO === undefined) {
      publish("switchyard:handshake:refused", { code: "SWY_ERR_UNSUPPORTED_PROTOCOL" });
      return io.refuseAsEngine(ENGINE_UNSUPPORTED_PROTOCOL);
    }
    const { trustProxy, forwardHeaders } = this.deps;
    const context = clientContextOf(req, { trustProxy, extraHeaders: forwardHeaders }, search);
    // Routing reads each parameter's last value, as engine.io does (`_query`).
    const remoteAddress = routingAddress(req.headers["x-forwarded-for"], context.remoteAddress, trustProxy, this.deps.trustedProxies);
    const admission = this.deps.admission?.admit(remoteAddress);
    if (admission !== undefined && !admission.ok) {
      publish("switchyard:handshake:refused", { code: admission.code });
      return io.refuse(admission.status, new SwitchyardError(admission.code), admission.retryAfterSeconds);
    }
    const release = admission?.release ?? (() => {});
    const input: RouteInput = { query: new URLSearchParams(query), headers: req.headers, remoteAddress, eio: context.eio };
    // The lease passes to the session (or its pipe) that starts; every other way out releases it.
    let handedOver = false;
    try {
      handedOver = await this.start(req, io, input, context, release);
    } finally {
      if (!handedOver) release();
    }
  }

  /** Routes an admitted handshake and hands it on; true when a session (or pipe) took over `release`. */
  private async start(
    req: HandshakeRequest["req"],
    io: HandshakeRequest["io"],
    input: RouteInput,
    context: ClientContext,
    release: () => void,
  ): Promise<boolean> {
    const verdict = this.deps.router.decideAtHandshake(input);
    if (isDeferred(verdict)) {
      // The route waits for the first CONNECT's auth: engine.io answers now, with an id of our own.
      const sessionId = generateSessionId();
      await this.deps.directory.registerSession(sessionId);
      if (io.gone() || this.refusing) {
        await this.deps.directory.unregisterSession(sessionId);
        return false;
      }
      this.deps.pending.add(req, { sessionId, bound: undefined, input, context, release });
      io.engine();
      return true;
    }
    publish("switchyard:route:decided", { backend: verdict.backend, reason: verdict.reason });
    if (verdict.backend === "legacy" && verdict.shadow === undefined && this.deps.legacyMode === "pipe") {
      io.pipe({ splitBucket: splitBucketOf(verdict), onEnd: release });
      return true;
    }
    let bound: BoundUpstream;
    try {
      bound = await this.openRoute(verdict, context, undefined);
    } catch (error) {
      const code = errorCodeOf(error, "SWY_ERR_UPSTREAM_UNREACHABLE");
      this.deps.logger.warn({ code, backend: verdict.backend, err: (error as Error).message }, "upstream unavailable for a new session");
      publish("switchyard:handshake:refused", { code });
      io.refuse(STATUS_FOR[code] ?? 502, error instanceof SwitchyardError ? error : new SwitchyardError(code));
      return false;
    }
    const sessionId = bound.upstream.sessionId;
    // Registered before the client learns the sid, so that its next request may reach any instance.
    await this.deps.directory.registerSession(sessionId);
    if (io.gone() || this.refusing) {
      bound.upstream.close();
      await this.deps.directory.unregisterSession(sessionId);
      return false;
    }
    this.deps.pending.add(req, { sessionId, bound: { ...bound, route: verdict }, input, context, release });
    io.engine();
    return true;
  }

  /**
   * engine.io completed a handshake this orchestrator prepared: the session starts. This is engine.io's
   * "connection" listener: a throw ends this session only (engine.io has answered the handshake already).
   */
  connect(socket: EngineSocket): void {
    try {
      this.bind(socket);
    } catch (error) {
      this.deps.logger.error({ code: "SWY_ERR_INTERNAL", err: reportContained("client", error) }, "binding a new session failed");
      socket.close();
    }
  }

  private bind(socket: EngineSocket): void {
    const pending = this.deps.pending.take(socket.request);
    if (pending === undefined) {
      // Only a handshake we prepared reaches engine.io; anything else is a bug worth a loud close.
      this.deps.logger.error({ sid: engineSocketId(socket) }, "engine.io session without a prepared handshake");
      socket.close();
      return;
    }
    const { bound, input, context } = pending;
    const { sessions, directory, logger } = this.deps;
    let route: Route | undefined = bound?.route;
    const deferred = async (auth: unknown): Promise<BoundUpstream> => {
      route = this.deps.router.decide({ ...input, auth });
      publish("switchyard:route:decided", { backend: route.backend, reason: route.reason });
      return this.openRoute(route, context, pending.sessionId);
    };
    const session = new ClientSession(socket, bound ?? deferred, {
      limits: this.deps.limits,
      onError: (s, code, detail) =>
        logger[code === "SWY_ERR_INTERNAL" ? "error" : "info"]({ sid: s.id, backend: s.backend, code, detail }, "session error"),
      onBound: (s) => {
        s.splitBucket = route === undefined ? undefined : splitBucketOf(route);
        sessions.recount(s);
        if (route !== undefined) this.deps.onSessionBound?.(s, route, context);
      },
      onUpgraded: (s) => sessions.recount(s),
      onClosed: (s) => {
        sessions.delete(s);
        pending.release?.();
        directory.unregisterSession(s.id);
      },
    });
    sessions.add(session);
  }

  private async openRoute(route: Route, context: ClientContext, sessionId: string | undefined): Promise<BoundUpstream> {
    const opened = await this.deps.connector.openPrimary(route.backend, context, sessionId);
    return { upstream: opened.upstream, backend: opened.backend, shadowed: route.shadow !== undefined && !opened.fellBack };
  }
}

/** The bucket of a session routed by the split (the only sessions a change of the split moves); undefined otherwise. */
export function splitBucketOf(route: Route): number | undefined {
  return route.reason === "split" ? route.bucket : undefined;
}

/**
 * The client address routing and the per-address cap see. With trusted proxies (TRUSTED_PROXIES): walking back
 * from the peer through X-Forwarded-For, the first address that is not a trusted proxy (a client that reaches
 * the gateway directly is its own peer, whatever it wrote). Without: behind TRUST_PROXY, the last address appended.
 */
export function routingAddress(
  forwardedFor: string | string[] | undefined,
  remoteAddress: string,
  trustProxy: boolean,
  trustedProxies?: Pick<NetworkList, "matches" | "networks">,
): string {
  const chain = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? ""))
    .split(",")
    .map((hop) => hop.trim())
    .filter((hop) => hop !== "");
  if (trustedProxies !== undefined && trustedProxies.networks.length > 0) {
    let client = remoteAddress;
    while (trustedProxies.matches(client) && chain.length > 0) client = chain.pop()!;
    return client;
  }
  if (!trustProxy) return remoteAddress;
  return chain.at(-1) ?? remoteAddress;
}
