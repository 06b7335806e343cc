/**
 * Pipe sessions: legacy-route sessions that are not shadowed are proxied byte for byte (cheap as a plain
 * proxy and identical on the wire to the legacy server). The gateway still knows them: it learns each
 * polling session's sid from the handshake response, so that it can count them, follow their upgrade to
 * WebSocket, and close them on drain or shutdown so that their clients reconnect.
 */
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { revisionOf, type EngineIoRevision } from "../protocol/engineio.js";
import { publish } from "../telemetry/events.js";
import type { ClientTransport, SessionCloseReason } from "../domain.js";
import type { Deadline, LegacyProxy } from "./legacy-proxy.js";
import { backendUrl } from "../upstream/backend-url.js";

interface PipeSession {
  readonly key: string;
  readonly eio: EngineIoRevision;
  readonly openedAt: number;
  transport: ClientTransport;
  lastSeen: number;
  /** Set while the session runs over a proxied WebSocket. */
  socket: Duplex | undefined;
  sid: string | undefined;
  /** The client's long poll in flight, if any: on drain the gateway answers it with a close packet. */
  pendingPoll: ServerResponse | undefined;
  /** Its split bucket (see splitBucketOf), for drains of moved buckets. */
  readonly splitBucket: number | undefined;
  /** Runs once when the session ends (releases its per-address lease). */
  readonly onEnd: (() => void) | undefined;
}

export interface PipeSessionOptions {
  readonly proxy: LegacyProxy;
  readonly legacyUrl: string;
  readonly path: string;
  /** A polling session with no request for this long is considered gone (pingInterval + pingTimeout). */
  readonly idleTimeoutMs: number;
  /**
   * How long the legacy server may take to answer a handshake (UPSTREAM_CONNECT_TIMEOUT_MS); then the client
   * gets 504 SWY_ERR_UPSTREAM_TIMEOUT and retries. Default: no limit.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * A polling session closed here whose next poll may reach another process (the workers of an instance, WORKERS > 1):
   * they are told, so that they answer that poll with the close packet too (markDrained).
   */
  readonly onDrained?: (sid: string, eio: EngineIoRevision) => Promise<void> | void;
}

const SID_IN_HANDSHAKE = /"sid":"([^"]+)"/;
const SWEEP_INTERVAL_MS = 5_000;
const CLOSE_PAYLOAD_MAX = 3;
let anonymousSocketCounter = 0;

/** What the gateway knows of a new pipe session at its handshake. */
export interface PipeHandshake {
  /** Its split bucket (see splitBucketOf), for drains of moved buckets. */
  readonly splitBucket?: number | undefined;
  /** Runs once when the session ends, or when no session opens (the legacy server refused, the client left). */
  readonly onEnd?: (() => void) | undefined;
}

/** A polling handshake on its way to the legacy server; `adopted` once its session opened. */
interface PendingPipe {
  readonly handshake: PipeHandshake;
  adopted: boolean;
}

export class PipeSessions {
  private readonly sessions = new Map<string, PipeSession>();
  /** Polling handshakes on their way to the legacy server. */
  private readonly handshakes = new WeakMap<IncomingMessage, PendingPipe>();
  /** Polling sessions closed by the gateway whose client has not polled since: its next poll gets the close. */
  private readonly drained = new Map<string, { eio: EngineIoRevision; until: number }>();
  private readonly sweeper: NodeJS.Timeout;
  /** Open sessions per transport, kept as sessions open, upgrade and end. */
  private readonly counts: Record<ClientTransport, number> = { polling: 0, websocket: 0 };

