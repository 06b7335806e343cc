/**
 * The sample legacy application: a small socket.io v4 chat server. It is the "legacy" backend that
 * Switchyard fronts out of the box, and the reference the compat suite records. Its behaviour is the
 * contract in docs/sample-chat.md; the sample hub implements the same contract.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server, type Socket } from "socket.io";
import { ackHistory, createChatHistory, type ChatHistory, type ChatMessage } from "../chat-history.js";
import { projectRoot } from "../project-root.js";
import { envNumber, isMain, runSample } from "../sample-cli.js";

export interface LegacyChatOptions {
  port?: number;
  host?: string;
  pingInterval?: number;
  pingTimeout?: number;
  maxHttpBufferSize?: number;
  /**
   * Share the chat history through this Redis (as the sample hub does with the same URL), and the rooms
   * through @socket.io/redis-adapter, as a socket.io deployment of several nodes does; unset: both in memory.
   */
  redisUrl?: string | undefined;
  redisKeyPrefix?: string | undefined;
  /** The adapter's `key` (its channel prefix): the gateway's ADAPTER_KEY. Default "socket.io" (the adapter's). */
  adapterKey?: string | undefined;
}

export interface LegacyChat {
  readonly url: string;
  readonly port: number;
  readonly io: Server;
  readonly http: HttpServer;
  close(): Promise<void>;
}

type Ack = (...args: unknown[]) => void;

/** Engine.IO parameters are transport plumbing, not application data: they are left out of `query`. */
const ENGINE_PARAMS = new Set(["EIO", "transport", "t", "sid", "b64", "j"]);
const PAGE_PATH = join(projectRoot(import.meta.url), "examples", "public", "index.html");

function ackOf(args: unknown[]): Ack | undefined {
  const last = args[args.length - 1];
  return typeof last === "function" ? (last as Ack) : undefined;
}

function appQuery(socket: Socket): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(socket.handshake.query)) {
    if (!ENGINE_PARAMS.has(key) && typeof value === "string") query[key] = value;
  }
  return query;
}

function stringField(source: unknown, key: string): string | undefined {
  if (source === null || typeof source !== "object") return undefined;
  const value = (source as Record<string, unknown>)[key];
  return typeof value === "string" ? value : undefined;
}

function authError(message: string, data: unknown): Error {
  return Object.assign(new Error(message), { data });
}

function attachMainNamespace(io: Server, history: ChatHistory): void {
  io.use((socket, next) => {
    const token = stringField(socket.handshake.auth, "token") ?? stringField(socket.handshake.query, "token");
    if (token === "reject") return next(authError("not authorized", { code: "E_AUTH", reason: "token rejected" }));
    socket.data.name = stringField(socket.handshake.auth, "name") ?? stringField(socket.handshake.query, "name") ?? "anon";
    next();
  });

  io.on("connection", (socket) => {
    const name: string = socket.data.name;
    const identity = () => ({ id: socket.id, name, auth: socket.handshake.auth ?? {}, query: appQuery(socket) });
    socket.emit("welcome", { ...identity(), ts: Date.now() });

    socket.on("join", (room: unknown, ...rest: unknown[]) => {
      const ack = ackOf([room, ...rest]);
      if (typeof room !== "string") return ack?.({ ok: false, error: "E_ROOM" });
      void socket.join(room);
      ack?.({ room, members: io.sockets.adapter.rooms.get(room)?.size ?? 0 });
      socket.to(room).emit("joined", { room, name, id: socket.id });
    });

    socket.on("leave", (room: unknown, ...rest: unknown[]) => {
      const ack = ackOf([room, ...rest]);
      if (typeof room !== "string") return ack?.({ ok: false, error: "E_ROOM" });
      void socket.leave(room);
      ack?.({ room });
      socket.to(room).emit("left", { room, name, id: socket.id });
    });

    socket.on("msg", (body: unknown, ...rest: unknown[]) => {
      const ack = ackOf([body, ...rest]);
      const room = stringField(body, "room");
      const text = stringField(body, "text");
      if (room === undefined || text === undefined) return ack?.({ ok: false, error: "E_TEXT" });
      const message: ChatMessage = { room, text, from: name, id: socket.id, ts: Date.now() };
      history.append(message);
      io.to(room).emit("msg", message);
      ack?.({ ok: true, ts: message.ts });
    });

    socket.on("typing", (body: unknown) => {
      const room = stringField(body, "room");
      if (room === undefined) return;
      const typing = Boolean((body as { typing?: unknown }).typing);
      socket.to(room).emit("typing", { room, from: name, typing });
    });

    socket.on("history", (room: unknown, ack: unknown) => {
      if (typeof ack === "function") ackHistory(history, room, ack as Ack);
    });

    socket.on("whoami", (ack: unknown) => {
      if (typeof ack === "function") (ack as Ack)(identity());
    });

    // The one answer that differs between the two samples, by design: which backend serves this socket.
    socket.on("backend", (ack: unknown) => {
      if (typeof ack === "function") (ack as Ack)({ backend: "legacy" });
    });

    socket.on("echo", (...args: unknown[]) => {
      const ack = ackOf(args);
      if (ack) ack(...args.slice(0, -1));
    });

    socket.on("upload", (meta: unknown, bytes: unknown, ...rest: unknown[]) => {
      const ack = ackOf([meta, bytes, ...rest]);
      if (!Buffer.isBuffer(bytes)) return ack?.({ ok: false, error: "E_BYTES" });
      const fileName = stringField(meta, "name") ?? "file";
      const sha1 = createHash("sha1").update(bytes).digest("hex");
      ack?.({ name: fileName, size: bytes.length, sha1 });
      socket.emit("uploaded", { name: fileName, size: bytes.length }, bytes);
    });

    socket.on("ask", (question: unknown, ...rest: unknown[]) => {
      const ack = ackOf([question, ...rest]);
      socket.emit("question", question, (answer: unknown) => {
        socket.emit("answer", { question, answer });
        ack?.({ ok: true });
      });
    });

    socket.on("kick", () => {
      socket.emit("bye", { reason: "kicked" });
      socket.disconnect(true);
    });
  });
}

