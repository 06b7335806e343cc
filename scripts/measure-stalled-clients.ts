/**
 * How much memory a client that stops reading costs the gateway (docs/operating.md, "Operating limits").
 * The gateway runs in a child process of its own (so that only its memory is measured), in front of a
 * socket.io server in this process that floods each client as fast as the gateway takes it; N raw WebSocket
 * clients connect, stop reading, and ask for BYTES each. The child's heap and buffers are sampled every ~10 ms.
 *
 *   node --import tsx scripts/measure-stalled-clients.ts [--clients 20] [--bytes 33554432] [--limit 8388608]
 *
 * Prints the gateway's memory before (after GC), its peak while the clients are stalled, per stalled client,
 * how the sessions ended, and its memory after (after GC). Not part of the test suite (it moves N × BYTES).
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import WebSocket from "ws";

type Memory = { heapUsed: number; external: number; arrayBuffers: number; rss: number };
type FromChild = { url: string } | { memory: Memory } | { closed: Record<string, number> };

const KIB = 1024;

async function gatewayChild(): Promise<void> {
  const { loadStaticConfig } = await import("../src/config/static-config.js");
  const { startSwitchyard } = await import("../src/switchyard.js");
  const { subscribe } = await import("../src/telemetry/events.js");
  const closed: Record<string, number> = {};
  subscribe("switchyard:session:closed", (e) => {
    const why = e.code ?? e.reason;
    closed[why] = (closed[why] ?? 0) + 1;
  });
  const config = loadStaticConfig({ ...process.env, PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" });
  const switchyard = await startSwitchyard({ config, legacyUrl: process.env.LEGACY_URL! });
  process.send!({ url: switchyard.url });
  process.on("message", (message: string) => {
    if (message === "gc") (globalThis as { gc?: () => void }).gc?.();
    if (message === "memory" || message === "gc") process.send!({ memory: process.memoryUsage() });
    if (message === "closed") process.send!({ closed });
    if (message === "exit") void switchyard.close().then(() => process.exit(0));
  });
}

function ask(child: ChildProcess, message: string): Promise<FromChild> {
  const answer = once(child, "message") as Promise<[FromChild]>;
  child.send(message);
  return answer.then(([reply]) => reply);
}

async function rawClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0")) ws.send("40");
      else if (text.startsWith("40")) resolve();
    });
    ws.once("error", reject);
  });
  return ws;
}

const held = (m: Memory) => m.heapUsed + m.external;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { clients: { type: "string" }, bytes: { type: "string" }, limit: { type: "string" } } });
  const clients = Number(values.clients ?? 20);
  const bytes = Number(values.bytes ?? 32 * KIB * KIB);
  const limit = Number(values.limit ?? 8 * KIB * KIB);
  const http = createServer();
  const io = new Server(http, { maxHttpBufferSize: 1e6 });
  io.on("connection", (socket) => {
    socket.on("flood", (total: number) => {
      const chunk = "x".repeat(64 * KIB);
      let sent = 0;
      const next = () => {
        if (!socket.connected || sent >= total) return;
        socket.emit("chunk", chunk);
        sent += chunk.length;
        setImmediate(next);
      };
      next();
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const legacyUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const child = fork(new URL(import.meta.url).pathname, ["--child"], {
    execArgv: ["--import", "tsx", "--expose-gc"],
    env: { ...process.env, LEGACY_URL: legacyUrl, CLIENT_BUFFER_LIMIT_BYTES: String(limit), LEGACY_MODE: "terminate" },
  });
  process.on("exit", () => child.kill());
  const { url } = (await once(child, "message"))[0] as { url: string };
  console.error(`gateway at ${url}`);
  const sockets = await Promise.all(Array.from({ length: clients }, () => rawClient(url)));
  const before = ((await ask(child, "gc")) as { memory: Memory }).memory;
  let peak = before;
  for (const ws of sockets) {
    (ws as unknown as { _socket: Socket })._socket.pause();
    ws.send(`42${JSON.stringify(["flood", bytes])}`);
  }
  const deadline = Date.now() + 60_000;
  let closed: Record<string, number> = {};
  // One question at a time: the answers come back on one channel, in order.
  while (Date.now() < deadline) {
    const { memory } = (await ask(child, "memory")) as { memory: Memory };
    if (held(memory) > held(peak)) peak = memory;
    closed = ((await ask(child, "closed")) as { closed: Record<string, number> }).closed;
    if (Object.values(closed).reduce((a, b) => a + b, 0) >= clients) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Closed sockets finish closing (the backend side too) before memory is read again.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await ask(child, "gc");
  const afterGc = ((await ask(child, "gc")) as { memory: Memory }).memory;
  const mib = (n: number) => `${(n / KIB / KIB).toFixed(1)} MiB`;
  console.log(`${clients} stalled clients, ${mib(bytes)} asked each, CLIENT_BUFFER_LIMIT_BYTES ${mib(limit)}`);
  console.log(`gateway heap+external: before ${mib(held(before))}, peak ${mib(held(peak))}, after (GC) ${mib(held(afterGc))}`);
  console.log(`peak per stalled client: ${Math.round((held(peak) - held(before)) / clients / KIB)} KiB`);
  console.log(`sessions closed: ${JSON.stringify(closed)}`);
  for (const ws of sockets) ws.terminate();
  child.send("exit");
  io.close();
  http.close();
}

if (process.argv.includes("--child")) void gatewayChild();
else await main();
