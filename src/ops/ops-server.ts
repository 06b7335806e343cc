/**
 * The operations listener (OPS_PORT): /metrics, /healthz, /readyz, and whatever routes the admin API
 * registers. Kept apart from the client listener so that it can be firewalled separately.
 */
import { answerClientError, listenerOptions, type HttpLimits } from "../limits/listener-limits.js";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import type { Metrics } from "./metrics.js";

export interface ReadinessCheck {
  readonly name: string;
  /** `ok: false` makes /readyz answer 503; `detail` is shown either way. */
  check(): { ok: boolean; detail?: string | undefined };
}

export type OpsHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface OpsServer {
  readonly http: Server;
  route(method: string, path: string, handler: OpsHandler): void;
  /** Serves every request no route matches (the primary process of WORKERS > 1 proxies /admin/* to a worker). */
  fallback(handler: OpsHandler): void;
  addReadinessCheck(check: ReadinessCheck): void;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** The request URL, or null when it cannot be parsed (Node 20 has no URL.parse). */
function parseUrl(text: string): URL | null {
  try {
    return new URL(text, "http://ops.invalid");
  } catch {
    return null;
  }
}

/** `limits`: the same request bounds as the client listener (HEADERS_TIMEOUT_MS, ...); absent: node's defaults. */
export function createOpsServer(metrics: Pick<Metrics, "render" | "contentType">, logger: Logger, limits?: HttpLimits): OpsServer {
  const routes = new Map<string, OpsHandler>();
  const checks: ReadinessCheck[] = [];
  let fallback: OpsHandler | undefined;

  routes.set("GET /healthz", (_req, res) => sendJson(res, 200, { status: "ok" }));
  routes.set("GET /readyz", (_req, res) => {
    const results = checks.map((c) => ({ name: c.name, ...c.check() }));
    const ready = results.every((r) => r.ok);
    sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks: results });
  });
  routes.set("GET /metrics", async (_req, res) => {
    const body = await metrics.render();
    res.writeHead(200, { "content-type": metrics.contentType });
    res.end(body);
  });

  const http = createServer(listenerOptions(limits), (req, res) => {
    const url = parseUrl(req.url ?? "/");
    if (url === null) {
      // `GET //[ HTTP/1.1` is a valid request line and not a valid URL: refused, not thrown.
      publish("switchyard:error:contained", { boundary: "admin", code: "SWY_ERR_BAD_REQUEST" });
      sendJson(res, 400, {
        code: "SWY_ERR_BAD_REQUEST",
        message: `cannot parse the request URL ${JSON.stringify((req.url ?? "").slice(0, 100))}`,
      });
      return;
    }
    const handler = routes.get(`${req.method} ${url.pathname}`) ?? fallback;
    if (handler === undefined) {
      const known = [...routes.keys()].some((key) => key.endsWith(` ${url.pathname}`));
      sendJson(res, known ? 405 : 404, {
        code: known ? "SWY_ERR_ADMIN_BAD_REQUEST" : "SWY_ERR_ADMIN_NOT_FOUND",
        message: known ? `method ${req.method} not allowed` : `no route ${url.pathname}`,
      });
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((error: unknown) => {
        // Handlers answer every refusal themselves (4xx with a code); what arrives here is a bug.
        logger.error({ code: "SWY_ERR_INTERNAL", err: reportContained("admin", error), path: url.pathname }, "ops handler failed");
        if (!res.headersSent) sendJson(res, 500, { code: "SWY_ERR_INTERNAL", message: `internal error while serving ${url.pathname}` });
        else res.destroy();
      });
  });

  http.on("clientError", answerClientError);

  return {
    http,
    route: (method, path, handler) => void routes.set(`${method} ${path}`, handler),
    fallback: (handler) => {
      fallback = handler;
    },
    addReadinessCheck: (check) => void checks.push(check),
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        http.once("error", reject);
        // exclusive: in a worker process (WORKERS > 1), its own port rather than one shared through the primary.
        http.listen({ port, host, exclusive: true }, () => {
          http.off("error", reject);
          resolve(http.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
