/**
 * A legacy socket.io 4 node on the official @socket.io/redis-adapter for the rooms tests, with the same
 * events as test/helpers/rooms-hub.ts (join, leave, say, say-others, say-all, say-except-room, say-bin,
 * echo, where), so a room can hold members of both backends. `io` is exposed for the tests' own legacy-side
 * calls (io.to(sid).emit, fetchSockets, serverSideEmitWithAck, socketsJoin, disconnectSockets...).
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

export interface RoomsLegacy {
  readonly url: string;
  readonly io: Server;
  close(): Promise<void>;
}

export interface RoomsLegacyOptions {
  /** A fixed port (a restarted node comes back where the gateways expect it); default: any free port. */
  readonly port?: number;
  readonly pingInterval?: number;
  readonly pingTimeout?: number;
}

export async function startRoomsLegacy(redisUrl: string, key: string, options: RoomsLegacyOptions = {}): Promise<RoomsLegacy> {
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  // An outage of Redis is a test's business: the errors are ioredis's reconnection attempts.
  pub.on("error", () => undefined);
  sub.on("error", () => undefined);
  const http: HttpServer = createServer();
  const io = new Server(http, {
    allowEIO3: true,
    adapter: createAdapter(pub, sub, { key, requestsTimeout: 3000 }),
    ...(options.pingInterval === undefined ? {} : { pingInterval: options.pingInterval }),
    ...(options.pingTimeout === undefined ? {} : { pingTimeout: options.pingTimeout }),
  });
  for (const name of ["/", "/other"]) {
    io.of(name).on("connection", (socket) => {
      const said = (body: unknown) => ({ from: socket.id, ...(body as object) });
      socket.on("join", (room: string, ack?: () => void) => {
        socket.join(room);
        ack?.();
      });
      socket.on("leave", (room: string, ack?: () => void) => {
        socket.leave(room);
        ack?.();
      });
      socket.on("say", (room: string, body: unknown) => io.of(name).to(room).emit("said", said(body)));
      socket.on("say-others", (room: string, body: unknown) => socket.broadcast.to(room).emit("said", said(body)));
      socket.on("say-all", (body: unknown) => io.of(name).emit("said", said(body)));
      socket.on("say-except-room", (room: string, except: string, body: unknown) =>
        io.of(name).to(room).except(except).emit("said", said(body)),
      );
      socket.on("say-bin", (room: string, meta: unknown, bytes: Buffer) => io.of(name).to(room).emit("bin", said(meta), bytes));
      socket.on("where", (ack: (backend: string) => void) => ack("legacy"));
      socket.on("echo", (...args: unknown[]) => {
        const ack = args.pop() as (...reply: unknown[]) => void;
        ack(...args);
      });
    });
  }
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    io,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      // The adapter's close() unsubscribes without awaiting: QUIT lets those replies arrive first, so that
      // closing the connection rejects none of its commands (they would be unhandled rejections).
      const quitting = Promise.all([pub.quit(), sub.quit()]).catch(() => undefined);
      await Promise.race([quitting, new Promise((resolve) => setTimeout(resolve, 1000))]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}
