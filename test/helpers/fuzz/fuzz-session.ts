/**
 * Raw Engine.IO sessions for the fuzzer (v3 or v4, WebSocket or polling): they send exactly the packets they are
 * given, answer heartbeats, and watch the server's packets for the marker acks and the first CONNECT answer.
 */
import WebSocket from "ws";
import { pollingBody } from "./framing.js";
import type { FuzzCase } from "./mutator.js";
import type { Prng } from "./prng.js";
import { splitPayload, type EngineRevision, type RawTransport } from "./raw-client.js";

/** How long a marker (or the first CONNECT answer) may take before the session counts as hanging. */
export const MARKER_TIMEOUT_MS = 15_000;

/** Where sessions go: a gateway URL and a route's routing key; `rng` drives polling payload framing. */
export interface SessionTarget {
  readonly url: string;
  readonly key: string;
  readonly rng: Prng;
}

export interface Session {
  readonly revision: EngineRevision;
  readonly transport: RawTransport;
  readonly receiver: Receiver;
  readonly closed: boolean;
  /** Resolves on the ack of marker `id`: true, or false when the session closed first. */
  marker(id: number): Promise<boolean | "timeout">;
  send(cases: readonly FuzzCase[]): Promise<string | undefined>;
  /** Sends Engine.IO packets as they are: one frame each, or one polling POST with `body` exactly. */
  sendRaw(frames: readonly string[], body: string): Promise<void>;
  close(): void;
}

function engineUrl(base: string, revision: EngineRevision, transport: RawTransport, key: string, sid?: string): string {
  const url = new URL("/socket.io/", base);
  const b64 = revision === 3 && transport === "polling" ? "&b64=1" : "";
  url.search = `EIO=${revision}&transport=${transport}&userId=${encodeURIComponent(key)}${b64}`;
  if (sid !== undefined) url.searchParams.set("sid", sid);
  if (transport === "websocket") url.protocol = "ws:";
  return url.toString();
}

/** Watches the server's Socket.IO packets for acks and its first CONNECT answer. */
export class Receiver {
  closed = false;
  connected = false;
  private readonly acks = new Set<number>();
  private readonly waiters = new Set<() => void>();

  onPacket(packet: string): void {
    if (packet === "1") return this.close();
    if (!packet.startsWith("4")) return;
    if (packet.startsWith("40")) this.connected = true;
    else if (packet.startsWith("43")) {
      const id = /^43(\d+)/.exec(packet);
      if (id) this.acks.add(Number(id[1]));
    } else if (packet.startsWith("44")) {
      // CONNECT_ERROR to "/": the namespace is gone; later markers will not be answered until the close.
      this.connected = true;
    }
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  until<T>(check: () => T | undefined, timeoutMs: number): Promise<T | "timeout"> {
    return new Promise((resolve) => {
      const test = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(test);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(test);
        resolve("timeout");
      }, timeoutMs);
      this.waiters.add(test);
      test();
    });
  }

  marker(id: number): Promise<boolean | "timeout"> {
    return this.until(() => (this.acks.has(id) ? true : this.closed ? false : undefined), MARKER_TIMEOUT_MS);
  }
}

async function openWebSocket(options: SessionTarget, revision: EngineRevision): Promise<Session | undefined> {
  const receiver = new Receiver();
  const ws = new WebSocket(engineUrl(options.url, revision, "websocket", options.key), { perMessageDeflate: false });
  ws.binaryType = "nodebuffer";
  // Listening from the start: the server's first packets may arrive with the upgrade's answer.
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const text = data.toString();
    if (text.startsWith("2")) {
      if (ws.readyState === WebSocket.OPEN) ws.send(`3${text.slice(1)}`);
      return;
    }
    receiver.onPacket(text);
  });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once("open", () => resolve(true));
    ws.once("error", () => resolve(false));
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(false);
    });
  });
  ws.on("error", () => receiver.close());
  ws.on("close", () => receiver.close());
  if (!opened) return undefined;
  return {
    revision,
    transport: "websocket",
    receiver,
    get closed() {
      return receiver.closed;
    },
    marker: (id) => receiver.marker(id),
    async send(cases) {
      for (const c of cases) {
        if (ws.readyState !== WebSocket.OPEN) return undefined;
        const { packet } = c;
        if (packet.kind === "text") ws.send(packet.data);
        else if (packet.kind === "invalidUtf8") ws.send(packet.data, { binary: false });
        else ws.send(revision === 3 ? Buffer.concat([Buffer.from([4]), packet.data]) : packet.data, { binary: true });
      }
      return undefined;
    },
    async sendRaw(frames) {
      for (const frame of frames) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
    },
    close: () => ws.terminate(),
    // The first CONNECT answer is awaited by the caller through the receiver.
  };
}

async function openPolling(options: SessionTarget, revision: EngineRevision): Promise<Session | undefined> {
  const receiver = new Receiver();
  let response: Response;
  try {
    response = await fetch(engineUrl(options.url, revision, "polling", options.key), { signal: AbortSignal.timeout(MARKER_TIMEOUT_MS) });
  } catch {
    return undefined;
  }
  const body = await response.text().catch(() => "");
  if (!response.ok) return undefined;
  let packets: string[];
  try {
    packets = splitPayload(revision, body);
  } catch {
    return undefined;
  }
  const open = packets.shift();
  if (open === undefined || !open.startsWith("0")) return undefined;
  const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
  const url = engineUrl(options.url, revision, "polling", options.key, sid);
  for (const packet of packets) receiver.onPacket(packet);
  const post = async (payload: Buffer): Promise<void> => {
    try {
      const answer = await fetch(url, {
        method: "POST",
        body: payload,
        headers: { "content-type": "text/plain;charset=UTF-8" },
        signal: AbortSignal.timeout(MARKER_TIMEOUT_MS),
      });
      await answer.arrayBuffer();
      if (!answer.ok) receiver.close();
    } catch {
      receiver.close();
    }
  };
  const controller = new AbortController();
  void (async () => {
    while (!receiver.closed) {
      try {
        const poll = await fetch(url, { signal: controller.signal });
        const text = await poll.text();
        if (!poll.ok) return receiver.close();
        for (const packet of splitPayload(revision, text)) {
          if (packet.startsWith("2"))
            void post(Buffer.from(revision === 3 ? `${packet.length}:3${packet.slice(1)}` : `3${packet.slice(1)}`));
          else receiver.onPacket(packet);
        }
      } catch {
        return receiver.close();
      }
    }
  })();

  return {
    revision,
    transport: "polling",
    receiver,
    get closed() {
      return receiver.closed;
    },
    marker: (id) => receiver.marker(id),
    async send(cases) {
      const { body, op } = pollingBody(options.rng, revision, cases);
      await post(body);
      return op;
    },
    sendRaw: (_frames, body) => post(Buffer.from(body)),
    close: () => {
      // As a client leaves: a close packet, so that the server does not wait for the heartbeat to time out.
      if (!receiver.closed) void post(Buffer.from(revision === 4 ? "1" : "1:1"));
      controller.abort();
      receiver.close();
    },
  };
}

export /** Opens a session of the given kind and joins "/" (v4 clients send the CONNECT); undefined when refused. */
async function openJoined(options: SessionTarget, revision: EngineRevision, transport: RawTransport): Promise<Session | undefined> {
  const session = transport === "websocket" ? await openWebSocket(options, revision) : await openPolling(options, revision);
  if (session === undefined) return undefined;
  if (revision === 4) await session.sendRaw(["40"], "40");
  await session.receiver.until(() => (session.receiver.connected || session.closed ? true : undefined), MARKER_TIMEOUT_MS);
  return session;
}
