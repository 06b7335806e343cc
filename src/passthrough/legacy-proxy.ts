/**
 * The strangler pass-through: every request the gateway does not handle itself goes to the legacy app
 * through http-proxy-3, with X-Forwarded-* headers. An unreachable legacy app gives a 502 with a short JSON
 * reason; a failed WebSocket pass-through closes the client socket (with a 502 if nothing was sent yet).
 */
import { Agent, ServerResponse, type ClientRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createProxyServer, type ProxyServer } from "http-proxy-3";
import { SwitchyardError } from "../errors.js";
import { publish } from "../telemetry/events.js";

export interface LegacyProxyOptions {
  readonly target: string;
  /** Keep incoming X-Forwarded-* (a trusted load balancer set them); otherwise they are replaced. */
  readonly trustProxy: boolean;
}

const FORWARDED = ["x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-host"];
/** Below Node's default server keepAliveTimeout (5 s), the commonest one behind a legacy app. */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;
/** Requests whose proxied request went out on a reused keep-alive socket, and those already retried. */
const REUSED = new WeakSet<IncomingMessage>();
const RETRIED = new WeakSet<IncomingMessage>();
/** The proxied request of each client request (to abandon it at its deadline), and the deadlines pending. */
const PROXY_REQUESTS = new WeakMap<IncomingMessage, ClientRequest>();
const DEADLINES = new WeakMap<IncomingMessage, NodeJS.Timeout>();
const TIMED_OUT = new WeakSet<IncomingMessage>();

/**
 * How long the legacy server may take to start answering (a pipe handshake: UPSTREAM_CONNECT_TIMEOUT_MS, as
 * for terminated sessions). Past it the client gets 504 SWY_ERR_UPSTREAM_TIMEOUT and `onTimeout` runs. Long
 * polls and pass-through requests have none: their answers may legitimately take long.
 */
export interface Deadline {
  readonly ms: number;
  readonly onTimeout: () => void;
}

function clearDeadline(req: IncomingMessage): void {
  clearTimeout(DEADLINES.get(req));
  DEADLINES.delete(req);
}
/**
 * Statuses after which the legacy server closes the connection without saying so: engine.io answers an oversized
 * (413) or too slow (408) polling POST and then destroys the request's socket. A keep-alive agent would put that
 * socket back in its pool as soon as the (empty) answer ended, and the next request through it, often another
 * client's POST, which cannot be retried, would fail with ECONNRESET (a 502, a healthy polling client disconnected).
 */
const CLOSING_STATUSES: ReadonlySet<number> = new Set([408, 413]);
const CLOSING = new WeakSet<Socket>();

/** Node's keepSocketAlive returns whether the socket was kept (its types say void). */
type KeepSocketAlive = (socket: Duplex) => boolean;

/** An agent that never pools a socket the legacy server is closing (see CLOSING_STATUSES). */
class LegacyAgent extends Agent {
  override keepSocketAlive(socket: Duplex): boolean {
    return !CLOSING.has(socket as Socket) && (super.keepSocketAlive as unknown as KeepSocketAlive).call(this, socket);
  }
}

class LegacyHttpsAgent extends HttpsAgent {
  override keepSocketAlive(socket: Duplex): boolean {
    return !CLOSING.has(socket as Socket) && (super.keepSocketAlive as unknown as KeepSocketAlive).call(this, socket);
  }
}

export function writeJsonError(
  res: ServerResponse,
  status: number,
  error: SwitchyardError,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(body);
}

