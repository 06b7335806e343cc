/**
 * A test-only gateway that routes every session to a hub, wired the way src/downstream/handshake-orchestrator.ts wires
 * the legacy upstream: the upstream opens *before* engine.io completes the client handshake, engine.io's
 * generateId returns the upstream's session id, and a ClientSession binds the two. It lets the hub
 * upstream be tested end to end independently of the gateway's routing.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Socket as EngineSocket } from "engine.io";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { ClientSession } from "../../src/downstream/client-session.js";
import { createEngine, SOCKET_IO_DEFAULTS } from "../../src/downstream/engine-options.js";
import type { ErrorCode } from "../../src/errors.js";
import { clientContextOf } from "../../src/upstream/client-context.js";
import { openHubUpstream, type HubUpstream, type HubUpstreamOptions } from "../../src/upstream/hub-upstream.js";
import { gatewayEnv } from "./stack.js";

export interface HubTestGateway {
  readonly url: string;
  readonly http: HttpServer;
  readonly sessions: Map<string, ClientSession>;
  /** Session errors reported by ClientSession (code and detail), in order. */
  readonly errors: { code: ErrorCode; detail: string | undefined }[];
  /** Failures to open the hub upstream. */
  readonly openFailures: Error[];
  close(): Promise<void>;
}

export type HubTestGatewayOptions = Partial<Omit<HubUpstreamOptions, "context" | "hubUrl">>;

const PATH = "/socket.io/";

/**
 * engine.io waits up to 30 s (a non-unref'd timer) for the next poll of a polling session it closes, even
 * when the client has already closed it (a kicked client). The timer keeps a test process alive for
 * those 30 s after everything closed; tests shorten it. No effect on what clients observe.
 */
export function shortenPollingCloseTimeout(engine: EngineServerLike): void {
  engine.on("connection", (socket: { transport: { closeTimeout?: number } }) => {
    socket.transport.closeTimeout = 200;
  });
}

interface EngineServerLike {
  on(event: "connection", listener: (socket: { transport: { closeTimeout?: number } }) => void): unknown;
}

export async function startHubTestGateway(hubUrl: string, options: HubTestGatewayOptions = {}): Promise<HubTestGateway> {
  const config = loadStaticConfig(gatewayEnv({ LEGACY_MODE: "terminate" }));
  const engine = createEngine(config, SOCKET_IO_DEFAULTS);
  const pending = new WeakMap<IncomingMessage, HubUpstream>();
  const sessions = new Map<string, ClientSession>();
  const errors: HubTestGateway["errors"] = [];
  const openFailures: Error[] = [];
  shortenPollingCloseTimeout(engine as unknown as EngineServerLike);
  engine.generateId = (req: IncomingMessage) => pending.get(req)?.sessionId ?? "no-upstream";
  engine.on("connection", (socket: EngineSocket) => {
    const upstream = pending.get(socket.request);
    if (upstream === undefined) return socket.close();
    pending.delete(socket.request);
    const session = new ClientSession(
      socket,
      { upstream, backend: "hub", shadowed: false },
      {
        limits: config.limits,
        onError: (_s, code, detail) => errors.push({ code, detail }),
        onClosed: (s) => sessions.delete(s.id),
      },
    );
    sessions.set(session.id, session);
  });
  engine.on("connection_error", (error: { req: IncomingMessage }) => pending.get(error.req)?.close());

  const sidOf = (req: IncomingMessage) => new URL(req.url ?? "/", "http://x").searchParams.get("sid");
  const isSocketIo = (req: IncomingMessage) => (req.url ?? "/").split("?")[0] === PATH;
  async function openFor(req: IncomingMessage): Promise<boolean> {
    try {
      const upstream = await openHubUpstream({
        hubUrl,
        role: "primary",
        connectTimeoutMs: 5000,
        drainLowWater: config.limits.upstreamBufferHighWater / 2,
        maxAttachments: config.limits.maxAttachments,
        ...options,
        context: clientContextOf(req, { trustProxy: false, extraHeaders: [] }),
      });
      pending.set(req, upstream);
      return true;
    } catch (error) {
      openFailures.push(error as Error);
      return false;
    }
  }

  const http = createServer((req, res) => {
    if (!isSocketIo(req)) {
      res.writeHead(404).end();
      return;
    }
    if (sidOf(req) !== null || req.method !== "GET") return engine.handleRequest(req, res);
    void openFor(req).then((ok) => (ok ? engine.handleRequest(req, res) : res.writeHead(502).end()));
  });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    if (!isSocketIo(req)) return socket.destroy();
    if (sidOf(req) !== null) return engine.handleUpgrade(req, socket, head);
    void openFor(req).then((ok) => (ok ? engine.handleUpgrade(req, socket, head) : socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    http,
    sessions,
    errors,
    openFailures,
    close: async () => {
      for (const session of sessions.values()) session.close("shutdown");
      engine.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
