/**
 * A worker's own port (WORKERS > 1). The client port is shared by every worker through node:cluster, so a
 * request forwarded there could land on any worker; each worker therefore also listens on a port of its own
 * (`exclusive`: bound by the worker, not shared through the primary), serving the same handler, and publishes
 * that port as its internal URL in the session registry.
 */
import type { Server as HttpServer } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";

export interface PrivateListener {
  readonly address: AddressInfo;
  /** Stops accepting (the connections it took are the gateway's, closed by its shutdown). */
  close(): void;
}

/**
 * Listens on `host`, port 0, and hands every connection to `http` (node's http and https servers both take a
 * raw socket through their "connection" event, and track it for their own close).
 */
export function listenPrivately(http: HttpServer, host: string): Promise<PrivateListener> {
  const server: Server = createServer((socket) => http.emit("connection", socket));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.off("error", reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () => void server.close(),
      });
    });
  });
}

/** INTERNAL_URL set (compose: the instance's host name): the same URL with the worker's own port. */
export function withPort(internalUrl: string, port: number): string {
  const url = new URL(internalUrl);
  url.port = String(port);
  return url.toString().replace(/\/$/, "");
}
