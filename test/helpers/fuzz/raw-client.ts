/**
 * A raw Engine.IO client (no socket.io-client in the way): it sends exactly the Socket.IO packets it is
 * given, malformed or not, over WebSocket or long-polling, in either Engine.IO revision, and records what
 * the server sends back. What a hostile client can do, for the fuzzer and the parity tests.
 *
 * Packets are Socket.IO packets (an Engine.IO message body such as `2["x"]`); a Buffer is a binary message.
 * The client answers the server's pings (v4) and sends none itself (v3 sessions here live seconds, well
 * within pingInterval + pingTimeout).
 */
import WebSocket from "ws";

export type EngineRevision = 3 | 4;
export type RawTransport = "websocket" | "polling";

export interface RawSessionOptions {
  readonly eio: EngineRevision;
  readonly transport: RawTransport;
  /** Extra query parameters (routing keys and the like). */
  readonly query?: Readonly<Record<string, string>>;
  /** Connect timeout and the longest a single poll may hang before the session counts as stuck. */
  readonly timeoutMs?: number;
}

export interface RawSession {
  readonly sid: string;
  /** Socket.IO packets (text) and binary messages the server sent, in order. */
  readonly received: (string | Buffer)[];
  /** Resolves when the server (or the network) ended the session. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** Sends messages in order (one WebSocket frame each, or one polling POST for all). */
  send(...messages: (string | Buffer)[]): Promise<void>;
  /** Resolves with the first received message matching `predicate`, or undefined once the session closed. */
  next(predicate: (message: string | Buffer) => boolean, timeoutMs?: number): Promise<string | Buffer | undefined>;
  close(): void;
}

const RECORD_SEPARATOR = "\x1e";
const DEFAULT_TIMEOUT_MS = 10_000;

