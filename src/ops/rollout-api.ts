/**
 * The rollout's admin endpoints (mutations need the admin token, as every admin mutation does):
 *   GET  /admin/rollout            plan, state (phase, step, weight, the last check's gates), leader, next check
 *   POST /admin/rollout            start: the plan as JSON (If-Match: <routing version> optional); 409 when one is active
 *   POST /admin/rollout/pause      hold where it is (checks are no longer acted on)
 *   POST /admin/rollout/resume     judged again on the intervals that start after the resume
 *   POST /admin/rollout/promote    the next step now; {"full": true}: straight to 100 %
 *   POST /admin/rollout/abort      weight 0; the hub's sessions are drained, paced, as in a rollback
 */
import type { RolloutCommand, RolloutController } from "../rollout/controller.js";
import { AdminHttpError, actorOf, authenticate, optionalExpectedVersionOf, readJsonBody } from "./admin-http.js";
import { isPlainObject } from "../protocol/json-values.js";
import { adminHandler, etagOf } from "./admin-api.js";
import { sendJson, type OpsServer } from "./ops-server.js";

export interface RolloutApiOptions {
  readonly controller: RolloutController;
  readonly adminToken: string | undefined;
  readonly maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export function registerRolloutApi(ops: OpsServer, options: RolloutApiOptions): void {
  const { controller, adminToken } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  ops.route(
    "GET",
    "/admin/rollout",
    adminHandler(async (_req, res) => sendJson(res, 200, await controller.status())),
  );

  ops.route(
    "POST",
    "/admin/rollout",
    adminHandler(async (req, res) => {
      const identity = authenticate(req, adminToken);
      const expected = optionalExpectedVersionOf(req);
      const plan = await readJsonBody(req, res, maxBody);
      const config = await controller.start(plan, actorOf(req, identity), expected);
      sendJson(res, 201, { rollout: config.rollout, version: config.version }, etagOf(config));
    }),
  );

  const command = (path: string, kind: (body: Record<string, unknown>) => RolloutCommand) =>
    ops.route(
      "POST",
      `/admin/rollout/${path}`,
      adminHandler(async (req, res) => {
        const identity = authenticate(req, adminToken);
        const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
        if (!hasBody) req.resume();
        const body = hasBody ? await readJsonBody(req, res, maxBody) : {};
        if (!isPlainObject(body)) throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", "send a JSON object (or nothing)");
        const done = await controller.command(kind(body), actorOf(req, identity));
        sendJson(res, 200, { changed: done.changed, summary: done.summary, rollout: done.config.rollout, version: done.config.version });
      }),
    );
  command("pause", () => "pause");
  command("resume", () => "resume");
  command("abort", () => "abort");
  command("promote", (body) => (body.full === true ? "promote-full" : "promote"));
}
