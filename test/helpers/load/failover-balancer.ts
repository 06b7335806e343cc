/**
 * A load balancer with a preference and fail-over, as a health-checking LB behaves in front of a gateway
 * cluster: a request or WebSocket connection goes to the target its client prefers (query parameter `gw`,
 * an index; without it, round robin), and to the next target when that one refuses the connection (an
 * instance that was killed, or stopped listening while it drains). One client's requests therefore stay
 * on one instance while it lives, and move to another when it dies. With health checks (each target's
 * /readyz, polled), a new session (a request without `sid`) skips a target that is not ready, as a
 * Kubernetes Service skips an unready pod; requests of open sessions still reach their instance. It
 * remembers which target took each `userId`'s last handshake, which is where that user's session lives.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { tunnelUpgrade } from "../round-robin-proxy.js";

interface Target {
  readonly host: string;
  readonly port: number;
  /** /readyz of the target, when health-checked. */
  readonly readyUrl: string | undefined;
  ready: boolean;
}

export interface BalancerTarget {
  readonly url: string;
  /** The target's ops listener: /readyz is polled every HEALTH_CHECK_MS. */
  readonly opsUrl?: string;
}

/** How often a health-checked target's /readyz is polled. */
export const HEALTH_CHECK_MS = 200;

export class FailoverBalancer {
  /** userId → index of the target that took its last handshake. */
  readonly targetOfUser = new Map<string, number>();
  private readonly tunnels = new Set<Duplex>();
  private turn = 0;
  private readonly checker: NodeJS.Timeout;
  private checking = false;

  private constructor(
    private readonly server: Server,
    private readonly targets: Target[],
  ) {
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.web(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.checker = setInterval(() => void this.checkHealth(), HEALTH_CHECK_MS);
  }

  static async start(targets: readonly BalancerTarget[]): Promise<FailoverBalancer> {
    const parsed = targets.map((target) => ({
      host: new URL(target.url).hostname,
      port: Number(new URL(target.url).port),
      readyUrl: target.opsUrl === undefined ? undefined : `${target.opsUrl}/readyz`,
      ready: true,
    }));
    const server = createServer({ keepAlive: true });
    const balancer = new FailoverBalancer(server, parsed);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return balancer;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async checkHealth(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    await Promise.all(
      this.targets.map(async (target) => {
        if (target.readyUrl === undefined) return;
        try {
          // A slow answer is a busy instance, not an unready one: only an answer or a refusal decides.
          const answer = await fetch(target.readyUrl, { signal: AbortSignal.timeout(5000) });
          await answer.arrayBuffer();
          target.ready = answer.status === 200;
        } catch {
          target.ready = false;
        }
      }),
    );
    this.checking = false;
  }

  /** Points target `index` elsewhere (an instance restarted on another port). */
  setTarget(index: number, target: BalancerTarget): void {
    this.targets[index] = {
      host: new URL(target.url).hostname,
      port: Number(new URL(target.url).port),
      readyUrl: target.opsUrl === undefined ? undefined : `${target.opsUrl}/readyz`,
      ready: true,
    };
  }

  /** The targets to try, preferred first; for a new session, ready ones before unready ones. */
  private order(req: IncomingMessage): number[] {
    const query = new URL(req.url ?? "/", "http://lb.invalid").searchParams;
    const wanted = Number(query.get("gw"));
    const first = query.has("gw") && Number.isInteger(wanted) && wanted >= 0 ? wanted % this.targets.length : this.turn++;
    const all = this.targets.map((_, i) => (first + i) % this.targets.length);
    if (query.has("sid")) {
      // A request of an open session goes where its handshake went (polling clients repeat their query).
      const home = this.targetOfUser.get(query.get("userId") ?? "");
      return home === undefined ? all : [home, ...all.filter((i) => i !== home)];
    }
    return [...all.filter((i) => this.targets[i]!.ready), ...all.filter((i) => !this.targets[i]!.ready)];
  }

  private remember(req: IncomingMessage, index: number): void {
    const query = new URL(req.url ?? "/", "http://lb.invalid").searchParams;
    const user = query.get("userId");
    if (user !== null && query.get("sid") === null) this.targetOfUser.set(user, index);
  }

  private web(req: IncomingMessage, res: ServerResponse): void {
    // Buffered first: a request refused by one target is sent again, whole, to the next.
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => this.send(req, res, Buffer.concat(chunks), this.order(req)));
    req.on("error", () => res.destroy());
  }

  private send(req: IncomingMessage, res: ServerResponse, body: Buffer, order: number[]): void {
    const index = order[0]!;
    const target = this.targets[index]!;
    const upstream = request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        this.remember(req, index);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      },
    );
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED" && order.length > 1) return this.send(req, res, body, order.slice(1));
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  }

  private upgrade(req: IncomingMessage, client: Duplex, head: Buffer): void {
    this.tunnels.add(client);
    client.on("error", () => client.destroy()).on("close", () => this.tunnels.delete(client));
    this.tunnel(req, client, head, this.order(req));
  }

  private tunnel(req: IncomingMessage, client: Duplex, head: Buffer, order: number[]): void {
    if (client.destroyed) return;
    const index = order[0]!;
    const target = this.targets[index]!;
    const upstream: Socket = connect(target.port, target.host);
    this.tunnels.add(upstream);
    let opened = false;
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      upstream.destroy();
      if (!opened && error.code === "ECONNREFUSED" && order.length > 1) return this.tunnel(req, client, head, order.slice(1));
      client.destroy();
    });
    upstream.on("close", () => {
      this.tunnels.delete(upstream);
      if (opened) client.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.once("connect", () => {
      opened = true;
      this.remember(req, index);
      tunnelUpgrade(req, head, client, upstream);
    });
  }

  async close(): Promise<void> {
    clearInterval(this.checker);
    for (const socket of this.tunnels) socket.destroy();
    this.tunnels.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
