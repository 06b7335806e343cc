/**
 * The gateway as an Engine.IO client of a socket.io backend: one WebSocket per client session, in the
 * client's Engine.IO revision, carrying the client's application query and forwarded headers. Raw `ws`
 * rather than engine.io-client: the gateway relays messages and needs none of the client's machinery,
 * which halves the per-message cost (see bench/).
 */
import WebSocket from "ws";
import type { ErrorCode } from "../errors.js";
import {
  decodeFrame,
  EIO_PACKET,
  encodeMessage,
  parseHandshake,
  type EngineIoHandshake,
  type EngineIoRevision,
} from "../protocol/engineio.js";
import type { Backend } from "../domain.js";
import { guard, reportContained } from "../telemetry/containment.js";
import { upstreamUrl, type ClientContext } from "./client-context.js";
import { SinkGate } from "./sink-gate.js";
import { DrainSignal, openUpstreamSocket } from "./upstream-socket.js";
import type { Upstream, UpstreamMessage, UpstreamSink } from "./upstream.js";
import type { UpstreamRole } from "../domain.js";

export interface EngineIoUpstreamOptions {
  readonly backend: Backend;
  readonly role: UpstreamRole;
  /** http(s) base URL of the socket.io server. */
  readonly baseUrl: string;
  /** Its Socket.IO path, e.g. "/socket.io/". */
  readonly path: string;
  readonly context: ClientContext;
  readonly connectTimeoutMs: number;
  /** Extra upgrade headers (the hub's x-switchyard-* ones). */
  readonly extraHeaders?: Readonly<Record<string, string>>;
  /** Bytes queued for the backend below which a paused client resumes. */
  readonly drainLowWater: number;
  /** Bytes the backend may send before the client session attaches (EARLY_BUFFER_BYTES). Default: no bound. */
  readonly earlyBufferBytes?: number;
}

type State = "open" | "closed";

const ORDERLY_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/** A heartbeat monitor sized from the backend's own handshake. */
class Heartbeat {
  private watchdog: NodeJS.Timeout | undefined;
  private readonly pinger: NodeJS.Timeout | undefined;

  constructor(
    revision: EngineIoRevision,
    private readonly handshake: EngineIoHandshake,
    sendPing: () => void,
    private readonly onTimeout: () => void,
  ) {
    if (revision === 4) {
      // v4: the server pings every pingInterval; silence for pingInterval + pingTimeout means it is gone.
      this.watchdog = setTimeout(onTimeout, handshake.pingInterval + handshake.pingTimeout);
      this.pinger = undefined;
    } else {
      // v3: we ping every pingInterval and expect the pong within pingTimeout.
      this.pinger = setInterval(() => {
        if (this.watchdog !== undefined) return;
        sendPing();
        this.watchdog = setTimeout(this.onTimeout, this.handshake.pingTimeout);
      }, handshake.pingInterval);
    }
  }

  onServerPing(): void {
    this.watchdog?.refresh();
  }

  onPong(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  stop(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    if (this.pinger !== undefined) clearInterval(this.pinger);
  }
}

export class EngineIoUpstream implements Upstream {
  readonly backend: Backend;
  readonly role: UpstreamRole;
  readonly sessionId: string;
  readonly handshake: EngineIoHandshake;
  private readonly ws: WebSocket;
  private readonly revision: EngineIoRevision;
  private readonly heartbeat: Heartbeat;
  private readonly gate: SinkGate;
  private readonly drain: DrainSignal;
  private state: State = "open";

