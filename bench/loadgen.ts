/**
 * A load-generator process (forked by run.ts): opens its share of the socket.io 4 clients, ramped, each
 * joining its room; then sends `msg` on an evenly spread schedule with the send time in the payload, and
 * records the delivery latency of every `msg` it receives. Driven entirely by IPC (bench/ipc.ts).
 */
import { performance } from "node:perf_hooks";
import { io, type Socket } from "sio-client-4";
import type { ClientSpec, ConnectCommand, LoadgenMessage, OrchestratorMessage, SendCommand } from "./ipc.js";

interface BenchClient {
  readonly spec: ClientSpec;
  readonly socket: Socket;
  joined: boolean;
}

/** A growable Float64Array: hundreds of thousands of samples without boxing each number. */
class Samples {
  private data = new Float64Array(1 << 14);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  toArray(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

const PROGRESS_INTERVAL_MS = 500;
const RAMP_TICK_MS = 10;

let clockOffset = 0;
const clock = (): number => performance.timeOrigin + performance.now() + clockOffset;

const clients: BenchClient[] = [];
const latencies = new Samples();
/** The send time of each latency sample (ms after the window start), for the latency-over-time slices. */
const sendOffsets = new Samples();
const sendLags = new Samples();
const handshakes = new Samples();
let retries = 0;
let gaveUp = 0;
const sentInWindowByRoom: Record<string, number> = {};
const disconnects: Record<string, number> = {};
const errors: Record<string, number> = {};
let receivedTotal = 0;
let sentTotal = 0;
let measured = { start: Infinity, end: -Infinity };
let closing = false;
let sendTimer: NodeJS.Timeout | undefined;
let elu = 0;

function post(message: LoadgenMessage): void {
  process.send?.(message);
}

function count(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

function onMessage(body: unknown): void {
  const now = clock();
  receivedTotal++;
  const text = (body as { text?: unknown } | null)?.text;
  if (typeof text !== "string") return;
  // The text starts with the send time; parseFloat stops at the padding.
  const sentAt = parseFloat(text);
  if (sentAt >= measured.start && sentAt < measured.end) {
    latencies.push(now - sentAt);
    sendOffsets.push(sentAt - measured.start);
  }
}

function openClient(spec: ClientSpec, command: ConnectCommand, settled: (outcome: "joined" | "failed") => void): void {
  const retrying = command.reconnectionAttempts > 0;
  const socket = io(command.url, {
    transports: spec.polling ? ["polling"] : ["websocket"],
    forceNew: true,
    reconnection: retrying,
    reconnectionAttempts: command.reconnectionAttempts,
    timeout: command.connectTimeoutMs,
    query: { name: `bench-${spec.index}` },
  });
  const startedAt = performance.now();
  const client: BenchClient = { spec, socket, joined: false };
  clients.push(client);
  let done = false;
  const finish = (outcome: "joined" | "failed", error?: string) => {
    if (done) return;
    done = true;
    if (error !== undefined) count(errors, error);
    settled(outcome);
  };
  socket.once("connect", () => {
    handshakes.push(performance.now() - startedAt);
    socket.timeout(command.connectTimeoutMs).emit("join", spec.room, (error: Error | null) => {
      if (error) return finish("failed", "join not acknowledged in time");
      client.joined = true;
      finish("joined");
    });
  });
  if (retrying) {
    socket.on("connect_error", () => retries++);
    socket.io.once("reconnect_failed", () => {
      gaveUp++;
      finish("failed", `gave up after ${command.reconnectionAttempts} reconnection attempts`);
      socket.close();
    });
  } else {
    socket.once("connect_error", (error: Error) => {
      finish("failed", `connect_error: ${error.message}`);
      socket.close();
    });
  }
  socket.on("disconnect", (reason: string) => {
    if (!closing) count(disconnects, reason);
    finish("failed", `disconnected before joining: ${reason}`);
  });
  socket.on("msg", onMessage);
}

function connectAll(command: ConnectCommand): void {
  const specs = command.clients;
  const joinedByRoom: Record<string, number> = {};
  let launched = 0;
  let inFlight = 0;
  let joined = 0;
  let failed = 0;
  const startedAt = performance.now();
  const progress = (done: boolean) =>
    post({
      type: "connect-progress",
      done,
      launched,
      connected: clients.filter((c) => c.socket.connected).length,
      joined,
      failed,
      joinedByRoom: done ? joinedByRoom : {},
      ...(done ? { handshakeMs: handshakes.toArray(), retries, gaveUp } : {}),
    });
  const settled = (spec: ClientSpec) => (outcome: "joined" | "failed") => {
    inFlight--;
    if (outcome === "joined") {
      joined++;
      joinedByRoom[spec.room] = (joinedByRoom[spec.room] ?? 0) + 1;
    } else {
      failed++;
    }
    if (launched === specs.length && inFlight === 0) finished();
  };
  const ramp = setInterval(() => {
    const due = Math.min(specs.length, Math.floor(((performance.now() - startedAt) / 1000) * command.ratePerSec) + 1);
    while (launched < due && inFlight < command.maxInFlight) {
      const spec = specs[launched++]!;
      inFlight++;
      openClient(spec, command, settled(spec));
    }
    if (launched === specs.length) clearInterval(ramp);
  }, RAMP_TICK_MS);
  const reporter = setInterval(() => progress(false), PROGRESS_INTERVAL_MS);
  const finished = () => {
    clearInterval(ramp);
    clearInterval(reporter);
    progress(true);
  };
  if (specs.length === 0) finished();
}

/**
 * Every client sends once per interval, client i at phase i / totalClients of it: with the phases sorted
 * the clients fire in a fixed cyclic order, so one pointer and one timer drive them all.
 */
function startSending(command: SendCommand): void {
  measured = { start: command.windowStart, end: command.windowEnd };
  const order = [...clients].sort((a, b) => a.spec.index - b.spec.index);
  if (order.length === 0) return;
  const nextAt = order.map((c) => command.startAt + (c.spec.index / command.totalClients) * command.intervalMs);
  const padding = "x".repeat(Math.max(0, command.payloadBytes - 18));
  let pointer = 0;
  const tick = () => {
    let now = clock();
    while (nextAt[pointer]! <= now) {
      const client = order[pointer]!;
      const scheduled = nextAt[pointer]!;
      nextAt[pointer] = scheduled + command.intervalMs;
      pointer = (pointer + 1) % order.length;
      if (!client.joined || !client.socket.connected) continue;
      client.socket.emit("msg", { room: client.spec.room, text: `${now.toFixed(3)} ${padding}` });
      sentTotal++;
      if (now >= measured.start && now < measured.end) {
        count(sentInWindowByRoom, client.spec.room);
        sendLags.push(now - scheduled);
      }
      now = clock();
    }
    sendTimer = setTimeout(tick, Math.max(0, nextAt[pointer]! - clock()));
  };
  sendTimer = setTimeout(tick, Math.max(0, command.startAt - clock()));
  setTimeout(
    () => {
      const atStart = performance.eventLoopUtilization();
      setTimeout(() => {
        elu = performance.eventLoopUtilization(atStart).utilization;
      }, command.windowEnd - command.windowStart);
    },
    Math.max(0, command.windowStart - clock()),
  );
}

function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function report(): void {
  const lags = sendLags.toArray();
  post({
    type: "report",
    latencies: latencies.toArray(),
    sendOffsets: sendOffsets.toArray(),
    receivedTotal,
    sentInWindowByRoom,
    sentTotal,
    sendLagP99Ms: percentile(lags, 0.99),
    sendLagMaxMs: lags.reduce((max, v) => Math.max(max, v), 0),
    eventLoopUtilization: elu,
    disconnects,
    errors,
  });
}

function closeAll(): void {
  closing = true;
  clearTimeout(sendTimer);
  for (const client of clients) client.socket.disconnect();
  // Let the close frames go out before the process ends.
  setTimeout(() => process.exit(0), 300).unref();
}

process.on("message", (message: OrchestratorMessage) => {
  try {
    switch (message.type) {
      case "clock-probe":
        return post({ type: "clock-reply", id: message.id, now: clock() });
      case "clock-offset":
        clockOffset = message.offsetMs;
        return;
      case "connect":
        return connectAll(message);
      case "send":
        return startSending(message);
      case "stop-sending":
        clearTimeout(sendTimer);
        return;
      case "count-received":
        return post({ type: "received", total: receivedTotal });
      case "report":
        return report();
      case "close":
        return closeAll();
    }
  } catch (error) {
    post({ type: "fatal", message: (error as Error).stack ?? String(error) });
  }
});
// The orchestrator went away (crash, ctrl-c): do not linger holding thousands of sockets.
process.on("disconnect", () => process.exit(0));
post({ type: "ready" });
