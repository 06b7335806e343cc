/**
 * A recording proxy between one Socket.IO client and a server (the legacy server, or the gateway in front
 * of it). HTTP long-polling requests are forwarded one to one (bodies buffered, so each body is recorded
 * whole); WebSockets are terminated on both sides with `ws` and frames forwarded one to one, text as text
 * and binary as binary. Everything is recorded per Engine.IO session as the decoded packets that crossed
 * the wire in each direction, plus the non-200 HTTP answers. The tap never changes what it forwards.
 */
import { createHash } from "node:crypto";
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";
import { decodePollingBody, decodeWebSocketFrame, revisionOfUrl, type EngineIoRevision, type WirePacket } from "./compat-wire-decode.js";

export type TapTransport = "polling" | "websocket";
export type TapDirection = "c2s" | "s2c";

export interface TapPacket {
  /** Tap-wide order of recording. */
  readonly seq: number;
  readonly transport: TapTransport;
  readonly packet: WirePacket;
}

export interface TapHttpError {
  readonly seq: number;
  readonly transport: TapTransport;
  readonly method: string;
  readonly status: number;
  readonly body: string;
}

/** One Engine.IO session as the tap saw it (or one request carrying a sid the tap never saw opened). */
export interface TapSession {
  readonly index: number;
  readonly revision: EngineIoRevision;
  sid: string | undefined;
  readonly c2s: TapPacket[];
  readonly s2c: TapPacket[];
  readonly httpErrors: TapHttpError[];
  /** seq of the first WebSocket close the tap saw on this session, if any. */
  wsClosedAt: number | undefined;
}

