/**
 * A TCP proxy on 127.0.0.1 that delays everything the server sends by a fixed time (order kept): a slow
 * backend, far away or overloaded, without touching the backend itself.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export class LatencyProxy {
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, delayMs: number): Promise<LatencyProxy> {
    let proxy: LatencyProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, targetPort, delayMs));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new LatencyProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private later(action: () => void, delayMs: number): void {
    // Equal delays fire in the order they were set: the byte stream keeps its order.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, delayMs);
    this.timers.add(timer);
  }

  private accept(client: Socket, port: number, delayMs: number): void {
    const upstream = createConnection(port, "127.0.0.1");
    this.sockets.add(client).add(upstream);
    client.on("data", (chunk: Buffer) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => this.later(() => client.write(chunk), delayMs));
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    // What the server sent before closing still arrives, late.
    upstream.on("error", drop).on("close", () => this.later(drop, delayMs));
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
