/**
 * The sample chat application (docs/sample-chat.md) on the hub runtime: the same events, payloads, acks
 * and errors as examples/legacy-chat/server.ts, so that a client cannot tell the two apart. Shadow
 * sessions see only each other (their runtime world) and their messages never enter the history.
 */
import { createHash } from "node:crypto";
import { ackHistory, type ChatHistory, type ChatMessage } from "../chat-history.js";
import type { Ack, HubRuntime, HubSocket } from "./runtime.js";

function ackOf(args: unknown[]): Ack | undefined {
  const last = args[args.length - 1];
  return typeof last === "function" ? (last as Ack) : undefined;
}

function stringField(source: unknown, key: string): string | undefined {
  if (source === null || typeof source !== "object") return undefined;
  const value = (source as Record<string, unknown>)[key];
  return typeof value === "string" ? value : undefined;
}

/** The handshake query as socket.io's `handshake.query` minus Engine.IO's parameters (the gateway removed them). */
function appQuery(socket: HubSocket): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(socket.query)) if (typeof value === "string") query[key] = value;
  return query;
}

function attachMainNamespace(runtime: HubRuntime, history: ChatHistory): void {
  runtime.of("/", {
    authorize: (socket) => {
      const token = stringField(socket.auth, "token") ?? stringField(socket.query, "token");
      if (token === "reject") return { message: "not authorized", data: { code: "E_AUTH", reason: "token rejected" } };
      socket.data.name = stringField(socket.auth, "name") ?? stringField(socket.query, "name") ?? "anon";
      return undefined;
    },
    connection: (socket) => {
      const name = socket.data.name as string;
      const identity = () => ({ id: socket.id, name, auth: socket.auth, query: appQuery(socket) });
      socket.emit("welcome", { ...identity(), ts: Date.now() });

      socket.on("join", (room: unknown, ...rest: unknown[]) => {
        const ack = ackOf([room, ...rest]);
        if (typeof room !== "string") return ack?.({ ok: false, error: "E_ROOM" });
        socket.join(room);
        ack?.({ room, members: socket.members(room).size });
        socket.broadcast(room, false, "joined", { room, name, id: socket.id });
      });

      socket.on("leave", (room: unknown, ...rest: unknown[]) => {
        const ack = ackOf([room, ...rest]);
        if (typeof room !== "string") return ack?.({ ok: false, error: "E_ROOM" });
        socket.leave(room);
        ack?.({ room });
        socket.broadcast(room, false, "left", { room, name, id: socket.id });
      });

      socket.on("msg", (body: unknown, ...rest: unknown[]) => {
        const ack = ackOf([body, ...rest]);
        const room = stringField(body, "room");
        const text = stringField(body, "text");
        if (room === undefined || text === undefined) return ack?.({ ok: false, error: "E_TEXT" });
        const message: ChatMessage = { room, text, from: name, id: socket.id, ts: Date.now() };
        // A shadow session mirrors a real user: what it says must never become anyone's history.
        if (!socket.shadow) history.append(message);
        socket.broadcast(room, true, "msg", message);
        ack?.({ ok: true, ts: message.ts });
      });

      socket.on("typing", (body: unknown) => {
        const room = stringField(body, "room");
        if (room === undefined) return;
        const typing = Boolean((body as { typing?: unknown }).typing);
        socket.broadcast(room, false, "typing", { room, from: name, typing });
      });

      socket.on("history", (room: unknown, ack: unknown) => {
        if (typeof ack === "function") ackHistory(history, room, ack as Ack);
      });

      socket.on("whoami", (ack: unknown) => {
        if (typeof ack === "function") (ack as Ack)(identity());
      });

      // The one answer that differs between the two samples, by design: which backend serves this socket.
      socket.on("backend", (ack: unknown) => {
        if (typeof ack === "function") (ack as Ack)({ backend: "hub" });
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
    },
  });
}

function attachAdminNamespace(runtime: HubRuntime): void {
  runtime.of("/admin", {
    authorize: (socket) => {
      const role = stringField(socket.auth, "role") ?? stringField(socket.query, "role");
      if (role !== "admin") return { message: "forbidden", data: { code: "E_ROLE" } };
      socket.data.role = role;
      return undefined;
    },
    connection: (socket) => {
      socket.emit("welcome", { nsp: "/admin", id: socket.id });
      socket.on("whoami", (ack: unknown) => {
        if (typeof ack === "function") (ack as Ack)({ nsp: "/admin", id: socket.id, role: socket.data.role });
      });
    },
  });
}

export function attachChat(runtime: HubRuntime, history: ChatHistory): void {
  attachMainNamespace(runtime, history);
  attachAdminNamespace(runtime);
}
