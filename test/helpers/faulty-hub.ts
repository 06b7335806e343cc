/**
 * Hubs that misbehave on purpose, for the shadow tests: a real `ws` server on 127.0.0.1 speaking (or
 * failing to speak) docs/hub-protocol.md. One behaviour per server, switchable at run time:
 *
 * - proxy:   a transparent hub-protocol proxy in front of a real hub (the sample hub); hub→gateway event
 *            and broadcast frames can be dropped or altered (`transform`) and every hub→gateway frame
 *            delayed (`delayMs`)
 * - refuse:  answers the upgrade with an HTTP error status
 * - wrong-subprotocol: accepts the upgrade but selects another subprotocol, or none
 * - no-hello: accepts the upgrade and never says hello, until `releaseHellos()` (then as mute)
 * - mute:    says hello and accepts every namespace, then never sends anything else (no event, no ack)
 * - stalled: says hello, accepts the first namespace, then stops reading its socket: what the gateway
 *            sends piles up in its buffers
 * - garbage: says hello and accepts every namespace; right after accepting the first one it sends
 *            `frames` (strings: text frames, Buffers: binary frames)
 *
 * `cutConnections()` is a hub dying mid-session (a crash, a pod killed): every connection is destroyed
 * without a close frame. `kill()` also closes the port, so new sessions are refused by the OS.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { randomBytes } from "node:crypto";
import { WebSocket, WebSocketServer, type RawData } from "ws";

export const HUB_SUBPROTOCOL = "switchyard-hub.v1";
const HELLO = JSON.stringify({ type: "hello", version: 1, server: "faulty-hub" });
/** Upgrade headers a proxy passes on to the real hub (the rest is the WebSocket handshake's own). */
const PASSED_HEADERS = /^(x-switchyard-|x-forwarded-|cookie$|authorization$|user-agent$|origin$|accept-language$)/;

/** A hub→gateway text frame, parsed. Return the frame to send (the same or a changed one) or undefined to drop it. */
export type FrameTransform = (frame: Record<string, unknown>) => Record<string, unknown> | undefined;

export type HubBehaviour =
  | { readonly kind: "proxy"; readonly target: string; readonly transform?: FrameTransform; readonly delayMs?: number }
  | { readonly kind: "refuse"; readonly status: number }
  | { readonly kind: "wrong-subprotocol"; readonly protocol?: string }
  | { readonly kind: "no-hello" }
  | { readonly kind: "mute" }
  | { readonly kind: "stalled" }
  | { readonly kind: "garbage"; readonly frames: readonly (string | Buffer)[] };

