/**
 * The admin API on the operations listener (OPS_PORT):
 *   GET  /admin/routing    the routing config document; ETag: "<version>"
 *   PUT  /admin/routing    the whole document, JSON, with If-Match: <version> (428 without; 409 when
 *                          stale; 400 naming every problem; all or nothing)
 *   PATCH /admin/routing   a JSON Merge Patch (RFC 7396) of the document: only the fields it names change;
 *                          If-Match optional (without it, applied to whatever version is current)
 *   POST /admin/drain      {"backend": "hub"|"legacy", "percent": N (default 100)}: every instance closes
 *                          that share of its sessions of the backend, paced; answers how many it will close
 *   POST /admin/rollback   hubPercent 0 and drain the hub 100 %, as one audited call
 *   GET  /admin/sessions   sessions per backend, transport and instance; desired vs applied versions
 *   GET  /admin/audit      the newest audit entries (?limit=N, default 50)
 * Mutations need `Authorization: Bearer $ADMIN_TOKEN` and are written to the audit log; so do the reads
 * that reveal user data or operators' activity (sessions, audit, shadow evidence). The routing document is
 * open to read (the ops listener is meant to be firewalled: OPS_HOST). Errors are JSON `{code: "SWY_ERR_...", message}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { applyMergePatch } from "../config/merge-patch.js";
import { RoutingConfigError, type RoutingConfig } from "../config/routing-config.js";
import { isSwitchyardError } from "../errors.js";
import { isPlainObject } from "../protocol/json-values.js";
import { subscribe } from "../telemetry/events.js";
import { RoutingConflictError, type DrainDelivery, type RoutingStore, type RoutingUpdate } from "../store/routing-store.js";
import type { Backend } from "../domain.js";
import {
  AdminHttpError,
  actorOf,
  authenticate,
  expectedVersionOf,
  optionalExpectedVersionOf,
  readJsonBody,
  sendError,
} from "./admin-http.js";
import { DrainRunner, drainTarget, totalOf, type DrainPacing, type GatewayControl } from "./drain-runner.js";
import { sendJson, type OpsHandler, type OpsServer, type ReadinessCheck } from "./ops-server.js";
import type { DiffEvidence } from "../shadow/evidence.js";
import { abortedRollout } from "../rollout/rollout-section.js";

export type { GatewayControl } from "./drain-runner.js";

export interface AdminApiOptions {
  readonly store: RoutingStore;
  readonly control: GatewayControl;
  /** ADMIN_TOKEN; undefined refuses every mutation (403 SWY_ERR_ADMIN_DISABLED). */
  readonly adminToken: string | undefined;
  readonly logger: Logger;
  readonly pacing?: DrainPacing;
  /** Largest accepted request body (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Shadow mismatch evidence for GET /admin/shadow/diffs (token required: it holds user payloads). */
  readonly shadowEvidence?: DiffEvidence;
}

export interface AdminApi {
  readonly drains: DrainRunner;
  /** Stops drains in progress and unsubscribes from the store. */
  close(): void;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** An instance whose heartbeat is older than this is shown as stale. */
const STALE_AFTER_MS = 5000;
/** A change computed from the current document (rollback, a PATCH without If-Match) retries this often on a concurrent change. */
const UPDATE_ATTEMPTS = 3;
const DRAIN_KEYS = ["backend", "percent"];

/** The routing document's version as an ETag (what If-Match sends back). */
export function etagOf(config: Pick<RoutingConfig, "version">): Record<string, string> {
  return { etag: `"${config.version}"` };
}

export function respondError(res: ServerResponse, error: unknown): void {
  if (error instanceof AdminHttpError) return sendError(res, error.status, error.code, error.message, error.extra, error.headers);
  if (error instanceof RoutingConfigError) return sendError(res, 400, error.code, error.message, { problems: error.problems });
  if (error instanceof RoutingConflictError)
    return sendError(res, 409, error.code, `${error.message}; GET /admin/routing and retry with If-Match: ${error.currentVersion}`, {
      currentVersion: error.currentVersion,
    });
  if (isSwitchyardError(error) && error.code === "SWY_ERR_STORE_UNAVAILABLE") return sendError(res, 503, error.code, error.message);
  if (isSwitchyardError(error) && (error.code === "SWY_ERR_ROLLOUT_ACTIVE" || error.code === "SWY_ERR_ROLLOUT_NONE"))
    return sendError(res, 409, error.code, error.message);
  throw error;
}

/** An admin route whose coded errors become JSON answers (anything else is the ops server's 500). */
export const adminHandler =
  (handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>): OpsHandler =>
  async (req, res, url) => {
    try {
      await handler(req, res, url);
    } catch (error) {
      respondError(res, error);
    }
  };

/**
 * Stores `change(current)` on top of the current document; when someone else changed it meanwhile, reads
 * it again and re-applies the change (UPDATE_ATTEMPTS times). `change` returning undefined means no update.
 */
async function updateOnTop(
  store: RoutingStore,
  change: (current: RoutingConfig) => unknown | undefined,
): Promise<{ config: RoutingConfig; update: RoutingUpdate | undefined }> {
  let config = await store.refresh();
  for (let attempt = 1; ; attempt++) {
    const document = change(config);
    if (document === undefined) return { config, update: undefined };
    try {
      const update = await store.update(document, config.version);
      return { config: update.config, update };
    } catch (error) {
      if (!(error instanceof RoutingConflictError) || attempt >= UPDATE_ATTEMPTS) throw error;
      config = await store.refresh();
    }
  }
}

function limitOf(url: URL): number {
  const text = url.searchParams.get("limit") ?? "50";
  const limit = Number(text);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", `limit: must be an integer 1-1000 (got ${JSON.stringify(text)})`);
  return limit;
}

function parseDrainBody(body: unknown): { backend: Backend; percent: number } {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", 'send {"backend": "hub"|"legacy", "percent": N}');
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !DRAIN_KEYS.includes(key));
  if (unknown.length > 0)
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", `unknown key ${unknown.join(", ")} (allowed: ${DRAIN_KEYS.join(", ")})`);
  if (record.backend !== "hub" && record.backend !== "legacy")
    throw new AdminHttpError(
      400,
      "SWY_ERR_ADMIN_BAD_REQUEST",
      `backend: must be "hub" or "legacy" (got ${JSON.stringify(record.backend) ?? "nothing"})`,
    );
  const percent = record.percent ?? 100;
  if (typeof percent !== "number" || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw new AdminHttpError(
      400,
      "SWY_ERR_ADMIN_BAD_REQUEST",
      `percent: must be a number greater than 0 and at most 100 (got ${JSON.stringify(percent)})`,
    );
  }
  return { backend: record.backend, percent };
}

