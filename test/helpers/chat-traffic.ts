/**
 * Steady, varied chat traffic against one or more gateways, for tests that watch the metrics: long-lived
 * clients of every generation chatting in rooms, short-lived sessions (opens, closes, durations),
 * pass-through page loads, and (where asked) clients that break the protocol. Failures are counted, not
 * thrown: the traffic keeps going while a test injects faults.
 */
import WebSocket from "ws";
import { connected, createClient, type AnySocket, type ClientVersion, type TransportMode } from "./clients.js";

export interface TrafficTarget {
  readonly url: string;
  /** Send malformed Socket.IO packets too (only terminated sessions validate what clients send). */
  readonly protocolErrors?: boolean;
}

export interface TrafficStats {
  connects: number;
  connectFailures: number;
  messages: number;
  pages: number;
  malformed: number;
}

export interface ChatTraffic {
  readonly stats: TrafficStats;
  stop(): Promise<void>;
}

const TICK_MS = 250;
const VISITOR_TRANSPORTS: readonly TransportMode[] = ["websocket", "polling", "upgrade"];
const LONG_LIVED: readonly [ClientVersion, TransportMode][] = [
  ["4", "websocket"],
  ["2", "upgrade"],
  ["3", "polling"],
];

/** A raw Engine.IO v4 WebSocket client that joins "/" and then sends a packet socket.io-parser rejects. */
export function sendMalformedPacket(gatewayUrl: string, timeoutMs = 5000): Promise<void> {
  const ws = new WebSocket(`${gatewayUrl.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => ws.terminate(), timeoutMs);
    ws.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.on("error", () => ws.terminate());
    ws.on("message", (data) => {
      const text = String(data);
      if (text.startsWith("0{")) ws.send("40");
      else if (text.startsWith("40")) ws.send('42["msg",{"room":');
      else if (text === "2") ws.send("3");
    });
  });
}

export function startChatTraffic(targets: readonly TrafficTarget[]): ChatTraffic {
  const stats: TrafficStats = { connects: 0, connectFailures: 0, messages: 0, pages: 0, malformed: 0 };
  const sockets = new Set<AnySocket>();
  const inFlight = new Set<Promise<unknown>>();
  let tick = 0;
  let stopped = false;

  const track = (work: Promise<unknown>) => {
    const settled = work.catch(() => undefined).finally(() => inFlight.delete(settled));
    inFlight.add(settled);
  };

  const open = async (url: string, version: ClientVersion, transport: TransportMode, name: string): Promise<AnySocket | undefined> => {
    const socket = createClient(version, url, "/", { transport, query: { name, userId: name }, reconnection: false });
    sockets.add(socket);
    try {
      await connected(socket);
      stats.connects++;
      socket.emit("join", "observed");
      return socket;
    } catch {
      stats.connectFailures++;
      socket.close();
      sockets.delete(socket);
      return undefined;
    }
  };

  // Long-lived clients: (re)opened whenever one is missing, chatting on every tick.
  const longLived = new Map<string, AnySocket | "opening">();
  const keepLongLived = () => {
    for (const [t, target] of targets.entries()) {
      for (const [version, transport] of LONG_LIVED) {
        const key = `${t}-${version}-${transport}`;
        const current = longLived.get(key);
        if (current === "opening" || current?.connected) continue;
        if (current !== undefined) {
          current.close();
          sockets.delete(current);
        }
        longLived.set(key, "opening");
        track(
          open(target.url, version, transport, `resident-${key}`).then((socket) =>
            socket ? longLived.set(key, socket) : longLived.delete(key),
          ),
        );
      }
    }
  };

  const onTick = () => {
    if (stopped) return;
    tick++;
    keepLongLived();
    for (const socket of longLived.values()) {
      if (socket === "opening" || !socket.connected) continue;
      socket.emit("msg", { room: "observed", text: `tick ${tick}` });
      stats.messages++;
    }
    for (const [t, target] of targets.entries()) {
      // A short-lived session every other tick: open, chat, leave.
      if (tick % 2 === t % 2) {
        const transport = VISITOR_TRANSPORTS[Math.floor(tick / 2) % VISITOR_TRANSPORTS.length]!;
        track(
          open(target.url, tick % 3 === 0 ? "2" : "4", transport, `visitor-${tick}`).then(async (socket) => {
            if (!socket) return;
            // With an ack: the gateway times its round trip (switchyard_ack_latency_seconds has data).
            socket.emit("msg", { room: "observed", text: "hi" }, () => undefined);
            // Upgrading visitors stay long enough for the polling → WebSocket upgrade to complete.
            await new Promise((resolve) => setTimeout(resolve, transport === "upgrade" ? 1500 : 300));
            socket.close();
            sockets.delete(socket);
          }),
        );
      }
      if (tick % 4 === 0) {
        track(
          fetch(`${target.url}/`).then(async (response) => {
            await response.arrayBuffer();
            stats.pages++;
          }),
        );
      }
      if (target.protocolErrors && tick % 6 === 0) {
        track(sendMalformedPacket(target.url).then(() => void stats.malformed++));
      }
    }
  };
  const timer = setInterval(onTick, TICK_MS);
  onTick();

  return {
    stats,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      for (const socket of sockets) socket.close();
      sockets.clear();
    },
  };
}
