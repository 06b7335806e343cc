/**
 * The client-facing gateway: one HTTP server that
 * - answers Socket.IO handshakes by deciding the session's route once and pinning it: legacy-route
 *   sessions that are not shadowed become pipes (proxied byte for byte); every other session is
 *   terminated by engine.io and bound to an upstream opened *before* the handshake completes, so that the
 *   client's engine id is the backend's (2.x clients derive socket ids from it);
 * - hands every later request of a terminated session to engine.io, and every other request with a sid
 *   to the legacy server (pipe sessions) or to the instance that owns it;
 * - passes everything else to the legacy app (the strangler pattern).
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Server as EngineServer, Socket as EngineSocket } from "engine.io";
import type { Logger } from "pino";
import type { StaticConfig } from "../config/static-config.js";
import { SwitchyardError, errorCodeOf, type ErrorCode } from "../errors.js";
import { LegacyProxy, writeJsonError, writeUpgradeError } from "../passthrough/legacy-proxy.js";
import { OwnerForwarder } from "../passthrough/owner-forwarder.js";
import { PipeSessions } from "../passthrough/pipe-sessions.js";
import { isDeferred, type Route, type RouteDecider, type RouteInput } from "../routing/route.js";
import { publish } from "../telemetry/events.js";
import type { Backend, ClientTransport, SessionCloseReason } from "../domain.js";
import { clientContextOf, type ClientContext } from "../upstream/client-context.js";
import { generateSessionId } from "../upstream/hub-upstream.js";
import type { UpstreamConnector } from "../upstream/upstream-connector.js";
import { ClientSession, type BoundUpstream, type ClientSession as Session } from "./client-session.js";
import { NegativeOwnerCache, type SessionDirectory } from "./session-directory.js";
import { engineSocketId, hasEngineSession } from "./engine-internals.js";
import { applyHandshake, createEngine, type HandshakeValues } from "./engine-options.js";

export interface GatewayDeps {
  readonly config: StaticConfig;
  readonly legacyUrl: string;
  readonly logger: Logger;
  readonly router: RouteDecider;
  readonly connector: UpstreamConnector;
  readonly handshake: HandshakeValues;
  readonly directory: SessionDirectory;
  /** Called when a session has its upstream (the shadow attaches its tap here). */
  readonly onSessionBound?: (session: Session, route: Route, context: ClientContext) => void;
}

/** A handshake the gateway prepared for engine.io: its upstream is open, or its route waits for CONNECT. */
interface PendingHandshake {
  readonly sessionId: string;
  readonly bound: (BoundUpstream & { readonly route: Route }) | undefined;
  readonly input: RouteInput;
  readonly context: ClientContext;
  readonly timer: NodeJS.Timeout;
}

type EngineRequest = IncomingMessage & { _query?: Record<string, string> };

/** How long an opened upstream may wait for engine.io to complete the client handshake. */
const PENDING_HANDSHAKE_TTL_MS = 10_000;

const STATUS_FOR: Partial<Record<ErrorCode, [number, string]>> = {
  SWY_ERR_UPSTREAM_TIMEOUT: [504, "Gateway Timeout"],
  SWY_ERR_DRAINING: [503, "Service Unavailable"],
};

export class Gateway {
  readonly http: HttpServer;
  readonly engine: EngineServer;
  readonly proxy: LegacyProxy;
  readonly pipes: PipeSessions;
  readonly sessions = new Map<string, ClientSession>();
  private readonly pending = new WeakMap<IncomingMessage, PendingHandshake>();
  private readonly forwarder: OwnerForwarder;
  private readonly notOwnedElsewhere = new NegativeOwnerCache();
  private readonly config: StaticConfig;
  private readonly log: Logger;
  private draining = false;