  constructor(ws: WebSocket, revision: EngineIoRevision, handshake: EngineIoHandshake, options: EngineIoUpstreamOptions) {
    this.ws = ws;
    this.revision = revision;
    this.handshake = handshake;
    this.sessionId = handshake.sid;
    this.backend = options.backend;
    this.role = options.role;
    this.gate = new SinkGate(options.earlyBufferBytes, (detail) => this.fail("SWY_ERR_EARLY_OVERFLOW", detail));
    this.drain = new DrainSignal(ws, options.drainLowWater, () => this.gate.drain());
    // Every listener and timer is guarded: an exception ends this backend session (SWY_ERR_INTERNAL), never the process.
    const crash = (error: unknown) => this.crash(error);
    this.heartbeat = new Heartbeat(
      revision,
      handshake,
      guard(() => this.ws.send(EIO_PACKET.ping), crash),
      guard(() => this.fail("SWY_ERR_UPSTREAM_PING_TIMEOUT", "no heartbeat from the backend"), crash),
    );
    ws.on(
      "message",
      guard((data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary), crash),
    );
    ws.on(
      "close",
      guard((code: number, reason: Buffer) => this.onSocketClose(code, reason.toString()), crash),
    );
    ws.on(
      "error",
      guard((error: Error) => this.fail("SWY_ERR_UPSTREAM_CLOSED", error.message), crash),
    );
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  attach(sink: UpstreamSink): void {
    this.gate.attach(sink, this.state === "open");
  }

  send(message: UpstreamMessage): void {
    if (this.state !== "open") return;
    this.ws.send(encodeMessage(this.revision, message), this.drain.written);
    this.drain.sent();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    this.gate.detach();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.heartbeat.stop();
    this.ws.close();
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state !== "open") return;
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(this.revision, data, isBinary);
    } catch (error) {
      this.fail("SWY_ERR_UPSTREAM_PROTOCOL", (error as Error).message);
      return;
    }
    switch (frame.type) {
      case "message":
        this.gate.message(frame.data);
        return;
      case "ping":
        this.heartbeat.onServerPing();
        if (this.revision === 4) this.ws.send(EIO_PACKET.pong + frame.data);
        return;
      case "pong":
        this.heartbeat.onPong();
        return;
      case "close":
        this.end(undefined, "the backend closed the session");
        return;
      case "noop":
        return;
      default:
        this.fail("SWY_ERR_UPSTREAM_PROTOCOL", `unexpected ${frame.type} packet`);
    }
  }

  private onSocketClose(code: number, reason: string): void {
    if (this.state !== "open") return;
    const detail = `WebSocket closed (${code}${reason ? ` ${reason}` : ""})`;
    // engine.io closes a session it ends with a bare close frame (1005); 1000/1001 are orderly too.
    // Anything else (1006: the connection dropped) is the backend failing.
    this.end(ORDERLY_CLOSE_CODES.has(code) ? undefined : "SWY_ERR_UPSTREAM_CLOSED", detail);
  }

  private fail(code: ErrorCode, detail: string): void {
    if (this.state !== "open") return;
    this.end(code, detail);
  }

  /** An exception in this session's handling (a bug): counted, and this session ends with SWY_ERR_INTERNAL. */
  private crash(error: unknown): void {
    const detail = reportContained(this.role === "shadow" ? "shadow" : "backend", error);
    if (this.state === "open") this.end("SWY_ERR_INTERNAL", detail);
  }

  private end(code: ErrorCode | undefined, detail: string): void {
    this.shutdown();
    this.gate.ended(code, detail);
  }
}

/**
 * Opens a backend session and resolves once its Engine.IO handshake arrived. Rejects with a coded
 * SwitchyardError (unreachable, refused with an HTTP status, timed out, bad handshake).
 */
export function openEngineIoUpstream(options: EngineIoUpstreamOptions): Promise<EngineIoUpstream> {
  const revision = options.context.eio;
  const url = upstreamUrl(options.baseUrl, options.path, options.context, [
    ["EIO", String(revision)],
    ["transport", "websocket"],
  ]);
  return openUpstreamSocket({
    backend: options.backend,
    role: options.role,
    connectTimeoutMs: options.connectTimeoutMs,
    awaiting: "handshake",
    connect: () =>
      new WebSocket(url, {
        headers: { ...options.context.headers, ...options.extraHeaders },
        perMessageDeflate: false,
        // The backend is a socket.io server we front, not an untrusted peer: its text frames are UTF-8, and
        // validating every byte of every delivery again costs CPU on the hottest path.
        skipUTF8Validation: true,
        handshakeTimeout: options.connectTimeoutMs,
        followRedirects: false,
      }),
    greeting: (data, isBinary) => {
      const frame = decodeFrame(revision, data, isBinary);
      if (frame.type !== "open") throw new Error(`expected an open packet, got ${frame.type}`);
      return parseHandshake(frame.data);
    },
    opened: (ws, handshake) => new EngineIoUpstream(ws, revision, handshake, options),
  });
}