function engineUrl(baseUrl: string, options: RawSessionOptions, sid?: string): string {
  const url = new URL("/socket.io/", baseUrl);
  url.searchParams.set("EIO", String(options.eio));
  url.searchParams.set("transport", options.transport);
  if (options.eio === 3 && options.transport === "polling") url.searchParams.set("b64", "1");
  for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
  if (sid !== undefined) url.searchParams.set("sid", sid);
  if (options.transport === "websocket") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** Splits a polling payload into Engine.IO packets (v3 `<length>:<packet>` framing, v4 record separators). */
export function splitPayload(eio: EngineRevision, payload: string): string[] {
  if (eio === 4) return payload === "" ? [] : payload.split(RECORD_SEPARATOR);
  const packets: string[] = [];
  let i = 0;
  while (i < payload.length) {
    const colon = payload.indexOf(":", i);
    if (colon === -1) throw new Error(`bad v3 payload ${JSON.stringify(payload.slice(0, 80))}`);
    const length = Number(payload.slice(i, colon));
    packets.push(payload.slice(colon + 1, colon + 1 + length));
    i = colon + 1 + length;
  }
  return packets;
}

function joinPayload(eio: EngineRevision, packets: readonly string[]): string {
  return eio === 4 ? packets.join(RECORD_SEPARATOR) : packets.map((p) => `${p.length}:${p}`).join("");
}

/** Binary messages over polling: v4 `b<base64>`, v3 (b64) `b4<base64>`. */
function pollingPacket(eio: EngineRevision, message: string | Buffer): string {
  if (typeof message === "string") return `4${message}`;
  return `${eio === 4 ? "b" : "b4"}${message.toString("base64")}`;
}

class Session implements RawSession {
  sid = "";
  readonly received: (string | Buffer)[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private markClosed!: () => void;
  private readonly waiters = new Set<() => void>();
  private ws: WebSocket | undefined;
  private polling = false;

  constructor(
    private readonly baseUrl: string,
    private readonly options: RawSessionOptions,
  ) {
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
  }

  async open(): Promise<void> {
    if (this.options.transport === "websocket") await this.openWebSocket();
    else await this.openPolling();
  }

  private end(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.polling = false;
    this.markClosed();
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** One Engine.IO packet from the server. Returns false once the session is over. */
  private onPacket(packet: string | Buffer): void {
    if (typeof packet !== "string") {
      this.received.push(packet);
    } else if (packet.startsWith("4")) {
      this.received.push(packet.slice(1));
    } else if (packet.startsWith("b")) {
      this.received.push(Buffer.from(packet.slice(this.options.eio === 4 ? 1 : 2), "base64"));
    } else if (packet.startsWith("2")) {
      void this.sendEngine(`3${packet.slice(1)}`);
      return;
    } else if (packet === "1") {
      this.end();
      return;
    } else {
      return;
    }
    this.notify();
  }

  private openWebSocket(): Promise<void> {
    const ws = new WebSocket(engineUrl(this.baseUrl, this.options), { perMessageDeflate: false });
    this.ws = ws;
    ws.binaryType = "nodebuffer";
    ws.on("error", () => this.end());
    ws.on("close", () => this.end());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error("no Engine.IO handshake within the timeout"));
      }, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      ws.on("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        res.resume();
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
      });
      ws.on("close", () => {
        clearTimeout(timer);
        reject(new Error("closed before the handshake"));
      });
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) return this.onPacket(this.options.eio === 3 ? data.subarray(1) : data);
        const text = data.toString("utf8");
        if (text.startsWith("0")) {
          this.sid = (JSON.parse(text.slice(1)) as { sid: string }).sid;
          clearTimeout(timer);
          resolve();
          return;
        }
        this.onPacket(text);
      });
    });
  }

  private async openPolling(): Promise<void> {
    const response = await fetch(engineUrl(this.baseUrl, this.options), {
      signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`handshake refused: HTTP ${response.status} ${body.slice(0, 120)}`);
    const [open, ...rest] = splitPayload(this.options.eio, body);
    if (open === undefined || !open.startsWith("0")) throw new Error(`no open packet in ${JSON.stringify(body.slice(0, 120))}`);
    this.sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    for (const packet of rest) this.onPacket(packet);
    this.polling = true;
    void this.pollLoop();
  }

  private async pollLoop(): Promise<void> {
    while (this.polling && !this.isClosed) {
      let body: string;
      try {
        const response = await fetch(engineUrl(this.baseUrl, this.options, this.sid), {
          signal: AbortSignal.timeout((this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) * 6),
        });
        body = await response.text();
        if (!response.ok) return this.end();
      } catch {
        return this.end();
      }
      for (const packet of splitPayload(this.options.eio, body)) this.onPacket(packet);
    }
  }

  private async sendEngine(...packets: string[]): Promise<void> {
    if (this.isClosed) return;
    if (this.ws !== undefined) {
      for (const packet of packets) if (this.ws.readyState === WebSocket.OPEN) this.ws.send(packet);
      return;
    }
    try {
      const response = await fetch(engineUrl(this.baseUrl, this.options, this.sid), {
        method: "POST",
        body: joinPayload(this.options.eio, packets),
        headers: { "content-type": "text/plain;charset=UTF-8" },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      await response.arrayBuffer();
      if (!response.ok) this.end();
    } catch {
      this.end();
    }
  }

  async send(...messages: (string | Buffer)[]): Promise<void> {
    if (this.isClosed) return;
    const ws = this.ws;
    if (ws !== undefined) {
      for (const message of messages) {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (typeof message === "string") ws.send(`4${message}`);
        else ws.send(this.options.eio === 3 ? Buffer.concat([Buffer.from([4]), message]) : message);
      }
      return;
    }
    await this.sendEngine(...messages.map((message) => pollingPacket(this.options.eio, message)));
  }

  next(
    predicate: (message: string | Buffer) => boolean,
    timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  ): Promise<string | Buffer | undefined> {
    let seen = 0;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (; seen < this.received.length; seen++) {
          const message = this.received[seen]!;
          if (predicate(message)) return finish(message);
        }
        if (this.isClosed) finish(undefined);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching message within ${timeoutMs} ms (received ${JSON.stringify(this.received.slice(-5).map(String))})`));
      }, timeoutMs);
      const finish = (message: string | Buffer | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(message);
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    if (this.ws !== undefined) this.ws.terminate();
    else if (!this.isClosed) void this.sendEngine("1");
    this.end();
  }
}

/** Opens an Engine.IO session (the handshake done; for v5 clients no namespace joined yet). */
export async function openRawSession(baseUrl: string, options: RawSessionOptions): Promise<RawSession> {
  const session = new Session(baseUrl, options);
  await session.open();
  return session;
}