  constructor(private readonly deps: GatewayDeps) {
    this.config = deps.config;
    this.log = deps.logger;
    this.engine = createEngine(deps.config, deps.handshake);
    this.engine.generateId = (req: IncomingMessage) => this.pending.get(req)?.sessionId ?? generateSessionId();
    this.engine.on("connection", (socket: EngineSocket) => this.onEngineConnection(socket));
    this.engine.on("connection_error", (error: { req: IncomingMessage; code: number; message: string }) => this.onEngineRefusal(error.req));
    this.proxy = new LegacyProxy({ target: deps.legacyUrl, trustProxy: deps.config.trustProxy });
    this.pipes = new PipeSessions({
      proxy: this.proxy,
      legacyUrl: deps.legacyUrl,
      path: deps.config.socketIoPath,
      idleTimeoutMs: deps.handshake.pingInterval + deps.handshake.pingTimeout,
    });
    this.forwarder = new OwnerForwarder(deps.directory.instanceId);
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on("clientError", (_error, socket: Duplex) => {
      if (!socket.destroyed) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Handshake values learned after start-up (the legacy server was down when the gateway started). */
  updateHandshake(handshake: HandshakeValues): void {
    applyHandshake(this.engine, handshake);
  }

  sessionCounts(): Record<Backend, Record<ClientTransport, number>> {
    const counts: Record<Backend, Record<ClientTransport, number>> = {
      legacy: { polling: 0, websocket: 0 },
      hub: { polling: 0, websocket: 0 },
    };
    for (const session of this.sessions.values()) if (session.backend !== undefined) counts[session.backend][session.transport]++;
    const piped = this.pipes.countByTransport();
    counts.legacy.polling += piped.polling;
    counts.legacy.websocket += piped.websocket;
    return counts;
  }

  /** Closes up to `count` sessions of a backend so that their clients reconnect. Returns how many. */
  closeSessions(backend: Backend, count: number, reason: SessionCloseReason): number {
    let closed = 0;
    for (const session of [...this.sessions.values()]) {
      if (closed >= count) return closed;
      if (session.backend !== backend || session.state !== "open") continue;
      session.close(reason);
      closed++;
    }
    if (backend === "legacy") closed += this.pipes.close(count - closed, reason);
    return closed;
  }

  /** Stops taking new sessions (handshakes get 503) but keeps serving the open ones. */
  beginDrain(): void {
    this.draining = true;
  }

  /**
   * Closes every session, paced over `spreadMs` so that reconnecting clients do not stampede the other
   * instances, then stops listening and gives in-flight requests (long polls carrying close packets)
   * up to `graceMs` to finish. Resolves when everything is closed.
   */
  async shutdown(spreadMs: number, graceMs: number): Promise<void> {
    this.beginDrain();
    const total = this.sessions.size + this.pipes.size;
    const steps = Math.max(1, Math.min(20, total));
    const perStep = Math.ceil(total / steps);
    for (let step = 0; step < steps && this.sessions.size + this.pipes.size > 0; step++) {
      this.closeSessions("hub", perStep, "shutdown");
      this.closeSessions("legacy", perStep, "shutdown");
      if (spreadMs > 0 && step < steps - 1) await delay(spreadMs / steps);
    }
    this.closeSessions("hub", Number.MAX_SAFE_INTEGER, "shutdown");
    this.closeSessions("legacy", Number.MAX_SAFE_INTEGER, "shutdown");
    await this.closeListener(graceMs);
  }

  /** Closes the listener and every connection at once (tests, and the end of a shutdown). */
  async close(): Promise<void> {
    this.draining = true;
    for (const session of this.sessions.values()) session.close("shutdown");
    this.pipes.close(Number.MAX_SAFE_INTEGER, "shutdown");
    await this.closeListener(0);
  }

  private async closeListener(graceMs: number): Promise<void> {
    this.pipes.stop();
    this.engine.close();
    this.forwarder.close();
    let done = false;
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve())).then(() => {
      done = true;
    });
    // Idle keep-alive connections go now; busy ones (a long poll about to carry its close packet) may finish.
    const deadline = Date.now() + graceMs;
    while (!done && Date.now() < deadline) {
      this.http.closeIdleConnections();
      await delay(50);
    }
    this.http.closeAllConnections();
    this.proxy.close();
    await closed;
  }

  // ---- dispatch --------------------------------------------------------------------------------

  private isSocketIoPath(req: IncomingMessage): boolean {
    const url = req.url ?? "/";
    const path = this.config.socketIoPath;
    // Exact path only: anything else under it (the client bundle /socket.io/socket.io.js) is the legacy app's.
    return url.startsWith(path) && (url.length === path.length || url.charCodeAt(path.length) === 63) /* ? */;
  }

  /**
   * Parses the query string once: engine.io reads `_query` (last value of a repeated key wins, so the
   * sid is taken from it too) and the handshake reads the parameters.
   */
  private queryOf(req: EngineRequest): { readonly search: URLSearchParams; readonly query: Record<string, string> } {
    const search = new URL(req.url ?? "/", "http://gateway.invalid").searchParams;
    req._query = Object.fromEntries(search.entries());
    return { search, query: req._query };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.isSocketIoPath(req)) {
      this.proxy.web(req, res);
      return;
    }
    const { search, query } = this.queryOf(req);
    const sid = query.sid;
    if (sid !== undefined) {
      if (hasEngineSession(this.engine, sid)) this.engine.handleRequest(req, res);
      else if (this.pipes.has(sid) || OwnerForwarder.wasForwarded(req) || this.notOwnedElsewhere.has(sid))
        this.pipes.request(req, res, sid);
      else
        void this.routeToOwner(sid, (owner) =>
          owner === undefined ? this.pipes.request(req, res, sid) : this.forwarder.web(req, res, owner),
        );
      return;
    }
    void this.handshake(
      req,
      search,
      query,
      {
        pipe: () => this.pipes.handshakeHttp(req, res),
        engine: () => this.engine.handleRequest(req, res),
        refuse: (status, error) => writeJsonError(res, status, error),
        gone: () => res.destroyed,
      },
      "polling",
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    if (!this.isSocketIoPath(req)) {
      this.proxy.ws(req, socket, head);
      return;
    }
    const { search, query } = this.queryOf(req);
    const sid = query.sid;
    if (sid !== undefined) {
      if (hasEngineSession(this.engine, sid)) this.engine.handleUpgrade(req, socket, head);
      else if (this.pipes.has(sid) || OwnerForwarder.wasForwarded(req) || this.notOwnedElsewhere.has(sid))
        this.pipes.upgrade(req, socket, head, sid);
      else
        void this.routeToOwner(sid, (owner) =>
          owner === undefined ? this.pipes.upgrade(req, socket, head, sid) : this.forwarder.ws(req, socket, head, owner),
        );
      return;
    }
    void this.handshake(
      req,
      search,
      query,
      {
        pipe: () => this.pipes.handshakeWs(req, socket, head),
        engine: () => this.engine.handleUpgrade(req, socket, head),
        refuse: (status, error) =>
          writeUpgradeError(
            socket,
            status,
            status === 503 ? "Service Unavailable" : status === 504 ? "Gateway Timeout" : "Bad Gateway",
            error,
          ),
        gone: () => socket.destroyed,
      },
      "websocket",
    );
  }

  private async handshake(
    req: IncomingMessage,
    search: URLSearchParams,
    query: Record<string, string>,
    io: { pipe(): void; engine(): void; refuse(status: number, error: SwitchyardError): void; gone(): boolean },
    expectedTransport: ClientTransport,
  ): Promise<void> {
    if (this.draining) {
      publish("switchyard:handshake:refused", { code: "SWY_ERR_DRAINING" });
      io.refuse(503, new SwitchyardError("SWY_ERR_DRAINING"));
      return;
    }
    // Malformed handshakes are engine.io's to refuse, with its own error codes; no upstream for them.
    if (req.method !== "GET" || query.transport !== expectedTransport) {
      io.engine();
      return;
    }
    const context = clientContextOf(req, { trustProxy: this.config.trustProxy, extraHeaders: this.config.forwardHeaders }, search);
    // Routing reads each parameter's last value, as engine.io does (`_query`).
    const input: RouteInput = {
      query: new URLSearchParams(query),
      headers: req.headers,
      remoteAddress: this.routingAddress(req, context),
      eio: context.eio,
    };
    const verdict = this.deps.router.decideAtHandshake(input);
    if (isDeferred(verdict)) {
      // The route waits for the first CONNECT's auth: engine.io answers now, with an id of our own.
      const sessionId = generateSessionId();
      await this.deps.directory.registerSession(sessionId);
      if (io.gone() || this.draining) return this.deps.directory.unregisterSession(sessionId);
      this.prepare(req, { sessionId, bound: undefined, input, context });
      io.engine();
      return;
    }
    publish("switchyard:route:decided", { backend: verdict.backend, reason: verdict.reason });
    if (verdict.backend === "legacy" && verdict.shadow === undefined && this.config.legacyMode === "pipe") {
      io.pipe();
      return;
    }
    let bound: BoundUpstream;
    try {
      bound = await this.openRoute(verdict, context, undefined);
    } catch (error) {
      const code = errorCodeOf(error, "SWY_ERR_UPSTREAM_UNREACHABLE");
      this.log.warn({ code, backend: verdict.backend, err: (error as Error).message }, "upstream unavailable for a new session");
      publish("switchyard:handshake:refused", { code });
      const [status] = STATUS_FOR[code] ?? [502];
      io.refuse(status, error instanceof SwitchyardError ? error : new SwitchyardError(code));
      return;
    }
    const sessionId = bound.upstream.sessionId;
    // Registered before the client learns the sid, so that its next request may reach any instance.
    await this.deps.directory.registerSession(sessionId);
    if (io.gone() || this.draining) {
      bound.upstream.close();
      this.deps.directory.unregisterSession(sessionId);
      return;
    }
    this.prepare(req, { sessionId, bound: { ...bound, route: verdict }, input, context });
    io.engine();
  }

  /** The client address routing sees: behind a trusted load balancer, the address it appended. */
  private routingAddress(req: IncomingMessage, context: ClientContext): string {
    if (!this.config.trustProxy) return context.remoteAddress;
    const forwarded = req.headers["x-forwarded-for"];
    const last = (Array.isArray(forwarded) ? forwarded.join(",") : forwarded)?.split(",").pop()?.trim();
    return last !== undefined && last !== "" ? last : context.remoteAddress;
  }

  private async openRoute(route: Route, context: ClientContext, sessionId: string | undefined): Promise<BoundUpstream> {
    const opened = await this.deps.connector.openPrimary(route.backend, context, sessionId);
    return { upstream: opened.upstream, backend: opened.backend, shadowed: route.shadow !== undefined && !opened.fellBack };
  }

  private prepare(req: IncomingMessage, entry: Omit<PendingHandshake, "timer">): void {
    const timer = setTimeout(() => this.onEngineRefusal(req), PENDING_HANDSHAKE_TTL_MS);
    this.pending.set(req, { ...entry, timer });
  }

  private async routeToOwner(sid: string, proceed: (ownerUrl: string | undefined) => void): Promise<void> {
    const owner = await this.deps.directory.sessionOwner(sid);
    if (owner === undefined || owner.instanceId === this.deps.directory.instanceId) {
      this.notOwnedElsewhere.add(sid);
      proceed(undefined);
    } else {
      proceed(owner.internalUrl);
    }
  }

  private dropPending(req: IncomingMessage): PendingHandshake | undefined {
    const pending = this.pending.get(req);
    if (pending === undefined) return undefined;
    this.pending.delete(req);
    clearTimeout(pending.timer);
    return pending;
  }

  private onEngineRefusal(req: IncomingMessage): void {
    const pending = this.dropPending(req);
    if (pending === undefined) return;
    pending.bound?.upstream.close();
    this.deps.directory.unregisterSession(pending.sessionId);
  }

  private onEngineConnection(socket: EngineSocket): void {
    const pending = this.dropPending(socket.request);
    if (pending === undefined) {
      // Only a handshake we prepared reaches engine.io; anything else is a bug worth a loud close.
      this.log.error({ sid: engineSocketId(socket) }, "engine.io session without a prepared handshake");
      socket.close();
      return;
    }
    const { bound, input, context } = pending;
    let route: Route | undefined = bound?.route;
    const deferred = async (auth: unknown): Promise<BoundUpstream> => {
      route = this.deps.router.decide({ ...input, auth });
      publish("switchyard:route:decided", { backend: route.backend, reason: route.reason });
      return this.openRoute(route, context, pending.sessionId);
    };
    const session = new ClientSession(socket, bound ?? deferred, {
      limits: this.config.limits,
      onError: (s, code, detail) => this.log.info({ sid: s.id, backend: s.backend, code, detail }, "session error"),
      onBound: (s) => {
        if (route !== undefined) this.deps.onSessionBound?.(s, route, context);
      },
      onClosed: (s) => {
        this.sessions.delete(s.id);
        this.deps.directory.unregisterSession(s.id);
      },
    });
    this.sessions.set(session.id, session);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
