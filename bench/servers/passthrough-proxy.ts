/**
 * The baseline: a plain http-proxy-3 pass-through in front of the legacy server, with nothing else (no
 * keep-alive agent, no header scrubbing), i.e. the cheapest a Node proxy in that position can be.
 * Env: TARGET (the legacy URL), PORT (0 = any), HOST. Prints `{"url": ...}` once listening.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createProxyServer } from "http-proxy-3";

const target = process.env.TARGET;
if (target === undefined || target === "") throw new Error("TARGET (the legacy server URL) is required");
const host = process.env.HOST ?? "127.0.0.1";

const proxy = createProxyServer({ target, ws: true });
// A failed request or socket must not take the process down; the client sees its connection end.
proxy.on("error", (_error, _req, resOrSocket) => {
  if (resOrSocket !== undefined && "destroy" in resOrSocket) resOrSocket.destroy();
});
const server = createServer((req, res) => proxy.web(req, res));
server.on("upgrade", (req, socket, head) => proxy.ws(req, socket, head));

server.listen(Number(process.env.PORT ?? 0), host, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: "pass-through proxy listening", url: `http://${host}:${port}` })}\n`);
});
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  proxy.close();
  process.exit(0);
});
