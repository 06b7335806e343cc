/**
 * Where each client request goes (HTTP requests and WebSocket upgrades alike):
 * - outside the Socket.IO path: the legacy app (the strangler pattern);
 * - with a sid engine.io knows: engine.io (a terminated session of this instance);
 * - with a sid of a pipe session, or one no other instance owns: the legacy server, as a pipe;
 * - with a sid another instance owns: that instance;
 * - without a sid: a new session's handshake.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { ClientTransport } from "../domain.js";
import type { SwitchyardError } from "../errors.js";
import { writeJsonError, writeUpgradeError } from "../passthrough/legacy-proxy.js";
import type { PipeHandshake } from "../passthrough/pipe-sessions.js";

/** How a handshake is answered, whichever way the request came (HTTP or upgrade). */
export interface HandshakeIo {
  /** Proxy it to the legacy server: the session becomes a pipe (split bucket kept for drains, `onEnd` run when it ends). */
  pipe(handshake?: PipeHandshake): void;
  /** Hand it to engine.io: the session is terminated here. */
  engine(): void;
  /** `retryAfterSeconds`: sent as Retry-After (a full or rate-limited instance). */
  refuse(status: number, error: SwitchyardError, retryAfterSeconds?: number): void;
  /** Refuse it exactly as engine.io refuses a handshake (HTTP 400 with its error code and message). */
  refuseAsEngine(error: { readonly code: number; readonly message: string }): void;
  /** The client went away while the handshake waited. */
  gone(): boolean;
}

export interface HandshakeRequest {
  readonly req: IncomingMessage;
  /** The query string, parsed once. */
  readonly search: URLSearchParams;
  /** Each parameter's last value (what engine.io reads as `_query`). */
  readonly query: Record<string, string>;
  readonly transport: ClientTransport;
  readonly io: HandshakeIo;
}

/** The collaborators a dispatcher hands requests to. */
export interface DispatchTargets {
  /** The Socket.IO path, e.g. "/socket.io/". */
  readonly socketIoPath: string;
  readonly legacy: {
    web(req: IncomingMessage, res: ServerResponse): void;
    ws(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  };
  readonly engine: {
    hasSession(sid: string): boolean;
    handleRequest(req: IncomingMessage, res: ServerResponse): void;
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  };
  readonly pipes: {
    has(sid: string): boolean;
    request(req: IncomingMessage, res: ServerResponse, sid: string): void;
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, sid: string): void;
    handshakeHttp(req: IncomingMessage, res: ServerResponse, handshake?: PipeHandshake): void;
    handshakeWs(req: IncomingMessage, socket: Duplex, head: Buffer, handshake?: PipeHandshake): void;
  };
  readonly owners: {
    staysHere(req: IncomingMessage, sid: string): boolean;
    ownerUrl(sid: string): Promise<string | undefined>;
  };
  readonly forwarder: {
    web(req: IncomingMessage, res: ServerResponse, ownerUrl: string): void;
    ws(req: IncomingMessage, socket: Duplex, head: Buffer, ownerUrl: string): void;
  };
  readonly handshake: (request: HandshakeRequest) => Promise<void>;
  /**
   * The request's handling threw, or a promise it started (handshake, owner look-up) rejected: a bug. It
   * answers the request (500 SWY_ERR_INTERNAL, or the upgrade closed), logs and counts it (request-guard.ts).
   */
  readonly fail: (target: ServerResponse | Duplex, error: unknown, what: string) => void;
}

type EngineRequest = IncomingMessage & { _query?: Record<string, string> };

/** One request's possible destinations, bound to its response (HTTP) or socket (upgrade). */
interface Destinations {
  engine(): void;
  pipe(sid: string): void;
  forward(ownerUrl: string): void;
  handshake: HandshakeIo;
  fail(error: unknown, what: string): void;
}

/** engine.io's abortRequest(): 400, its JSON error body. */
function writeEngineError(res: ServerResponse, error: { readonly code: number; readonly message: string }): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(400, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ code: error.code, message: error.message }));
}