/** Answers an HTTP upgrade that cannot be served with a plain HTTP error, then closes the socket. */
export function writeUpgradeError(
  socket: Duplex,
  status: number,
  statusText: string,
  error: SwitchyardError,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(error);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nconnection: close\r\n${extra}content-type: ` +
      `application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * A request http-proxy-3 refused synchronously. An unparsable URL is the client's fault: 400
 * SWY_ERR_BAD_REQUEST. Anything else is rethrown, for the caller's guard to count as a bug.
 */
function refuseUnparsable(error: unknown, target: ServerResponse | Duplex): void {
  if ((error as NodeJS.ErrnoException).code !== "ERR_INVALID_URL") throw error;
  publish("switchyard:error:contained", { boundary: "request", code: "SWY_ERR_BAD_REQUEST" });
  const reason = new SwitchyardError("SWY_ERR_BAD_REQUEST", (error as Error).message);
  if (target instanceof ServerResponse) writeJsonError(target, 400, reason);
  else writeUpgradeError(target, 400, "Bad Request", reason);
}

function timeoutError(deadline: Deadline): SwitchyardError {
  return new SwitchyardError("SWY_ERR_UPSTREAM_TIMEOUT", `legacy: no answer within ${deadline.ms} ms`);
}

export class LegacyProxy {
  private readonly proxy: ProxyServer;
  private readonly agent: Agent;
  private readonly trustProxy: boolean;

  constructor(options: LegacyProxyOptions) {
    this.trustProxy = options.trustProxy;
    const https = options.target.startsWith("https:");
    // Keep-alive: long-polling sessions reuse connections to the legacy app instead of opening one per poll.
    // Idle sockets are dropped before a server's usual 5 s keep-alive timeout would close them under us.
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS };
    this.agent = https ? new LegacyHttpsAgent(agentOptions) : new LegacyAgent(agentOptions);
    this.proxy = createProxyServer({ target: options.target, xfwd: true, agent: this.agent, ws: true });
    // Errors are handled per call (callbacks below); this listener only keeps a stray one from crashing us.
    this.proxy.on("error", () => {});
    this.proxy.on("proxyReq", (proxyReq: ClientRequest, req: IncomingMessage) => {
      if (proxyReq.reusedSocket) REUSED.add(req);
      PROXY_REQUESTS.set(req, proxyReq);
    });
    this.proxy.on("proxyRes", (proxyRes: IncomingMessage, req: IncomingMessage) => {
      clearDeadline(req);
      if (CLOSING_STATUSES.has(proxyRes.statusCode ?? 0)) CLOSING.add(proxyRes.socket as Socket);
    });
    // A proxied WebSocket ends when either side does. When the legacy side closes, http-proxy-3 only
    // half-closes the client's socket (end()); a client that never answers that FIN (gone, or behind a
    // balancer that keeps its half open) would keep the socket, and the pipe session counted on it, for
    // good. So the client's socket is closed too, once what the backend sent before closing is flushed.
    this.proxy.on("proxyReqWs", (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
      PROXY_REQUESTS.set(req, proxyReq);
      proxyReq.once("response", () => clearDeadline(req));
      proxyReq.once("upgrade", (_res: IncomingMessage, proxySocket: Duplex) => {
        clearDeadline(req);
        proxySocket.once("close", () => {
          if (!socket.destroyed) (socket as Socket).destroySoon();
        });
      });
    });
  }

  /** Lets the pipe-session tracker read handshake responses. */
  onResponse(listener: (proxyRes: IncomingMessage, req: IncomingMessage) => void): void {
    this.proxy.on("proxyRes", (proxyRes: IncomingMessage, req: IncomingMessage) => listener(proxyRes, req));
  }

  web(req: IncomingMessage, res: ServerResponse, deadline?: Deadline): void {
    this.scrubForwarded(req);
    if (deadline !== undefined) {
      this.startDeadline(req, "http", deadline, () => writeJsonError(res, 504, timeoutError(deadline)));
      // A client that left before the answer: nothing to time out any more.
      res.once("close", () => clearDeadline(req));
    }
    const onError = (error: Error) => {
      if (TIMED_OUT.has(req)) return; // answered at the deadline; this is the abandoned request ending
      // A kept-alive socket the server closed just as we reused it: the request never reached the server,
      // so a body-less one is sent again once (Node's documented remedy for this race).
      if (
        (error as NodeJS.ErrnoException).code === "ECONNRESET" &&
        REUSED.has(req) &&
        !res.headersSent &&
        !RETRIED.has(req) &&
        (req.method === "GET" || req.method === "HEAD")
      ) {
        REUSED.delete(req);
        RETRIED.add(req);
        this.proxy.web(req, res, {}, onError);
        return;
      }
      clearDeadline(req);
      publish("switchyard:passthrough", { kind: "http", outcome: "failed", code: "SWY_ERR_PASSTHROUGH_UNREACHABLE" });
      writeJsonError(
        res,
        502,
        new SwitchyardError("SWY_ERR_PASSTHROUGH_UNREACHABLE", (error as NodeJS.ErrnoException).code ?? error.message),
      );
    };
    try {
      this.proxy.web(req, res, {}, onError);
    } catch (error) {
      // http-proxy-3 parses the request URL synchronously: an unparsable one (`GET http://[ HTTP/1.1`) throws here.
      refuseUnparsable(error, res);
      return;
    }
    publish("switchyard:passthrough", { kind: "http", outcome: "forwarded", code: undefined });
  }

  ws(req: IncomingMessage, socket: Duplex, head: Buffer, deadline?: Deadline): void {
    this.scrubForwarded(req);
    socket.on("error", () => socket.destroy());
    if (deadline !== undefined) {
      this.startDeadline(req, "websocket", deadline, () => writeUpgradeError(socket, 504, "Gateway Timeout", timeoutError(deadline)));
      socket.once("close", () => clearDeadline(req));
    }
    try {
      this.proxy.ws(req, socket, head, {}, (error: Error) => {
        if (TIMED_OUT.has(req)) return;
        clearDeadline(req);
        publish("switchyard:passthrough", { kind: "websocket", outcome: "failed", code: "SWY_ERR_PASSTHROUGH_UNREACHABLE" });
        const reason = new SwitchyardError("SWY_ERR_PASSTHROUGH_UNREACHABLE", (error as NodeJS.ErrnoException).code ?? error.message);
        // Nothing was written yet if the legacy app could not be reached: answer like an HTTP gateway would.
        if ((socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) writeUpgradeError(socket, 502, "Bad Gateway", reason);
        else socket.destroy();
      });
    } catch (error) {
      refuseUnparsable(error, socket);
      return;
    }
    publish("switchyard:passthrough", { kind: "websocket", outcome: "forwarded", code: undefined });
  }

  /** At the deadline (no answer from the legacy server yet): answer the client, abandon the proxied request. */
  private startDeadline(req: IncomingMessage, kind: "http" | "websocket", deadline: Deadline, answer: () => void): void {
    const timer = setTimeout(() => {
      DEADLINES.delete(req);
      TIMED_OUT.add(req);
      publish("switchyard:passthrough", { kind, outcome: "failed", code: "SWY_ERR_UPSTREAM_TIMEOUT" });
      answer();
      PROXY_REQUESTS.get(req)?.destroy();
      deadline.onTimeout();
    }, deadline.ms);
    timer.unref();
    DEADLINES.set(req, timer);
  }

  close(): void {
    this.proxy.close();
    this.agent.destroy();
  }

  private scrubForwarded(req: IncomingMessage): void {
    if (this.trustProxy) return;
    for (const name of FORWARDED) delete req.headers[name];
  }
}
