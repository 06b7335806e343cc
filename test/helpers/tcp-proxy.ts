/**
 * A tiny TCP proxy on 127.0.0.1 for simulating outages of a shared server (Redis) without touching it:
 * `cut()` drops every connection and refuses new ones (a dead server), `stall()` keeps connections open
 * but stops forwarding (a hung one), `restore()` brings it back.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export type ProxyState = "up" | "cut" | "stalled";

export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private mode: ProxyState = "up";

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, targetPort, targetHost));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get state(): ProxyState {
    return this.mode;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, port: number, host: string): void {
    if (this.mode === "cut") {
      client.destroy();
      return;
    }
    const upstream = createConnection(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on("data", (chunk: Buffer) => {
        // A stalled proxy swallows traffic in both directions, like a hung peer.
        if (this.mode === "up") to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  }

  cut(): void {
    this.mode = "cut";
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  stall(): void {
    this.mode = "stalled";
  }

  restore(): void {
    // Connections that lived through a stall carry a half-forwarded stream: drop them, clients reconnect.
    if (this.mode === "stalled") this.cut();
    this.mode = "up";
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