function attachAdminNamespace(io: Server): void {
  const admin = io.of("/admin");
  admin.use((socket, next) => {
    const role = stringField(socket.handshake.auth, "role") ?? stringField(socket.handshake.query, "role");
    if (role !== "admin") return next(authError("forbidden", { code: "E_ROLE" }));
    socket.data.role = role;
    next();
  });
  admin.on("connection", (socket) => {
    socket.emit("welcome", { nsp: "/admin", id: socket.id });
    socket.on("whoami", (ack: unknown) => {
      if (typeof ack === "function") (ack as Ack)({ nsp: "/admin", id: socket.id, role: socket.data.role });
    });
  });
}

/**
 * The adapter's close() unsubscribes without waiting for the replies: QUIT lets them arrive first, so that
 * closing the connections rejects none of its commands (they would be unhandled rejections).
 */
async function closeRedis(...clients: (Redis | undefined)[]): Promise<void> {
  const open = clients.filter((client): client is Redis => client !== undefined);
  const quitting = Promise.all(open.map((client) => client.quit())).catch(() => undefined);
  await Promise.race([quitting, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  for (const client of open) client.disconnect();
}

export async function startLegacyChat(options: LegacyChatOptions = {}): Promise<LegacyChat> {
  const page = await readFile(PAGE_PATH);
  const http = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && (path === "/" || path === "/index.html")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length });
      res.end(page);
      return;
    }
    if (req.method === "GET" && path === "/api/echo-headers") {
      // A tiny REST endpoint so the strangler pass-through has something besides Socket.IO to reach.
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  // The rooms across backends need only this on the legacy side (README "Rooms across backends"): with it, the
  // gateway's hub sessions are members of this server's rooms, and its io.to(room).emit() reaches them.
  const redis = options.redisUrl === undefined ? undefined : new Redis(options.redisUrl);
  const sub = redis?.duplicate();
  // ioredis reconnects by itself; without a listener each failed attempt would print a stack trace.
  for (const client of [redis, sub]) client?.on("error", () => undefined);
  const io = new Server(http, {
    allowEIO3: true,
    ...(redis !== undefined && sub !== undefined ? { adapter: createAdapter(redis, sub, { key: options.adapterKey ?? "socket.io" }) } : {}),
    ...(options.pingInterval !== undefined ? { pingInterval: options.pingInterval } : {}),
    ...(options.pingTimeout !== undefined ? { pingTimeout: options.pingTimeout } : {}),
    ...(options.maxHttpBufferSize !== undefined ? { maxHttpBufferSize: options.maxHttpBufferSize } : {}),
  });
  const history = createChatHistory({ redisUrl: options.redisUrl, keyPrefix: options.redisKeyPrefix });
  attachMainNamespace(io, history);
  attachAdminNamespace(io);
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    io,
    http,
    close: () =>
      new Promise<void>((resolve) => {
        io.close(() => resolve());
        http.closeAllConnections();
      })
        .then(() => closeRedis(redis, sub))
        .then(() => history.close()),
  };
}

if (isMain(import.meta.url)) {
  await runSample("legacy chat listening", () =>
    startLegacyChat({
      port: envNumber("PORT") ?? 4000,
      host: process.env.HOST ?? "127.0.0.1",
      pingInterval: envNumber("PING_INTERVAL"),
      pingTimeout: envNumber("PING_TIMEOUT"),
      maxHttpBufferSize: envNumber("MAX_HTTP_BUFFER_SIZE"),
      redisUrl: process.env.REDIS_URL,
      redisKeyPrefix: process.env.REDIS_KEY_PREFIX,
      adapterKey: process.env.ADAPTER_KEY,
    }),
  );
}
