/**
 * `switchyard status`: a headline verdict (healthy, progressing, degraded), the routing document in short,
 * the actual share of sessions on the hub, the shadow comparison so far, and the sessions per instance.
 */
import { GROUPS, type Command } from "../command.js";
import type { RoutingConfig } from "../../config/routing-config.js";
import { formatRouting, formatSessions, type SessionsView } from "../format.js";
import { formatActualShare, formatHealth, healthOf } from "../format-status.js";
import { comparisonCounts, formatComparisons } from "../shadow-stats.js";

export const status: Command = {
  name: "status",
  group: GROUPS.traffic,
  usage: "status",
  summary: "healthy or not, the routing config, the actual split, the shadow\ncomparison and the sessions per instance",
  async run({ client, print, program }) {
    const [routing, sessions, compared] = await Promise.all([
      client.request<RoutingConfig>("GET", "/admin/routing"),
      client.request<SessionsView>("GET", "/admin/sessions", { auth: true }),
      comparisonCounts(client),
    ]);
    const shadowLine =
      routing.body.shadow.percent === 0 && (compared === undefined || formatComparisons(compared) === "nothing yet")
        ? []
        : [
            `  compared:  ${compared === undefined ? "unknown (no /metrics)" : formatComparisons(compared)} ` +
              `(this instance); \`${program} diffs\` shows mismatches`,
          ];
    const text = [
      formatHealth(sessions.body),
      "",
      formatRouting(routing.body),
      ...shadowLine,
      "",
      // The actual share goes under the session totals, above the per-instance table.
      formatSessions(sessions.body).replace("\n\n", `\nactual:   ${formatActualShare(sessions.body)}\n\n`),
    ].join("\n");
    print({ health: healthOf(sessions.body), routing: routing.body, sessions: sessions.body, shadowComparisons: compared }, text);
  },
};