/** Registers the admin routes on the ops server; also feeds the store's heartbeats with the gateway's counts. */
export function registerAdminApi(ops: OpsServer, options: AdminApiOptions): AdminApi {
  const { store, control, adminToken } = options;
  const log = options.logger.child({ component: "admin-api" });
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const drains = new DrainRunner(control, log, options.pacing);
  const unsubscribe = store.onDrain((command) => void drains.start(command));
  // Refused calls are logged with what was asked and from where; the token they carried never is.
  const unsubscribeRefusals = subscribe("switchyard:admin:refused", (e) =>
    log.warn({ code: e.reason === "disabled" ? "SWY_ERR_ADMIN_DISABLED" : "SWY_ERR_ADMIN_UNAUTHORIZED", ...e }, "admin call refused"),
  );
  store.setSessionCountsSource(() => control.sessionCounts());

  const handle = adminHandler;

  /** Publishes a drain and describes it: this instance's exact plan, the others' estimates. */
  const drainAnswer = async (delivery: DrainDelivery) => {
    const { command } = delivery;
    const local = drains.progressOf(command.id);
    const instances = (await store.instances()).map((instance) => {
      if (instance.instanceId === store.instanceId)
        return { instanceId: instance.instanceId, sessions: local?.sessions ?? 0, willClose: local?.target ?? 0 };
      // Other instances plan their own drain from their own counts; their last heartbeat gives an estimate.
      const sessions = totalOf(instance.sessions[command.backend]);
      return { instanceId: instance.instanceId, sessions, willClose: drainTarget(sessions, command.percent) };
    });
    return {
      id: command.id,
      backend: command.backend,
      percent: command.percent,
      scope: delivery.scope,
      willClose: instances.reduce((sum, instance) => sum + instance.willClose, 0),
      instances,
      pacing: drains.pacing,
    };
  };

  /** Audits a change of the routing document (or that there was none) and answers with the stored document. */
  const answerUpdate = async (
    req: IncomingMessage,
    res: ServerResponse,
    identity: string,
    action: string,
    config: RoutingConfig,
    update: RoutingUpdate | undefined,
  ) => {
    const changes = update !== undefined && update.changes.length > 0 ? update.changes : ["no change"];
    await store.audit({ action, changes, version: config.version, actor: actorOf(req, identity) });
    sendJson(res, 200, config, etagOf(config));
  };

  ops.route(
    "GET",
    "/admin/routing",
    handle(async (_req, res) => {
      const config = store.current();
      sendJson(res, 200, config, { ...etagOf(config), "x-switchyard-store": store.health().state });
    }),
  );

  ops.route(
    "PUT",
    "/admin/routing",
    handle(async (req, res) => {
      const identity = authenticate(req, adminToken);
      const expected = expectedVersionOf(req);
      const document = await readJsonBody(req, res, maxBody);
      const update = await store.update(document, expected);
      await answerUpdate(req, res, identity, "routing.update", update.config, update);
    }),
  );

  ops.route(
    "PATCH",
    "/admin/routing",
    handle(async (req, res) => {
      const identity = authenticate(req, adminToken);
      const expected = optionalExpectedVersionOf(req);
      const patch = await readJsonBody(req, res, maxBody);
      if (!isPlainObject(patch))
        throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", "send a JSON object: a merge patch of the routing document (RFC 7396)");
      // The store assigns versions: a version in the patch is ignored, as in a PUT.
      const merged = (current: RoutingConfig) => ({ ...(applyMergePatch(current, patch) as object), version: current.version });
      const { config, update } =
        expected === undefined
          ? await updateOnTop(store, merged)
          : await store
              .refresh()
              .then((current) => store.update(merged(current), expected))
              .then((done) => ({ config: done.config, update: done }));
      await answerUpdate(req, res, identity, "routing.patch", config, update);
    }),
  );

  ops.route(
    "POST",
    "/admin/drain",
    handle(async (req, res) => {
      const identity = authenticate(req, adminToken);
      const { backend, percent } = parseDrainBody(await readJsonBody(req, res, maxBody));
      const answer = await drainAnswer(await store.publishDrain(backend, percent));
      await store.audit({
        action: "drain",
        changes: [`drain ${backend} ${percent}% (${answer.scope}, ~${answer.willClose} sessions)`],
        actor: actorOf(req, identity),
      });
      sendJson(res, 202, answer);
    }),
  );

  ops.route(
    "POST",
    "/admin/rollback",
    handle(async (req, res) => {
      const identity = authenticate(req, adminToken);
      req.resume();
      // Someone else changing the config meanwhile: roll back on top of their version.
      // A rollout in progress is aborted with it (it owns the split while active).
      const { config, update } = await updateOnTop(store, (current) => {
        const rollout = abortedRollout(current, Date.now());
        if (current.hubPercent === 0 && rollout === undefined) return undefined;
        return { ...current, hubPercent: 0, ...(rollout === undefined ? {} : { rollout }) };
      });
      const drain = await drainAnswer(await store.publishDrain("hub", 100));
      const changes = [
        ...(update?.changes ?? ["hubPercent was already 0"]),
        `drain hub 100% (${drain.scope}, ~${drain.willClose} sessions)`,
      ];
      await store.audit({ action: "rollback", changes, version: config.version, actor: actorOf(req, identity) });
      sendJson(res, 200, { config, drain }, etagOf(config));
    }),
  );

  ops.route(
    "GET",
    "/admin/sessions",
    handle(async (req, res) => {
      authenticate(req, adminToken);
      const now = Date.now();
      const instances = (await store.instances()).map((instance) => ({ ...instance, stale: now - instance.lastSeen > STALE_AFTER_MS }));
      const totals = { legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } };
      for (const instance of instances) {
        if (instance.stale) continue;
        for (const backend of ["legacy", "hub"] as const) {
          totals[backend].polling += instance.sessions[backend].polling;
          totals[backend].websocket += instance.sessions[backend].websocket;
        }
      }
      const desiredVersion = Math.max(store.current().version, ...instances.map((instance) => instance.appliedVersion));
      sendJson(res, 200, {
        desiredVersion,
        hubPercent: store.current().hubPercent,
        store: { kind: store.kind, ...store.health() },
        totals,
        instances,
        drains: drains.list(),
      });
    }),
  );

  ops.route(
    "GET",
    "/admin/audit",
    handle(async (req, res, url) => {
      authenticate(req, adminToken);
      sendJson(res, 200, { entries: await store.recentAudit(limitOf(url)) });
    }),
  );

  ops.route(
    "GET",
    "/admin/shadow/diffs",
    handle(async (req, res, url) => {
      authenticate(req, adminToken);
      const limit = limitOf(url);
      sendJson(res, 200, { entries: (await options.shadowEvidence?.recent(limit)) ?? [] });
    }),
  );

  log.debug({ mutations: adminToken === undefined ? "disabled" : "enabled" }, "admin API registered");
  return {
    drains,
    close() {
      unsubscribe();
      unsubscribeRefusals();
      drains.stop();
    },
  };
}

/**
 * The store's health for /readyz. A degraded store does not make the instance unready by default: it
 * keeps routing on its last known config, and failing readiness on every instance at once when Redis
 * goes away would take the whole service down. Pass `failWhenDegraded` to change that.
 */
export function storeReadinessCheck(store: RoutingStore, options: { failWhenDegraded?: boolean } = {}): ReadinessCheck {
  return {
    name: "routing store",
    check: () => {
      const health = store.health();
      const version = store.current().version;
      if (health.state === "connected") return { ok: true, detail: `${store.kind}: connected, routing config v${version}` };
      return {
        ok: options.failWhenDegraded !== true,
        detail:
          `${store.kind}: degraded since ${new Date(health.since).toISOString()} ` +
          `(${health.reason ?? "unknown"}); routing on the last known config v${version}`,
      };
    },
  };
}