export class FaultyHub {
  /** Upgrade requests received (sessions the gateway tried to open). */
  upgrades = 0;
  /** Frames received from gateways (not counting what a stalled hub never read). */
  framesIn = 0;
  /** no-hello: frames a gateway sent before the hello (the protocol says it sends none). */
  framesBeforeHello = 0;
  private readonly sockets = new Set<Socket>();
  private readonly waitingForHello = new Set<WebSocket>();
  private readonly wss: WebSocketServer;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly http: Server,
    readonly port: number,
    public behaviour: HubBehaviour,
    wss: WebSocketServer,
  ) {
    this.wss = wss;
  }

  static async start(behaviour: HubBehaviour): Promise<FaultyHub> {
    const http = createServer((_req, res) => {
      res.writeHead(426, { "content-type": "text/plain" });
      res.end("a faulty hub\n");
    });
    let hub: FaultyHub | undefined;
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: (protocols) => {
        const current = hub!.behaviour;
        if (current.kind === "wrong-subprotocol") return current.protocol ?? false;
        return protocols.has(HUB_SUBPROTOCOL) ? HUB_SUBPROTOCOL : false;
      },
    });
    http.on("connection", (socket: Socket) => {
      hub!.sockets.add(socket);
      socket.once("close", () => hub!.sockets.delete(socket));
    });
    http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => hub!.onUpgrade(req, socket, head));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    hub = new FaultyHub(http, (http.address() as AddressInfo).port, behaviour, wss);
    return hub;
  }

  /** ws://127.0.0.1:port/ — what HUB_SHADOW_URL should be. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** Gateway connections currently open (the proxy's own connections to its target are not counted). */
  get openConnections(): number {
    return this.wss.clients.size;
  }

  /** no-hello: sessions still waiting for their hello. */
  get waitingSessions(): number {
    return this.waitingForHello.size;
  }

  /** no-hello: the sessions waiting so far get their hello now and behave as "mute" from then on. */
  releaseHellos(): void {
    for (const ws of this.waitingForHello) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(HELLO);
      ws.on("message", (data: RawData, isBinary: boolean) => this.acceptConnects(ws, data, isBinary));
    }
    this.waitingForHello.clear();
  }

  /** Every connection is destroyed without a close frame; the port keeps listening. */
  cutConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    for (const ws of this.wss.clients) ws.terminate();
  }

  /** The hub dies for good: connections destroyed, port closed. */
  async kill(): Promise<void> {
    this.cutConnections();
    await this.close();
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const ws of this.wss.clients) ws.terminate();
      this.wss.close();
      this.http.close(() => resolve());
      this.http.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    this.upgrades++;
    const behaviour = this.behaviour;
    if (behaviour.kind === "refuse") {
      const body = JSON.stringify({ error: "refused by the faulty hub" });
      socket.end(
        `HTTP/1.1 ${behaviour.status} Refused\r\nconnection: close\r\ncontent-type: ` +
          `application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on("error", () => ws.terminate());
      switch (behaviour.kind) {
        case "proxy":
          return this.proxy(ws, req, behaviour);
        case "no-hello":
          this.waitingForHello.add(ws);
          ws.on("message", () => {
            if (this.waitingForHello.has(ws)) this.framesBeforeHello++;
          });
          ws.once("close", () => this.waitingForHello.delete(ws));
          return;
        case "mute":
          ws.send(HELLO);
          ws.on("message", (data: RawData, isBinary: boolean) => this.acceptConnects(ws, data, isBinary));
          return;
        case "stalled":
          ws.send(HELLO);
          ws.once("message", (data: RawData, isBinary: boolean) => {
            this.acceptConnects(ws, data, isBinary);
            // Nothing is read from now on: the kernel buffers fill, then the gateway's.
            ws.pause();
          });
          return;
        case "garbage": {
          ws.send(HELLO);
          let sent = false;
          ws.on("message", (data: RawData, isBinary: boolean) => {
            if (!this.acceptConnects(ws, data, isBinary) || sent) return;
            sent = true;
            for (const frame of behaviour.frames) if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: Buffer.isBuffer(frame) });
          });
          return;
        }
        case "wrong-subprotocol":
          ws.send(HELLO);
          return;
      }
    });
  }

  /** Counts a gateway frame and answers it when it is a connect; true when it was one. */
  private acceptConnects(ws: WebSocket, data: RawData, isBinary: boolean): boolean {
    this.framesIn++;
    if (isBinary) return false;
    const frame = JSON.parse(data.toString()) as { type?: unknown; nsp?: unknown; sid?: unknown };
    if (frame.type !== "connect") return false;
    // 2.x sessions come with the socket id to adopt; any id will do for the others.
    const sid = typeof frame.sid === "string" ? frame.sid : randomBytes(15).toString("base64url");
    ws.send(JSON.stringify({ type: "connect", nsp: frame.nsp, sid }));
    return true;
  }

  /** A transparent proxy to a real hub, with the hub→gateway frames transformed and/or delayed. */
  private proxy(downstream: WebSocket, req: IncomingMessage, behaviour: Extract<HubBehaviour, { kind: "proxy" }>): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (PASSED_HEADERS.test(name) && typeof value === "string") headers[name] = value;
    const upstream = new WebSocket(behaviour.target, [HUB_SUBPROTOCOL], { headers, perMessageDeflate: false });
    const early: { data: RawData; isBinary: boolean }[] = [];
    upstream.on("error", () => downstream.terminate());
    upstream.on("open", () => {
      for (const { data, isBinary } of early.splice(0)) upstream.send(data as Buffer, { binary: isBinary });
    });
    downstream.on("message", (data: RawData, isBinary: boolean) => {
      this.framesIn++;
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data as Buffer, { binary: isBinary });
      else early.push({ data, isBinary });
    });
    const toGateway = (data: RawData, isBinary: boolean) => {
      if (downstream.readyState !== WebSocket.OPEN) return;
      if (isBinary || behaviour.transform === undefined) {
        downstream.send(data as Buffer, { binary: isBinary });
        return;
      }
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      // Frames announcing binary attachments pass unchanged: their binary frames follow them.
      const carriesData = frame.type === "event" || frame.type === "broadcast";
      const changed = carriesData && frame.attachments === undefined ? behaviour.transform(frame) : frame;
      if (changed !== undefined) downstream.send(changed === frame ? (data as Buffer) : JSON.stringify(changed), { binary: false });
    };
    upstream.on("message", (data: RawData, isBinary: boolean) => {
      // Equal delays fire in the order they were set: the frame order is kept.
      if (behaviour.delayMs === undefined) toGateway(data, isBinary);
      else setTimeout(() => toGateway(data, isBinary), behaviour.delayMs);
    });
    const closeOther = (other: WebSocket, code: number, reason: Buffer) => {
      // 1005/1006 cannot be sent in a close frame: the other side is cut off the same way.
      if (code === 1005 || code === 1006) other.terminate();
      else if (other.readyState === WebSocket.OPEN) other.close(code, reason);
      else other.terminate();
    };
    upstream.on("close", (code: number, reason: Buffer) => closeOther(downstream, code, reason));
    downstream.on("close", (code: number, reason: Buffer) => closeOther(upstream, code, reason));
  }
}
