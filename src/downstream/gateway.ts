/**
 * The client-facing listener: one HTTP server whose requests and upgrades the dispatcher routes (see
 * request-dispatch.ts), and the lifecycle of everything behind it: session counts, closing sessions for
 * drains, and the paced shutdown. Its collaborators are built by the composition root (src/switchyard.ts).
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Server as EngineServer } from "engine.io";
import { answerClientError, listenerOptions, type HttpLimits } from "../limits/listener-limits.js";
import type { Backend, SessionCloseReason, SessionCounts } from "../domain.js";
import type { LegacyProxy } from "../passthrough/legacy-proxy.js";
import type { OwnerForwarder } from "../passthrough/owner-forwarder.js";
import type { PipeSessions } from "../passthrough/pipe-sessions.js";
import type { ClientSession } from "./client-session.js";
import { applyHandshake, type HandshakeValues } from "./engine-options.js";
import { stripGatewayHeaders } from "./gateway-headers.js";
import { readTlsPair, watchTlsFiles, type TlsFiles } from "../config/tls-files.js";
import type { HandshakeOrchestrator } from "./handshake-orchestrator.js";
import type { RequestDispatcher } from "./request-dispatch.js";
import type { SessionTable } from "./session-table.js";
import { closeListener, closePaced } from "./shutdown-pacing.js";

/** Split buckets [from, to), 0..10000 (hubPercent × 100). */
export interface BucketRange {
  readonly from: number;
  readonly to: number;
}

function inRange(bucket: number | undefined, range: BucketRange): boolean {
  return bucket !== undefined && bucket >= range.from && bucket < range.to;
}

export interface GatewayParts {
  readonly engine: EngineServer;
  readonly proxy: LegacyProxy;
  readonly pipes: PipeSessions;
  readonly forwarder: OwnerForwarder;
  readonly sessions: SessionTable<ClientSession>;
  readonly handshakes: HandshakeOrchestrator;
  readonly dispatcher: RequestDispatcher;
  /** The deployment's forwarding marker (gateway-headers.ts): the gateway's own headers are stripped from client requests. */
  readonly forwardingMarker: string;
  /** HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, MAX_HEADER_BYTES, LISTEN_BACKLOG; absent: node's defaults. */
  readonly listener?: HttpLimits & { readonly backlog?: number };
  /** TLS_CERT_FILE and TLS_KEY_FILE: the listener serves https and wss, reloading the pair when the files change. */
  readonly tls?: TlsFiles & { readonly onReload: (error: Error | undefined) => void };
}

export class Gateway {
  /** The client listener: node's http server, or its https server with TLS_CERT_FILE (same events, same options). */
  readonly http: HttpServer;
  /** Whether the listener serves https and wss. */
  readonly secure: boolean;
  private readonly stopWatchingTls: () => void;
  readonly engine: EngineServer;
  readonly proxy: LegacyProxy;
  readonly pipes: PipeSessions;
  /** The terminated sessions of this instance, by engine id. */
  readonly sessions: SessionTable<ClientSession>;
  private readonly forwarder: OwnerForwarder;
  private readonly handshakes: HandshakeOrchestrator;
  /** listen(2)'s backlog; undefined: node's (511). */
  private readonly backlog: number | undefined;