/** engine.io's abortUpgrade(): a 400 with the message as the body, then the socket is closed. */
function writeEngineUpgradeError(socket: Duplex, error: { readonly message: string }): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n` +
      `Content-Length: ${Buffer.byteLength(error.message)}\r\n\r\n${error.message}`,
  );
}

const UPGRADE_STATUS_TEXT: Readonly<Record<number, string>> = {
  429: "Too Many Requests",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

function retryAfter(seconds: number | undefined): Record<string, string> {
  return seconds === undefined ? {} : { "retry-after": String(seconds) };
}

export class RequestDispatcher {
  constructor(private readonly targets: DispatchTargets) {}

  /** The client listener's "request" handler: whatever throws ends this request only (answered 500). */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    const { engine, pipes, forwarder, fail } = this.targets;
    try {
      if (!this.isSocketIoPath(req)) return this.targets.legacy.web(req, res);
      this.dispatch(req, "polling", {
        engine: () => engine.handleRequest(req, res),
        pipe: (sid) => pipes.request(req, res, sid),
        forward: (ownerUrl) => forwarder.web(req, res, ownerUrl),
        handshake: {
          pipe: (handshake) => pipes.handshakeHttp(req, res, handshake),
          engine: () => engine.handleRequest(req, res),
          refuse: (status, error, after) => writeJsonError(res, status, error, retryAfter(after)),
          refuseAsEngine: (error) => writeEngineError(res, error),
          gone: () => res.destroyed,
        },
        fail: (error, what) => fail(res, error, what),
      });
    } catch (error) {
      fail(res, error, "a client request");
    }
  }

  /** The client listener's "upgrade" handler: whatever throws ends this upgrade only. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { engine, pipes, forwarder, fail } = this.targets;
    socket.on("error", () => socket.destroy());
    try {
      if (!this.isSocketIoPath(req)) return this.targets.legacy.ws(req, socket, head);
      this.dispatch(req, "websocket", {
        engine: () => engine.handleUpgrade(req, socket, head),
        pipe: (sid) => pipes.upgrade(req, socket, head, sid),
        forward: (ownerUrl) => forwarder.ws(req, socket, head, ownerUrl),
        handshake: {
          pipe: (handshake) => pipes.handshakeWs(req, socket, head, handshake),
          engine: () => engine.handleUpgrade(req, socket, head),
          refuse: (status, error, after) =>
            writeUpgradeError(socket, status, UPGRADE_STATUS_TEXT[status] ?? "Bad Gateway", error, retryAfter(after)),
          refuseAsEngine: (error) => writeEngineUpgradeError(socket, error),
          gone: () => socket.destroyed,
        },
        fail: (error, what) => fail(socket, error, what),
      });
    } catch (error) {
      fail(socket, error, "a client upgrade");
    }
  }

  private isSocketIoPath(req: IncomingMessage): boolean {
    const url = req.url ?? "/";
    const path = this.targets.socketIoPath;
    // Exact path only: anything else under it (the client bundle /socket.io/socket.io.js) is the legacy app's.
    return url.startsWith(path) && (url.length === path.length || url.charCodeAt(path.length) === 63) /* ? */;
  }

  private dispatch(req: EngineRequest, transport: ClientTransport, to: Destinations): void {
    // The query string is parsed once: engine.io reads `_query` (the last value of a repeated key wins,
    // so the sid is taken from it too) and the handshake reads the parameters.
    const search = new URL(req.url ?? "/", "http://gateway.invalid").searchParams;
    const query = Object.fromEntries(search.entries());
    req._query = query;
    const sid = query.sid;
    // Every promise started here ends in a handler that answers the request.
    if (sid === undefined) {
      this.targets
        .handshake({ req, search, query, transport, io: to.handshake })
        .catch((error: unknown) => to.fail(error, `a ${transport} handshake`));
    } else if (this.targets.engine.hasSession(sid)) {
      to.engine();
    } else if (this.targets.pipes.has(sid) || this.targets.owners.staysHere(req, sid)) {
      to.pipe(sid);
    } else {
      this.targets.owners
        .ownerUrl(sid)
        .then((ownerUrl) => (ownerUrl === undefined ? to.pipe(sid) : to.forward(ownerUrl)))
        .catch((error: unknown) => to.fail(error, "routing a request to its session's owner"));
    }
  }
}
