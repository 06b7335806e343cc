/**
 * The operations listener (OPS_PORT) of an instance of several workers (WORKERS > 1), served by its primary
 * process: /metrics merges the workers' registries with the primary's (worker-metrics.ts); /healthz answers while
 * a worker serves; /readyz is ready when every worker is up and answers ready on its own ops listener (a worker
 * that restarts makes the instance unready until it is back); /admin/* is proxied to a live worker's ops
 * listener (admin state lives in Redis, so any worker answers for the instance).
 */
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { HttpLimits } from "../limits/listener-limits.js";
import { createOpsServer, sendJson, type OpsServer } from "./ops-server.js";
import type { PrimaryMetrics } from "./worker-metrics.js";

/** A worker slot as the primary sees it. */
export interface WorkerView {
  /** `w1`, `w2`, ...: the slot (a restarted worker keeps it). */
  readonly name: string;
  /** Its ops listener once it listens; undefined while it starts or restarts. */
  readonly opsUrl: string | undefined;
}

export interface PrimaryOpsOptions {
  readonly metrics: PrimaryMetrics;
  /** Every worker's registry, as getMetricsAsJSON gave it (a worker that does not answer in time is left out). */
  readonly collect: () => Promise<unknown[][]>;
  readonly workers: () => readonly WorkerView[];
  readonly logger: Logger;
  readonly limits?: HttpLimits;
}

const WORKER_CHECK_TIMEOUT_MS = 2_000;

interface WorkerCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

async function checkWorker(worker: WorkerView): Promise<WorkerCheck> {
  const name = `worker ${worker.name}`;
  if (worker.opsUrl === undefined) return { name, ok: false, detail: "starting or restarting" };
  try {
    const response = await fetch(`${worker.opsUrl}/readyz`, { signal: AbortSignal.timeout(WORKER_CHECK_TIMEOUT_MS) });
    const body = (await response.json()) as { checks?: { name: string; ok: boolean; detail?: string }[] };
    const failed = (body.checks ?? []).filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail ?? "not ok"}`);
    return {
      name,
      ok: response.status === 200,
      detail: response.status === 200 ? "ready" : failed.join("; ") || `answered ${response.status}`,
    };
  } catch (error) {
    return { name, ok: false, detail: `did not answer (${(error as Error).message})` };
  }
}

/** Passes one admin request to a worker's ops listener and its answer back. */
function proxy(req: IncomingMessage, res: ServerResponse, target: string, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    // The audit log names the caller, not the primary: its address travels as X-Forwarded-For.
    const caller = req.socket.remoteAddress ?? "";
    const forwarded = req.headers["x-forwarded-for"];
    const headers = { ...req.headers, "x-forwarded-for": typeof forwarded === "string" ? `${forwarded}, ${caller}` : caller };
    const upstream = request(`${target}${req.url ?? "/"}`, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.once("end", resolve);
      answer.once("error", () => resolve(void res.destroy()));
    });
    upstream.once("error", (error) => {
      logger.warn({ code: "SWY_ERR_WORKER_UNAVAILABLE", err: error.message, target }, "admin call: the worker did not answer");
      if (!res.headersSent)
        sendJson(res, 503, { code: "SWY_ERR_WORKER_UNAVAILABLE", message: "the instance's worker did not answer; retry" });
      else res.destroy();
      resolve();
    });
    req.pipe(upstream);
  });
}

export function createPrimaryOps(options: PrimaryOpsOptions): OpsServer {
  const { metrics, logger } = options;
  const ops = createOpsServer(
    { contentType: metrics.contentType, render: async () => metrics.render(await options.collect()) },
    logger,
    options.limits,
  );
  ops.route("GET", "/healthz", (_req, res) => {
    const workers = options.workers().map((worker) => ({ name: worker.name, up: worker.opsUrl !== undefined }));
    const serving = workers.some((worker) => worker.up);
    sendJson(res, serving ? 200 : 503, { status: serving ? "ok" : "no worker serving", workers });
  });
  ops.route("GET", "/readyz", async (_req, res) => {
    const checks = await Promise.all(options.workers().map(checkWorker));
    const ready = checks.every((check) => check.ok);
    sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
  });
  let next = 0;
  ops.fallback(async (req, res, url) => {
    if (!url.pathname.startsWith("/admin/")) {
      sendJson(res, 404, { code: "SWY_ERR_ADMIN_NOT_FOUND", message: `no route ${url.pathname}` });
      return;
    }
    const live = options.workers().filter((worker) => worker.opsUrl !== undefined);
    const target = live[next++ % Math.max(1, live.length)]?.opsUrl;
    if (target === undefined) {
      req.resume();
      sendJson(res, 503, { code: "SWY_ERR_WORKER_UNAVAILABLE", message: "no worker of the instance is up; retry" });
      return;
    }
    await proxy(req, res, target, logger);
  });
  return ops;
}
