/**
 * One backend of the load deployment as a process of its own, so that a fault test can kill it with
 * SIGKILL (what a crashed or OOM-killed backend does to its connections) and start it again on the same
 * port. KIND=legacy: the rooms legacy node (socket.io 4 on the Redis adapter); KIND=hub: the rooms hub.
 * Prints one JSON line {"msg":"backend listening","url":…} when it accepts connections.
 */
import { startRoomsHub } from "../rooms-hub.js";
import { startRoomsLegacy } from "../rooms-legacy.js";

// A long Redis outage makes the legacy node's Redis adapter reject its publishes (ioredis gives up on a command
// after maxRetriesPerRequest reconnection attempts, ~10 s); the adapter does not catch those rejections. A
// server would log them and go on: so does this one, instead of dying of an unhandled rejection.
process.on("unhandledRejection", (error) => console.error(`backend ${process.env.KIND}: unhandled rejection: ${String(error)}`));

const env = process.env;
const port = Number(env.PORT);
const optional = (name: string) => (env[name] === undefined ? undefined : Number(env[name]));

if (env.KIND === "hub") {
  const hub = await startRoomsHub({ port });
  console.log(JSON.stringify({ msg: "backend listening", url: hub.url }));
} else {
  const legacy = await startRoomsLegacy(env.REDIS_URL!, env.ADAPTER_KEY!, {
    port,
    pingInterval: optional("PING_INTERVAL"),
    pingTimeout: optional("PING_TIMEOUT"),
  });
  console.log(JSON.stringify({ msg: "backend listening", url: legacy.url }));
}