  constructor(parts: GatewayParts) {
    ({ engine: this.engine, proxy: this.proxy, pipes: this.pipes, sessions: this.sessions } = parts);
    this.forwarder = parts.forwarder;
    this.handshakes = parts.handshakes;
    const { dispatcher } = parts;
    const limits = parts.listener;
    this.backlog = limits?.backlog;
    const options = listenerOptions(limits);
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      stripGatewayHeaders(req, parts.forwardingMarker);
      dispatcher.onRequest(req, res);
    };
    const { tls } = parts;
    this.secure = tls !== undefined;
    if (tls === undefined) {
      this.http = createServer(options, onRequest);
      this.stopWatchingTls = () => {};
    } else {
      const server: HttpsServer = createHttpsServer({ ...options, ...readTlsPair(tls) }, onRequest);
      // An https.Server is an http.Server on TLS sockets: the gateway uses only what both have.
      this.http = server as unknown as HttpServer;
      this.stopWatchingTls = watchTlsFiles(
        tls,
        (pair) => {
          server.setSecureContext(pair);
          tls.onReload(undefined);
        },
        (error) => tls.onReload(error),
      );
    }
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      stripGatewayHeaders(req, parts.forwardingMarker);
      dispatcher.onUpgrade(req, socket, head);
    });
    this.http.on("clientError", answerClientError);
  }

  get isDraining(): boolean {
    return this.handshakes.isRefusing;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen({ port, host, ...(this.backlog !== undefined ? { backlog: this.backlog } : {}) }, () => {
        this.http.off("error", reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Handshake values learned after start-up (the legacy server was down when the gateway started). */
  updateHandshake(handshake: HandshakeValues): void {
    applyHandshake(this.engine, handshake);
  }

  /** Open sessions, terminated and piped; kept as sessions come and go, so cheap to read. */
  sessionCounts(): SessionCounts {
    const counts = this.sessions.counts();
    const piped = this.pipes.countByTransport();
    counts.legacy.polling += piped.polling;
    counts.legacy.websocket += piped.websocket;
    return counts;
  }

  /**
   * Closes up to `count` sessions of a backend so that their clients reconnect. With `buckets`, only
   * sessions the split routed with a bucket in [from, to) (those a change of the split moved). Returns how many.
   */
  closeSessions(backend: Backend, count: number, reason: SessionCloseReason, buckets?: BucketRange): number {
    const only = buckets === undefined ? undefined : (bucket: number | undefined) => inRange(bucket, buckets);
    let closed = 0;
    for (const session of [...this.sessions.values()]) {
      if (closed >= count) return closed;
      if (session.backend !== backend || session.state !== "open") continue;
      if (only !== undefined && !only(session.splitBucket)) continue;
      session.close(reason);
      closed++;
    }
    if (backend === "legacy") closed += this.pipes.close(count - closed, reason, only);
    return closed;
  }

  /** Open sessions of a backend whose split bucket is in the range. */
  countInBuckets(backend: Backend, buckets: BucketRange): number {
    let count = this.pipes.countInBuckets(backend, (bucket) => inRange(bucket, buckets));
    for (const session of this.sessions.values())
      if (session.backend === backend && session.state === "open" && inRange(session.splitBucket, buckets)) count++;
    return count;
  }

  /** Stops taking new sessions (handshakes get 503) but keeps serving the open ones. */
  beginDrain(): void {
    this.handshakes.refuseNewSessions();
  }

  /**
   * Closes every session, paced over `spreadMs` so that reconnecting clients do not stampede the other
   * instances, then stops listening and gives in-flight requests (long polls carrying close packets)
   * up to `graceMs` to finish. Resolves when everything is closed. `listenMs`: keep listening that long at least
   * (a worker of an instance serves requests of sessions the other workers close meanwhile).
   */
  async shutdown(spreadMs: number, graceMs: number, listenMs = 0): Promise<void> {
    this.beginDrain();
    const listening = new Promise((resolve) => setTimeout(resolve, listenMs));
    await closePaced(
      {
        open: () => this.sessions.size + this.pipes.size,
        // `count` for both backends together: closing `count` of each would finish in half the steps when
        // both have sessions, and the reconnections would come twice as fast as the spread promises.
        closeSome: (count) => {
          const closed = this.closeSessions("hub", count, "shutdown");
          this.closeSessions("legacy", count - closed, "shutdown");
        },
        closeAll: () => {
          this.closeSessions("hub", Number.MAX_SAFE_INTEGER, "shutdown");
          this.closeSessions("legacy", Number.MAX_SAFE_INTEGER, "shutdown");
        },
      },
      spreadMs,
    );
    await listening;
    await this.stopListening(graceMs);
  }

  /** Closes the listener and every connection at once (tests, and the end of a shutdown). */
  async close(): Promise<void> {
    this.beginDrain();
    for (const session of this.sessions.values()) session.close("shutdown");
    this.pipes.close(Number.MAX_SAFE_INTEGER, "shutdown");
    await this.stopListening(0);
  }

  private async stopListening(graceMs: number): Promise<void> {
    this.stopWatchingTls();
    this.pipes.stop();
    this.engine.close();
    this.forwarder.close();
    await closeListener(this.http, graceMs, () => this.proxy.close());
  }
}
