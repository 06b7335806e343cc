/**
 * `switchyard route KEY...`: where sessions with these routing keys go under the current document, and
 * why, computed with the gateway's own decision code (lists, the split, shadow sampling; overrides depend
 * on a request's headers and are not shown).
 */
import type { RoutingConfig } from "../../config/routing-config.js";
import { decideRoute } from "../../routing/route-decider.js";
import { usageError, type Command, GROUPS } from "../command.js";
import { table } from "../format.js";

function explain(config: RoutingConfig, key: string): string[] {
  // The key as the session's only key source: `address` reads the input's remote address, set to the key.
  const verdict = decideRoute(
    { ...config, key: { ...config.key, sources: ["address"] }, overrides: { ...config.overrides, enabled: false } },
    { query: new URLSearchParams(), headers: {}, remoteAddress: key, eio: 4 },
    { legacyShadow: true, hubShadow: true },
    false,
  );
  if ("deferred" in verdict) throw new Error("a route without auth sources is never deferred");
  const threshold = Math.round(config.hubPercent * 100);
  const bucket = verdict.bucket ?? 0;
  const why =
    verdict.reason === "list"
      ? `lists.${verdict.backend === "hub" ? "alwaysHub" : "neverHub"}`
      : `bucket ${bucket} ${bucket < threshold ? "<" : "≥"} ${threshold} (${config.hubPercent}%)`;
  const shadow = verdict.shadow === undefined ? "no" : verdict.backend === "hub" ? "to dark legacy (if LEGACY_SHADOW_URL)" : "to the hub";
  return [key, String(bucket), verdict.backend, why, shadow];
}

export const route: Command = {
  name: "route",
  group: GROUPS.traffic,
  usage: "route KEY...",
  summary: "where sessions with these routing keys (e.g. user ids) go now, and why",
  maxArgs: 100,
  async run({ client, args, print }) {
    if (args.length === 0) throw usageError("route needs at least one routing key, e.g. a user id");
    const { body: config } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const rows = args.map((key) => explain(config, key));
    print(
      {
        version: config.version,
        routes: rows.map(([key, bucket, backend, why, shadow]) => ({ key, bucket: Number(bucket), backend, why, shadow })),
      },
      `routing config v${config.version}: ${config.hubPercent}% of keys on the hub (salt ` +
        `${config.key.salt})\n${table(["KEY", "BUCKET", "BACKEND", "WHY", "SHADOWED"], rows)}`,
    );
  },
};
