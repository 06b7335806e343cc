/**
 * What the two upstreams (the legacy server's Engine.IO session and the hub's session) share about their
 * WebSocket: opening it and waiting for the backend's first message, with every way that can fail turned
 * into one coded rejection, counted once; and the drain signal a paused client waits for.
 */
import WebSocket from "ws";
import type { Backend, UpstreamRole } from "../domain.js";
import { SwitchyardError, type ErrorCode } from "../errors.js";
import { reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";

export interface UpstreamSocketOpening<Greeting, Opened> {
  readonly backend: Backend;
  readonly role: UpstreamRole;
  /** The time allowed for TCP, the upgrade and the first message. */
  readonly connectTimeoutMs: number;
  /** What the backend's first message is called in error details ("hello", "handshake"). */
  readonly awaiting: string;
  /** Creates the WebSocket; a throw means the backend is unreachable (an invalid URL, say). */
  connect(): WebSocket;
  /** Reads the first message; throws when it is not the greeting expected (a handshake failure). */
  greeting(data: Buffer, isBinary: boolean): Greeting;
  /** Builds the upstream from the open socket and the greeting, synchronously (frames that came with it follow). */
  opened(ws: WebSocket, greeting: Greeting): Opened;
  /** A code and detail for a socket error before the greeting, for errors the common ones do not cover. */
  classifyError?(error: Error): { readonly code: ErrorCode; readonly detail: string } | undefined;
  /** The code of a close before the greeting. Default SWY_ERR_UPSTREAM_HANDSHAKE. */
  closeCode?(code: number): ErrorCode;
  /** Tells the backend why its greeting was refused, before the socket is cut. */
  refuseGreeting?(ws: WebSocket, detail: string): void;
  /**
   * The caller publishes the connection itself (a socket that may become a shared hub link: the session
   * it opens for counts once it is open on the link). Failures are published either way.
   */
  readonly silent?: boolean;
}

/**
 * Opens an upstream's WebSocket and resolves once the backend's greeting arrived and the upstream is built.
 * Rejects with a coded SwitchyardError whose detail starts with the backend: unreachable, refused (HTTP
 * status), timed out, or a handshake failure (closed early, or a bad greeting).
 */
export function openUpstreamSocket<Greeting, Opened>(opening: UpstreamSocketOpening<Greeting, Opened>): Promise<Opened> {
  const { backend, role, connectTimeoutMs, awaiting } = opening;
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  const failure = (code: ErrorCode, detail: string) => {
    publish("switchyard:upstream:failed", { backend, role, code, seconds: seconds() });
    return new SwitchyardError(code, `${backend}: ${detail}`);
  };
  return new Promise<Opened>((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = opening.connect();
    } catch (error) {
      reject(failure("SWY_ERR_UPSTREAM_UNREACHABLE", (error as Error).message));
      return;
    }
    let settled = false;
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
    };
    const failWith = (code: ErrorCode, detail: string): void => {
      if (settled) return;
      settle();
      ws.on("error", () => {});
      ws.terminate();
      reject(failure(code, detail));
    };
    const timer = setTimeout(() => failWith("SWY_ERR_UPSTREAM_TIMEOUT", `no ${awaiting} within ${connectTimeoutMs} ms`), connectTimeoutMs);
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      failWith("SWY_ERR_UPSTREAM_REJECTED", `HTTP ${res.statusCode ?? "?"}`);
    });
    ws.once("error", (error: NodeJS.ErrnoException) => {
      const classified = opening.classifyError?.(error);
      if (classified !== undefined) failWith(classified.code, classified.detail);
      else if (/timed out/i.test(error.message)) failWith("SWY_ERR_UPSTREAM_TIMEOUT", error.message);
      else failWith("SWY_ERR_UPSTREAM_UNREACHABLE", error.code ?? error.message);
    });
    ws.once("close", (code: number, reason: Buffer) => {
      const why = `closed before its ${awaiting} (${code}${reason.length > 0 ? ` ${reason.toString()}` : ""})`;
      failWith(opening.closeCode?.(code) ?? "SWY_ERR_UPSTREAM_HANDSHAKE", why);
    });
    ws.once("message", (data: Buffer, isBinary: boolean) => {
      if (settled) return;
      let greeting: Greeting;
      try {
        greeting = opening.greeting(data, isBinary);
      } catch (error) {
        const detail = (error as Error).message;
        if (ws.readyState === WebSocket.OPEN) opening.refuseGreeting?.(ws, detail);
        failWith("SWY_ERR_UPSTREAM_HANDSHAKE", detail);
        return;
      }
      settle();
      if (opening.silent !== true) publish("switchyard:upstream:connected", { backend, role, seconds: seconds() });
      try {
        resolve(opening.opened(ws, greeting));
      } catch (error) {
        // Building the upstream threw (a bug): this session fails, counted; the ws listener does not throw.
        ws.on("error", () => {});
        ws.terminate();
        reject(failure("SWY_ERR_INTERNAL", reportContained(role === "shadow" ? "shadow" : "backend", error)));
      }
    });
  });
}

/**
 * The drain signal of an upstream: after a send leaves more than `lowWater` bytes waiting for the backend,
 * `onDrain` runs once the socket has written its backlog down to `lowWater` (a paused client resumes then).
 */
export class DrainSignal {
  private wanted = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly lowWater: number,
    private readonly onDrain: () => void,
  ) {}

  /** The write callback of every send to the backend. */
  readonly written = (): void => {
    if (this.wanted && this.ws.bufferedAmount <= this.lowWater) {
      this.wanted = false;
      this.onDrain();
    }
  };

  /** Call after a send: is the backend behind? */
  sent(): void {
    if (this.ws.bufferedAmount > this.lowWater) this.wanted = true;
  }
}