export interface WireTap {
  /** http://127.0.0.1:port: give it to the client instead of the server's URL. */
  readonly url: string;
  readonly sessions: readonly TapSession[];
  /** Resolves once nothing has been in flight for `quietMs` (or after `timeoutMs`: then false). */
  whenIdle(quietMs?: number, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const SID_IN_OPEN = /^0\{.*?"sid":"([^"]+)"/s;
/** Hop-by-hop headers are the tap's own business on each side. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "upgrade", "proxy-connection", "transfer-encoding", "te", "trailer", "host"]);

function forwardedHeaders(headers: IncomingHttpHeaders, host: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { host };
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !name.startsWith("sec-websocket-")) out[name] = value;
  }
  return out;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
    stream.once("aborted", () => reject(new Error("aborted")));
  });
}

export function sha1Hex(data: Buffer | string): string {
  return createHash("sha1").update(data).digest("hex");
}

export async function startWireTap(targetBaseUrl: string): Promise<WireTap> {
  const target = new URL(targetBaseUrl);
  const agent = new Agent({ keepAlive: true });
  const sessions: TapSession[] = [];
  const bySid = new Map<string, TapSession>();
  const upgraded = new Set<Duplex>();
  const pairs = new Set<WebSocket>();
  let seq = 0;
  let inFlight = 0;
  let lastActivity = Date.now();
  const busy = () => {
    inFlight++;
    lastActivity = Date.now();
  };
  const done = () => {
    inFlight--;
    lastActivity = Date.now();
  };

  function newSession(revision: EngineIoRevision, sid: string | undefined): TapSession {
    const session: TapSession = { index: sessions.length, revision, sid, c2s: [], s2c: [], httpErrors: [], wsClosedAt: undefined };
    sessions.push(session);
    if (sid !== undefined) bySid.set(sid, session);
    return session;
  }

  function sessionFor(url: string | undefined): TapSession {
    const revision = revisionOfUrl(url);
    const sid = new URL(url ?? "/", "http://tap.invalid").searchParams.get("sid") ?? undefined;
    if (sid === undefined) return newSession(revision, undefined);
    return bySid.get(sid) ?? newSession(revision, sid);
  }

  function record(session: TapSession, direction: TapDirection, transport: TapTransport, packets: WirePacket[]): void {
    for (const packet of packets) {
      session[direction].push({ seq: ++seq, transport, packet });
      if (direction === "s2c" && session.sid === undefined && typeof packet === "string") {
        const sid = SID_IN_OPEN.exec(packet)?.[1];
        if (sid !== undefined) {
          session.sid = sid;
          bySid.set(sid, session);
        }
      }
    }
  }

  function recordUndecodable(session: TapSession, direction: TapDirection, transport: TapTransport, error: unknown): void {
    // Garbage on the wire is a finding, not a tap crash: it shows up in the transcript.
    session[direction].push({ seq: ++seq, transport, packet: `<undecodable: ${(error as Error).message}>` });
  }

  async function onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    busy();
    try {
      const session = sessionFor(req.url);
      const method = req.method ?? "GET";
      const body = await readBody(req);
      if (method === "POST" && body.length > 0) {
        try {
          record(session, "c2s", "polling", decodePollingBody(session.revision, body, req.headers["content-type"]));
        } catch (error) {
          recordUndecodable(session, "c2s", "polling", error);
        }
      }
      const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
        const out = request(
          { host: target.hostname, port: target.port, method, path: req.url, agent, headers: forwardedHeaders(req.headers, target.host) },
          resolve,
        );
        out.once("error", reject);
        // A client giving up on a poll (it closed) ends the forwarded request too.
        res.once("close", () => {
          if (!res.writableFinished) out.destroy();
        });
        out.end(body);
      });
      const answer = await readBody(upstream);
      const status = upstream.statusCode ?? 0;
      if (status !== 200) {
        session.httpErrors.push({ seq: ++seq, transport: "polling", method, status, body: answer.toString("utf8") });
      } else if (method === "GET") {
        try {
          record(session, "s2c", "polling", decodePollingBody(session.revision, answer, upstream.headers["content-type"]));
        } catch (error) {
          recordUndecodable(session, "s2c", "polling", error);
        }
      }
      if (res.destroyed) return;
      const headers = forwardedHeaders(upstream.headers, "");
      delete headers.host;
      headers["content-length"] = String(answer.length);
      res.writeHead(status, upstream.statusMessage, headers);
      res.end(answer);
    } catch {
      if (!res.headersSent && !res.destroyed) res.writeHead(502).end();
      else res.destroy();
    } finally {
      done();
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    busy();
    upgraded.add(socket);
    socket.on("error", () => socket.destroy());
    const session = sessionFor(req.url);
    const wsUrl = `ws://${target.host}${req.url ?? "/"}`;
    const upstream = new WebSocket(wsUrl, {
      headers: forwardedHeaders(req.headers, target.host) as Record<string, string>,
      perMessageDeflate: false,
    });
    pairs.add(upstream);
    let client: WebSocket | undefined;
    let finished = false;
    const early: [Buffer, boolean][] = [];
    const finish = () => {
      if (finished) return;
      finished = true;
      upgraded.delete(socket);
      done();
    };
    const noteClose = () => {
      if (session.wsClosedAt === undefined) session.wsClosedAt = ++seq;
    };
    upstream.on("message", (data: Buffer, isBinary: boolean) => {
      try {
        record(session, "s2c", "websocket", [decodeWebSocketFrame(session.revision, data, isBinary)]);
      } catch (error) {
        recordUndecodable(session, "s2c", "websocket", error);
      }
      if (client === undefined) early.push([data, isBinary]);
      else if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
    upstream.once("unexpected-response", (_req, response: IncomingMessage) => {
      void readBody(response).then(
        (answer) => {
          const status = response.statusCode ?? 0;
          session.httpErrors.push({ seq: ++seq, transport: "websocket", method: "GET", status, body: answer.toString("utf8") });
          const headerLines = Object.entries(forwardedHeaders(response.headers, "")).filter(
            ([name]) => name !== "host" && name !== "content-length",
          );
          const lines = [`HTTP/1.1 ${status} ${response.statusMessage ?? ""}`, ...headerLines.map(([n, v]) => `${n}: ${String(v)}`)];
          lines.push(`content-length: ${answer.length}`, "connection: close");
          socket.end(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), answer]));
          finish();
        },
        () => {
          socket.destroy();
          finish();
        },
      );
    });
    upstream.once("error", () => {
      if (client === undefined) socket.destroy();
      else client.terminate();
      finish();
    });
    upstream.once("close", (code: number, reason: Buffer) => {
      noteClose();
      pairs.delete(upstream);
      if (client !== undefined && client.readyState === WebSocket.OPEN) {
        if (code === 1005 || code === 1006) client.close();
        else client.close(code, reason);
      }
      if (client === undefined) socket.destroy();
      finish();
    });
    upstream.once("open", () => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        client = ws;
        pairs.add(ws);
        for (const [data, isBinary] of early.splice(0)) ws.send(data, { binary: isBinary });
        ws.on("message", (data: Buffer, isBinary: boolean) => {
          try {
            record(session, "c2s", "websocket", [decodeWebSocketFrame(session.revision, data, isBinary)]);
          } catch (error) {
            recordUndecodable(session, "c2s", "websocket", error);
          }
          if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
        });
        ws.on("error", () => ws.terminate());
        ws.once("close", (code: number, reason: Buffer) => {
          noteClose();
          pairs.delete(ws);
          if (upstream.readyState === WebSocket.OPEN) {
            if (code === 1005 || code === 1006) upstream.close();
            else upstream.close(code, reason);
          } else if (upstream.readyState === WebSocket.CONNECTING) {
            upstream.terminate();
          }
        });
      });
    });
  }

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  const server: Server = createServer((req, res) => void onHttp(req, res));
  server.on("upgrade", onUpgrade);
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    sessions,
    async whenIdle(quietMs = 40, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      // Consecutive idle checks, each a full event-loop turn apart: after the loop was blocked (a busy
      // machine), wall-clock quiet alone could pass before pending socket reads were even processed.
      let idleTurns = 0;
      for (;;) {
        idleTurns = inFlight === 0 ? idleTurns + 1 : 0;
        if (idleTurns >= 4 && Date.now() - lastActivity >= quietMs) return true;
        if (Date.now() >= deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      for (const ws of pairs) ws.terminate();
      for (const socket of upgraded) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}
