/**
 * A load balancer without stickiness, for the multi-instance tests: every HTTP request and every
 * WebSocket connection goes to the next target in turn. Requests of one Engine.IO session (same `sid`)
 * alternate between the targets strictly, whatever other sessions do meanwhile, so that a polling
 * session really sees every other request land on another instance. `pin(i)` sends everything to one
 * target until `alternate()`.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";

interface Target {
  readonly host: string;
  readonly port: number;
}

/** Replays an upgrade request (as received) on a connection to the target, then joins the two streams. */
export function tunnelUpgrade(req: IncomingMessage, head: Buffer, client: Duplex, upstream: Socket): void {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
  if (head.length > 0) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
}

export class RoundRobinProxy {
  /** Per sid: how many requests (and WebSocket connections) went to each target. */
  readonly hits = new Map<string, number[]>();
  private readonly targets: Target[];
  private readonly lastTarget = new Map<string, number>();
  private readonly tunnels = new Set<Duplex>();
  private turn = 0;
  private pinned: number | undefined;

  private constructor(
    private readonly server: Server,
    targets: readonly string[],
  ) {
    this.targets = targets.map((url) => {
      const parsed = new URL(url);
      return { host: parsed.hostname, port: Number(parsed.port) };
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.web(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  static async start(targets: readonly string[]): Promise<RoundRobinProxy> {
    const server = createServer({ keepAlive: true });
    const proxy = new RoundRobinProxy(server, targets);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  pin(index: number): void {
    this.pinned = index;
  }

  alternate(): void {
    this.pinned = undefined;
  }

  /** How many targets requests of this sid reached (2 = it alternated between both instances). */
  targetsSeenBy(sid: string): number {
    return (this.hits.get(sid) ?? []).filter((count) => count > 0).length;
  }

  private pick(req: IncomingMessage): number {
    if (this.pinned !== undefined) return this.pinned;
    const sid = new URL(req.url ?? "/", "http://lb.invalid").searchParams.get("sid");
    const count = this.targets.length;
    if (sid === null) return this.turn++ % count;
    const index = ((this.lastTarget.get(sid) ?? this.turn++) + 1) % count;
    this.lastTarget.set(sid, index);
    const hits = this.hits.get(sid) ?? new Array<number>(count).fill(0);
    hits[index]!++;
    this.hits.set(sid, hits);
    return index;
  }

  private web(req: IncomingMessage, res: ServerResponse): void {
    const target = this.targets[this.pick(req)]!;
    const upstream = request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private upgrade(req: IncomingMessage, client: Duplex, head: Buffer): void {
    const target = this.targets[this.pick(req)]!;
    const upstream: Socket = connect(target.port, target.host);
    this.tunnels.add(client);
    this.tunnels.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.tunnels.delete(client);
      this.tunnels.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    upstream.once("connect", () => {
      tunnelUpgrade(req, head, client, upstream);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.tunnels) socket.destroy();
    this.tunnels.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
