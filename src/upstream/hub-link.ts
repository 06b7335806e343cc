/**
 * The multiplexed hub link (switchyard-hub.v2, docs/hub-protocol.md §11): a gateway process holds up to
 * HUB_LINKS WebSockets per hub URL and carries every hub session over them, each session a LinkChannel that
 * looks to HubUpstream like a v1 session's own socket. With HUB_PROTOCOL=auto every socket the gateway opens
 * offers v2 and v1: a v1 hub selects v1 and that socket simply is the session's, as without this file.
 */
import WebSocket from "ws";
import type { UpstreamRole } from "../domain.js";
import { SwitchyardError, type ErrorCode } from "../errors.js";
import { closeReason, HUB_CLOSE_CODE, HUB_SUBPROTOCOL } from "../protocol/hub-frames.js";
import {
  decodeLinkBinary,
  encodeOpenFrame,
  HUB_SUBPROTOCOL_V2,
  type HubHello,
  LinkFrameError,
  type LinkSessionOpening,
  parseLinkFrame,
} from "../protocol/hub-link-frames.js";
import type { HubProtocolChoice } from "../config/hub-link-settings.js";
import { guard, reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import { webSocketUrl } from "./backend-url.js";
import type { HubChannel } from "./hub-channel.js";
import { LinkChannel, type LinkPort } from "./hub-link-channel.js";
import { openUpstreamSocket } from "./upstream-socket.js";
import { WsHeartbeat } from "./ws-heartbeat.js";

export interface HubLinkSettings {
  readonly protocol: Exclude<HubProtocolChoice, "v1">;
  readonly links: number;
  readonly maxSessions: number;
  readonly maxFrameBytes: number;
  readonly pausedBytes: number;
  /** Link bytes waiting below which paused clients resume. */
  readonly drainLowWater: number;
  readonly pingIntervalMs: number;
}

/** A session opening over the links of one hub. */
export interface LinkSessionRequest {
  readonly opening: LinkSessionOpening;
  readonly role: UpstreamRole;
  readonly connectTimeoutMs: number;
  /** The upgrade headers a v1 session socket carries (used when the socket this session opens may end up v1). */
  readonly v1Headers: Readonly<Record<string, string>>;
  /** Reads a hub's first frame on a new socket, in the version of the subprotocol it selected; throws on a bad one. */
  readHello(data: Buffer, isBinary: boolean, version: 1 | 2): HubHello;
}

/** Where a hub session ended up: its own v1 socket (a v1 hub in auto mode), or a channel on a link. */
export type HubSessionPath =
  | { readonly kind: "v1"; readonly ws: WebSocket; readonly server: string | undefined }
  | { readonly kind: "link"; readonly channel: HubChannel; readonly server: string | undefined };

const elapsedSince = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e9;

/** Every link of a gateway process, by hub URL. */
export class HubLinks {
  private readonly pools = new Map<string, HubLinkPool>();
  constructor(readonly settings: HubLinkSettings) {}

  openSession(hubUrl: string, request: LinkSessionRequest): Promise<HubSessionPath> {
    let pool = this.pools.get(hubUrl);
    if (pool === undefined) {
      pool = new HubLinkPool(webSocketUrl(new URL(hubUrl)), this.settings);
      this.pools.set(hubUrl, pool);
    }
    return pool.openSession(request);
  }

  /** Open links (for tests and logs). */
  get linkCount(): number {
    let count = 0;
    for (const pool of this.pools.values()) count += pool.linkCount;
    return count;
  }

  /** Gateway shutdown: every link closes (1000); sessions still on one end as lost. */
  close(): void {
    for (const pool of this.pools.values()) pool.close();
  }
}

class HubLinkPool {
  private readonly links = new Set<HubLink>();
  private openings = 0;
  private waiting: (() => void)[] = [];
  /** The last socket opened with both versions offered got v1: every session opens its own, offering both again. */
  private hubSpeaksV1 = false;

  constructor(
    private readonly url: URL,
    private readonly settings: HubLinkSettings,
  ) {}

  get linkCount(): number {
    return this.links.size;
  }

  async openSession(request: LinkSessionRequest): Promise<HubSessionPath> {
    const started = process.hrtime.bigint();
    for (;;) {
      if (this.hubSpeaksV1 || this.links.size + this.openings < this.settings.links) return this.openSocket(request, started);
      let best: HubLink | undefined;
      for (const link of this.links) if (link.hasRoom && (best === undefined || link.load < best.load)) best = link;
      if (best !== undefined) return best.openSession(request, started);
      if (this.openings === 0) {
        const detail = `${this.links.size} link(s) of ${this.settings.maxSessions} sessions are full`;
        publish("switchyard:upstream:failed", { backend: "hub", role: request.role, code: "SWY_ERR_HUB_LINK_FULL", seconds: 0 });
        throw new SwitchyardError("SWY_ERR_HUB_LINK_FULL", `hub: ${detail}`);
      }
      // A link is being opened: take a place on it (or whatever the pool holds then).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  remove(link: HubLink): void {
    this.links.delete(link);
  }

  close(): void {
    for (const link of [...this.links]) link.shutdown();
  }

  /** Opens a socket for this session: it becomes a link (v2 selected) or the session's own (v1 selected). */
  private async openSocket(request: LinkSessionRequest, started: bigint): Promise<HubSessionPath> {
    const auto = this.settings.protocol === "auto";
    let ws: WebSocket | undefined;
    this.openings++;
    let path: HubSessionPath | HubLink;
    try {
      path = await openUpstreamSocket<HubHello, HubSessionPath | HubLink>({
        backend: "hub",
        role: request.role,
        connectTimeoutMs: request.connectTimeoutMs,
        awaiting: "hello",
        silent: true,
        connect: () =>
          (ws = new WebSocket(this.url, auto ? [HUB_SUBPROTOCOL_V2, HUB_SUBPROTOCOL] : [HUB_SUBPROTOCOL_V2], {
            // v2 only: a link carries no session's headers. auto: the session's, in case the hub selects v1.
            headers: auto ? request.v1Headers : {},
            perMessageDeflate: false,
            handshakeTimeout: request.connectTimeoutMs,
            followRedirects: false,
          })),
        classifyError: (error) =>
          /subprotocol/i.test(error.message)
            ? { code: "SWY_ERR_UPSTREAM_HANDSHAKE", detail: `${error.message} (offered ${auto ? "v2, v1" : "v2"})` }
            : undefined,
        closeCode: (code) => (code === HUB_CLOSE_CODE.policy ? "SWY_ERR_UPSTREAM_REJECTED" : "SWY_ERR_UPSTREAM_HANDSHAKE"),
        greeting: (data, isBinary) => request.readHello(data, isBinary, ws?.protocol === HUB_SUBPROTOCOL_V2 ? 2 : 1),
        refuseGreeting: (socket, detail) => socket.close(HUB_CLOSE_CODE.protocolError, closeReason(detail)),
        opened: (socket, hello) =>
          hello.version === 2 ? new HubLink(socket, hello, this, this.settings) : { kind: "v1", ws: socket, server: hello.server },
      });
    } finally {
      this.openings--;
      const waiting = this.waiting;
      this.waiting = [];
      for (const wake of waiting) wake();
    }
    if (!(path instanceof HubLink)) {
      this.hubSpeaksV1 = true;
      publish("switchyard:upstream:connected", { backend: "hub", role: request.role, seconds: elapsedSince(started) });
      return path;
    }
    this.hubSpeaksV1 = false;
    this.links.add(path);
    return path.openSession(request, started);
  }
}

/** One shared WebSocket to a hub and the sessions on it. */
class HubLink implements LinkPort {
  readonly server: string | undefined;
  private readonly maxSessions: number;
  private readonly sessions = new Map<string, LinkChannel>();
  private readonly drainWaiters = new Set<LinkChannel>();
  private readonly heartbeat: WsHeartbeat;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    hello: HubHello,
    private readonly pool: HubLinkPool,
    readonly settings: HubLinkSettings,
  ) {
    this.server = hello.server;
    this.maxSessions = Math.min(settings.maxSessions, hello.version === 2 ? (hello.maxSessions ?? Infinity) : Infinity);
    // A bug in the link's handling is contained: counted, and the link (with its sessions) is lost, never the process.
    const crash = (error: unknown) => this.fail(HUB_CLOSE_CODE.internal, reportContained("backend", error));
    ws.on(
      "message",
      guard((data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary), crash),
    );
    ws.on(
      "close",
      guard(
        (code: number, reason: Buffer) => this.lose(`the hub closed the link (${code}${reason.length > 0 ? ` ${reason}` : ""})`),
        crash,
      ),
    );
    ws.on(
      "error",
      guard((error: Error) => this.lose(`link error: ${error.message}`), crash),
    );
    this.heartbeat = new WsHeartbeat(ws, settings.pingIntervalMs, {
      idle: () => this.closed,
      silent: () => {
        this.ws.terminate();
        this.lose("the hub did not answer a WebSocket ping on the link");
      },
      wrap: (tick) => guard(tick, crash),
    });
  }

  get load(): number {
    return this.sessions.size;
  }

  get hasRoom(): boolean {
    return !this.closed && this.sessions.size < this.maxSessions;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  openSession(request: LinkSessionRequest, started: bigint): Promise<HubSessionPath> {
    const { session } = request.opening;
    const refuse = (code: ErrorCode, detail: string) => {
      publish("switchyard:upstream:failed", { backend: "hub", role: request.role, code, seconds: elapsedSince(started) });
      return Promise.reject(new SwitchyardError(code, `hub: ${detail}`));
    };
    if (!this.hasRoom) return refuse("SWY_ERR_HUB_LINK_FULL", `the link holds ${this.sessions.size} sessions (limit ${this.maxSessions})`);
    if (this.sessions.has(session)) return refuse("SWY_ERR_UPSTREAM_REJECTED", `session ${session} is already open on the link`);
    return new Promise<HubSessionPath>((resolve, reject) => {
      const channel = new LinkChannel(this, session, this.settings, {
        opened: () => {
          publish("switchyard:upstream:connected", { backend: "hub", role: request.role, seconds: elapsedSince(started) });
          resolve({ kind: "link", channel, server: this.server });
        },
        failed: (code, detail) => {
          publish("switchyard:upstream:failed", { backend: "hub", role: request.role, code, seconds: elapsedSince(started) });
          reject(new SwitchyardError(code, `hub: ${detail}`));
        },
      });
      this.sessions.set(session, channel);
      this.send(encodeOpenFrame(request.opening));
      const remaining = Math.max(1, request.connectTimeoutMs - elapsedSince(started) * 1000);
      channel.awaitOpened(remaining);
    });
  }

  send(frame: string | Buffer): void {
    if (!this.closed) this.ws.send(frame, this.written);
  }

  /** A session wrote: if the link is behind, it waits for the link to drain. */
  wantDrain(channel: LinkChannel): void {
    if (this.ws.bufferedAmount > this.settings.drainLowWater) this.drainWaiters.add(channel);
  }

  forget(channel: LinkChannel): void {
    if (this.sessions.get(channel.session) === channel) this.sessions.delete(channel.session);
    this.drainWaiters.delete(channel);
  }

  shutdown(): void {
    if (this.closed) return;
    this.ws.close(HUB_CLOSE_CODE.normal, "the gateway is shutting down");
    this.lose("the gateway closed the link");
  }

  private readonly written = (): void => {
    if (this.drainWaiters.size === 0 || this.ws.bufferedAmount > this.settings.drainLowWater) return;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const channel of waiters) channel.drained();
  };

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (data.length > this.settings.maxFrameBytes) {
      this.fail(1009, `a ${data.length}-byte frame (HUB_LINK_MAX_FRAME_BYTES ${this.settings.maxFrameBytes})`);
      return;
    }
    try {
      if (isBinary) {
        const { session, bytes } = decodeLinkBinary(data);
        this.sessions.get(session)?.receive(bytes, true, undefined);
        return;
      }
      const frame = parseLinkFrame(data.toString("utf8"));
      switch (frame.type) {
        case "hello":
          throw new LinkFrameError("a second hello");
        case "opened":
          // An opened for a session the gateway gave up on (timed out, closed) crosses its close: ignored.
          this.sessions.get(frame.session)?.opened();
          return;
        case "close":
          this.sessions.get(frame.session)?.hubClosed(frame.code, frame.reason);
          return;
        case "session":
          // Frames of a closed session may cross its close frame: ignored.
          this.sessions.get(frame.session)?.receive(data, false, frame.frame);
          return;
        case "unknown":
          return;
      }
    } catch (error) {
      if (!(error instanceof LinkFrameError)) throw error;
      this.fail(HUB_CLOSE_CODE.protocolError, `link protocol error: ${error.message}`);
    }
  }

  private fail(closeCode: number, detail: string): void {
    if (this.closed) return;
    this.ws.close(closeCode, closeReason(detail));
    this.lose(detail);
  }

  /** The link is gone: every session on it ends (SWY_ERR_HUB_LINK_LOST); the next session opens a new link. */
  private lose(detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat.stop();
    this.pool.remove(this);
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.drainWaiters.clear();
    for (const channel of sessions) channel.lost(detail);
  }
}
