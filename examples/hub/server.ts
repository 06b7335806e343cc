/**
 * The sample hub: a plain `ws` server speaking docs/hub-protocol.md (what the customer's Go hub speaks)
 * and running the sample chat (docs/sample-chat.md), so that Switchyard can route sessions to it and the
 * tests can compare it with the legacy chat. `npm start` spawns it like the legacy one: it prints one
 * JSON line `{"msg":..., "url":...}` and honours PORT and HOST.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { createChatHistory } from "../chat-history.js";
import { attachChat } from "./chat.js";
import { HubRuntime, type RoomsAt } from "./runtime.js";
import { CLOSE, SESSION_HEADER, SHADOW_HEADER, SUBPROTOCOL } from "./wire.js";
import { HubLinkConnection, openSocketSession, SUBPROTOCOL_V2 } from "./link.js";
import { envNumber, isMain, runSample } from "../sample-cli.js";

export interface SampleHubOptions {
  port?: number;
  host?: string;
  /** WebSocket ping period to find dead gateways. Default 25 s. */
  pingIntervalMs?: number;
  /** Largest frame accepted. Default 100 MiB (ws's). */
  maxPayload?: number;
  /** Share the chat history through this Redis (as the sample legacy chat does with the same URL); unset: in memory. */
  redisUrl?: string | undefined;
  redisKeyPrefix?: string | undefined;
  /**
   * Where the chat's rooms live (examples/hub/runtime.ts): "gateway" (default) sends join, leave and
   * broadcast frames, so rooms span gateway instances and, through the gateway's bridge, the legacy
   * servers; "hub" sends one event frame per member (hub protocol v1 without §2.6).
   */
  rooms?: RoomsAt | undefined;
  /** Select switchyard-hub.v2 (one link, many sessions) when a gateway offers it. Default true; false: a v1-only hub. */
  v2?: boolean | undefined;
}

function roomsAt(raw: string | undefined): RoomsAt | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "gateway" || raw === "hub") return raw;
  throw new Error(`HUB_ROOMS must be "gateway" or "hub", not ${JSON.stringify(raw)}`);
}

export interface SampleHub {
  /** ws://host:port/ — what HUB_URL should be. */
  readonly url: string;
  readonly port: number;
  readonly runtime: HubRuntime;
  readonly http: HttpServer;
  /** WebSockets open to this hub (v1 sessions and v2 links): what a gateway costs it in descriptors. */
  readonly connectionCount: number;
  /** Open v2 links. */
  readonly links: ReadonlySet<HubLinkConnection>;
  close(): Promise<void>;
}

/** Session ids are engine.io ids: base64url, 20 characters (accept a little more for other generators). */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

function refuse(socket: Duplex, status: number, text: string, detail: string): void {
  const body = JSON.stringify({ error: detail });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: ` +
      `application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
}

export async function startSampleHub(options: SampleHubOptions = {}): Promise<SampleHub> {
  const runtime = new HubRuntime(options.rooms ?? "gateway");
  const history = createChatHistory({ redisUrl: options.redisUrl, keyPrefix: options.redisKeyPrefix });
  attachChat(runtime, history);
  const speaksV2 = options.v2 ?? true;
  // Sockets that answered the last ping (handleUpgrade emits no "connection": each upgrade path tracks its socket).
  const answered = new WeakSet<WebSocket>();
  const track = (ws: WebSocket): void => {
    answered.add(ws);
    ws.on("pong", () => answered.add(ws));
  };
  const links = new Set<HubLinkConnection>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    ...(options.maxPayload !== undefined ? { maxPayload: options.maxPayload } : {}),
    // v2 when offered (and spoken), else v1: a gateway offering both gets a link.
    handleProtocols: (protocols) =>
      speaksV2 && protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false,
  });
  const http = createServer((req, res) => {
    if (req.method === "GET" && (req.url ?? "/").split("?")[0] === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, sessions: runtime.sessionCount }));
      return;
    }
    res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
    res.end(`this is a Switchyard hub: open a WebSocket with subprotocol ${SUBPROTOCOL}\n`);
  });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const offered = offeredProtocols(req);
    if (speaksV2 && offered.includes(SUBPROTOCOL_V2)) {
      // A link: its upgrade's session headers (if any) describe no session of it; sessions come in open frames.
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        track(ws);
        const link = new HubLinkConnection(runtime, ws);
        links.add(link);
        ws.once("close", () => links.delete(link));
      });
      return;
    }
    if (!offered.includes(SUBPROTOCOL)) return refuse(socket, 400, "Bad Request", `subprotocol ${SUBPROTOCOL} required`);
    const sessionId = req.headers[SESSION_HEADER];
    if (typeof sessionId !== "string" || !SESSION_ID.test(sessionId))
      return refuse(socket, 400, "Bad Request", `${SESSION_HEADER} missing or invalid`);
    const shadow = req.headers[SHADOW_HEADER] === "1";
    // Socket ids derive from the session id: two live sessions with one id would share sockets' rooms.
    if (runtime.hasSession(sessionId, shadow)) return refuse(socket, 409, "Conflict", `session ${sessionId} is already open`);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (runtime.hasSession(sessionId, shadow)) {
        ws.close(CLOSE.policy, "duplicate session");
        return;
      }
      track(ws);
      openSocketSession(runtime, ws, sessionId, shadow, req);
    });
  });
  // Pings every socket (v1 session or v2 link); one that did not answer the previous ping is terminated.
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!answered.delete(ws)) ws.terminate();
      else ws.ping();
    }
  }, options.pingIntervalMs ?? 25_000);
  pinger.unref();

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    port,
    runtime,
    http,
    get connectionCount() {
      return wss.clients.size;
    },
    links,
    close: () =>
      (closing ??= (async () => {
        clearInterval(pinger);
        // 1001 lets gateways tell their clients to reconnect; a gateway that does not answer is cut off.
        runtime.closeAll(CLOSE.goingAway, "hub shutting down");
        for (const link of links) link.ws.close(CLOSE.goingAway, "hub shutting down");
        const open = [...wss.clients].map((client) => new Promise<void>((done) => client.once("close", () => done())));
        await Promise.race([Promise.all(open), new Promise((done) => setTimeout(done, 1000).unref())]);
        for (const client of wss.clients) client.terminate();
        wss.close();
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await history.close();
      })()),
  };
}

if (isMain(import.meta.url)) {
  await runSample("sample hub listening", () =>
    startSampleHub({
      port: envNumber("PORT") ?? 4100,
      host: process.env.HOST ?? "127.0.0.1",
      pingIntervalMs: envNumber("PING_INTERVAL"),
      redisUrl: process.env.REDIS_URL,
      redisKeyPrefix: process.env.REDIS_KEY_PREFIX,
      rooms: roomsAt(process.env.HUB_ROOMS),
    }),
  );
}