  constructor(private readonly options: PipeSessionOptions) {
    options.proxy.onResponse((proxyRes, req) => {
      const pending = this.handshakes.get(req);
      if (pending !== undefined) this.learnSid(proxyRes, req, pending);
    });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Whether this instance proxies the session with that sid (it learned the sid from the handshake). */
  has(sid: string): boolean {
    return this.sessions.has(sid) || this.drained.has(sid);
  }

  /** Another worker of the instance closed this polling session: its next poll here gets the close packet. */
  markDrained(sid: string, eio: EngineIoRevision): void {
    if (!this.sessions.has(sid)) this.drained.set(sid, { eio, until: Date.now() + this.options.idleTimeoutMs });
  }

  /** Pipes are legacy sessions: how many `only` accepts by split bucket. */
  countInBuckets(backend: "legacy" | "hub", only: (splitBucket: number | undefined) => boolean): number {
    if (backend !== "legacy") return 0;
    let count = 0;
    for (const session of this.sessions.values()) if (only(session.splitBucket)) count++;
    return count;
  }

  countByTransport(): Record<ClientTransport, number> {
    return { ...this.counts };
  }

  /** A polling handshake routed to the legacy server as a pipe. */
  handshakeHttp(req: IncomingMessage, res: ServerResponse, handshake: PipeHandshake = {}): void {
    const pending: PendingPipe = { handshake, adopted: false };
    this.handshakes.set(req, pending);
    const { onEnd } = handshake;
    if (onEnd !== undefined)
      res.once("close", () => {
        if (!pending.adopted) onEnd();
      });
    this.options.proxy.web(req, res, this.deadline());
  }

  /** The deadline of a pipe handshake: a refused handshake when the legacy server does not answer in time. */
  private deadline(): Deadline | undefined {
    const ms = this.options.handshakeTimeoutMs;
    if (ms === undefined) return undefined;
    return { ms, onTimeout: () => publish("switchyard:handshake:refused", { code: "SWY_ERR_UPSTREAM_TIMEOUT" }) };
  }

  /** A WebSocket-only handshake routed as a pipe: the session lives as long as the socket. */
  handshakeWs(req: IncomingMessage, socket: Duplex, head: Buffer, handshake: PipeHandshake = {}): void {
    const key = `ws-${++anonymousSocketCounter}`;
    const eio = revisionOf(new URL(req.url ?? "/", "http://x").searchParams.get("EIO"));
    const session = this.open(key, undefined, eio, "websocket", handshake);
    this.bindSocket(session, socket);
    this.options.proxy.ws(req, socket, head, this.deadline());
  }

  /** Any polling request carrying a sid that is not a terminated session: keep it alive, then proxy. */
  request(req: IncomingMessage, res: ServerResponse, sid: string): void {
    const drained = this.drained.get(sid);
    if (drained !== undefined && req.method === "GET") {
      this.drained.delete(sid);
      answerWithClosePacket(res, drained.eio);
      return;
    }
    const session = this.sessions.get(sid);
    if (session !== undefined) {
      session.lastSeen = Date.now();
      if (req.method === "POST") this.watchForClosePacket(session, req, res);
      else if (req.method === "GET" && !isJsonp(req)) this.trackPoll(session, res);
    }
    this.options.proxy.web(req, res);
  }

  private trackPoll(session: PipeSession, res: ServerResponse): void {
    session.pendingPoll = res;
    res.once("close", () => {
      if (session.pendingPoll === res) session.pendingPoll = undefined;
    });
  }

  /**
   * A client that leaves over polling POSTs a lone close packet ("1", or "1:1" in v3 framing): end the
   * session when the legacy server has taken it, rather than waiting for the idle sweep.
   */
  private watchForClosePacket(session: PipeSession, req: IncomingMessage, res: ServerResponse): void {
    const length = Number(req.headers["content-length"]);
    if (!(length > 0 && length <= CLOSE_PAYLOAD_MAX)) return;
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("latin1")));
    res.once("finish", () => {
      if (res.statusCode === 200 && (body === "1" || body === "1:1")) this.end(session, "client closed");
    });
  }

  /** An upgrade of a pipe session's polling transport to WebSocket. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, sid: string): void {
    const session = this.sessions.get(sid);
    if (session !== undefined) {
      this.counts[session.transport]--;
      this.counts.websocket++;
      session.transport = "websocket";
      this.bindSocket(session, socket);
      publish("switchyard:session:upgraded", { sessionId: sid, backend: "legacy", mode: "pipe" });
    }
    this.options.proxy.ws(req, socket, head);
  }

  /** Closes up to `count` sessions (those `only` accepts by split bucket) so that their clients reconnect (and get routed afresh). */
  close(count: number, reason: SessionCloseReason, only?: (splitBucket: number | undefined) => boolean): number {
    let closed = 0;
    for (const session of [...this.sessions.values()]) {
      if (closed >= count) break;
      if (only !== undefined && !only(session.splitBucket)) continue;
      this.closeSession(session, reason);
      closed++;
    }
    return closed;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private open(
    key: string,
    sid: string | undefined,
    eio: EngineIoRevision,
    transport: ClientTransport,
    handshake: PipeHandshake,
  ): PipeSession {
    const now = Date.now();
    const session: PipeSession = {
      key,
      sid,
      eio,
      transport,
      openedAt: now,
      lastSeen: now,
      socket: undefined,
      pendingPoll: undefined,
      splitBucket: handshake.splitBucket,
      onEnd: handshake.onEnd,
    };
    this.sessions.set(key, session);
    this.counts[transport]++;
    publish("switchyard:session:opened", {
      sessionId: sid ?? key,
      backend: "legacy",
      mode: "pipe",
      transport,
      protocol: eio,
      shadowed: false,
    });
    return session;
  }

  private bindSocket(session: PipeSession, socket: Duplex): void {
    session.socket = socket;
    socket.once("close", () => this.end(session, "client closed"));
  }

  private learnSid(proxyRes: IncomingMessage, req: IncomingMessage, pending: PendingPipe): void {
    if (proxyRes.statusCode !== 200) return;
    const eio = revisionOf(new URL(req.url ?? "/", "http://x").searchParams.get("EIO"));
    proxyRes.once("data", (chunk: Buffer) => {
      const sid = SID_IN_HANDSHAKE.exec(chunk.toString("latin1"))?.[1];
      if (sid === undefined || this.sessions.has(sid)) return;
      pending.adopted = true;
      this.open(sid, sid, eio, "polling", pending.handshake);
    });
  }

  /**
   * WebSocket pipes are cut (the client sees "transport close"). Polling pipes get an Engine.IO close
   * packet from the gateway on their pending or next poll, exactly what engine.io sends when a server
   * closes a session, and the legacy server is told to drop the session.
   */
  private closeSession(session: PipeSession, reason: SessionCloseReason): void {
    if (session.socket !== undefined) {
      session.socket.destroy();
    } else if (session.sid !== undefined) {
      const { sid, eio } = session;
      let relayed: Promise<void> | undefined;
      if (session.pendingPoll !== undefined && !session.pendingPoll.headersSent) answerWithClosePacket(session.pendingPoll, eio);
      else {
        this.drained.set(sid, { eio, until: Date.now() + this.options.idleTimeoutMs });
        relayed = this.options.onDrained?.(sid, eio) ?? undefined;
      }
      // The legacy server forgets the session only once every other worker knows it was drained: a next poll that
      // reached another worker before then would otherwise get legacy's 400 ("transport error", not "close").
      if (relayed === undefined) this.sendClosePacket(sid, eio);
      else
        void relayed.then(
          () => this.sendClosePacket(sid, eio),
          () => this.sendClosePacket(sid, eio),
        );
    }
    this.end(session, reason);
  }

  /** Asks the legacy server to close a polling session: its pending poll then carries the close packet. */
  private sendClosePacket(sid: string, eio: EngineIoRevision): void {
    const url = backendUrl(this.options.legacyUrl, this.options.path, [
      ["EIO", String(eio)],
      ["transport", "polling"],
      ["sid", sid],
    ]);
    const body = eio === 4 ? "1" : "1:1";
    const send = url.protocol === "https:" ? httpsRequest : request;
    const req = send(url, { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8", "content-length": body.length } });
    req.on("response", (res) => res.resume());
    req.on("error", () => {});
    req.end(body);
  }

  private end(session: PipeSession, reason: SessionCloseReason): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    this.counts[session.transport]--;
    session.onEnd?.();
    publish("switchyard:session:closed", {
      sessionId: session.sid ?? session.key,
      backend: "legacy",
      mode: "pipe",
      transport: session.transport,
      reason,
      code: undefined,
      durationMs: Date.now() - session.openedAt,
    });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [sid, entry] of this.drained) if (entry.until < now) this.drained.delete(sid);
    const deadline = now - this.options.idleTimeoutMs;
    for (const session of [...this.sessions.values()]) {
      if (session.socket === undefined && session.lastSeen < deadline) this.end(session, "client closed");
    }
  }
}

function isJsonp(req: IncomingMessage): boolean {
  return /[?&]j=/.test(req.url ?? "");
}

/** The response engine.io gives a poll when the server closes the session: a lone close packet. */
function answerWithClosePacket(res: ServerResponse, eio: EngineIoRevision): void {
  const body = eio === 4 ? "1" : "1:1";
  res.writeHead(200, { "content-type": "text/plain; charset=UTF-8", "content-length": body.length, "cache-control": "no-store" });
  res.end(body);
}
