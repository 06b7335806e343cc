/** Plain-text rendering of admin API answers for the CLI: summaries and per-instance tables. */
import type { MismatchEvidence } from "../shadow/evidence.js";
import type { RoutingConfig } from "../config/routing-config.js";
import type { InstanceStatus } from "../store/routing-store.js";

type Counts = { polling: number; websocket: number };

export interface SessionsView {
  desiredVersion: number;
  hubPercent: number;
  store: { kind: string; state: string; reason?: string; since: number };
  totals: { legacy: Counts; hub: Counts };
  instances: (InstanceStatus & { stale: boolean })[];
  drains: { id: string; backend: string; percent: number; target: number; closed: number; done: boolean }[];
}

export interface DrainView {
  id: string;
  backend: string;
  percent: number;
  scope: "cluster" | "local";
  willClose: number;
  instances: { instanceId: string; sessions: number; willClose: number }[];
  pacing: { stepSize: number; stepMs: number };
}

function total(counts: Counts): number {
  return counts.polling + counts.websocket;
}

function counts(c: Counts): string {
  return `${total(c)} (${c.polling} polling, ${c.websocket} ws)`;
}

function ago(ms: number): string {
  if (ms < 1000) return `${ms} ms ago`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s ago`;
  return `${Math.round(ms / 60_000)} min ago`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function formatRouting(config: RoutingConfig): string {
  const overrides = config.overrides.enabled
    ? `enabled (${config.overrides.sources.join(", ")}; from ${config.overrides.trustedNetworks.join(", ") || "nowhere"})`
    : "disabled";
  return [
    `routing config v${config.version}: ${config.hubPercent}% of keys on the hub`,
    `  key:       ${config.key.sources.join(", ") || "(none)"}; fallback ${config.key.fallback}`,
    `  overrides: ${overrides}`,
    `  lists:     ${config.lists.alwaysHub.length} always on the hub, ${config.lists.neverHub.length} never on the hub`,
    `  shadow:    ${config.shadow.percent}% (${config.shadow.rules.length} rules)`,
  ].join("\n");
}

export function formatInstances(view: SessionsView, now = Date.now()): string {
  const rows = view.instances.map((instance) => {
    const version =
      instance.appliedVersion === view.desiredVersion ? `v${instance.appliedVersion}` : `v${instance.appliedVersion} (behind)`;
    return [
      instance.instanceId,
      version,
      `${instance.sessions.legacy.polling}/${instance.sessions.legacy.websocket}`,
      `${instance.sessions.hub.polling}/${instance.sessions.hub.websocket}`,
      instance.store,
      instance.stale ? `${ago(now - instance.lastSeen)} (stale)` : ago(now - instance.lastSeen),
    ];
  });
  return table(["INSTANCE", "APPLIED", "LEGACY poll/ws", "HUB poll/ws", "STORE", "LAST SEEN"], rows);
}

export function formatSessions(view: SessionsView): string {
  const store =
    view.store.state === "connected" ? `${view.store.kind}, connected` : `${view.store.kind}, DEGRADED: ${view.store.reason ?? "unknown"}`;
  const lines = [
    `desired config v${view.desiredVersion}, hubPercent ${view.hubPercent}%   store: ${store}`,
    `sessions: legacy ${counts(view.totals.legacy)} · hub ${counts(view.totals.hub)}`,
    "",
    formatInstances(view),
  ];
  const active = view.drains.filter((drain) => !drain.done);
  if (active.length > 0) lines.push("", ...active.map((d) => `draining ${d.backend} ${d.percent}% here: ${d.closed}/${d.target} closed`));
  return lines.join("\n");
}

export function formatDrain(view: DrainView): string {
  const scope =
    view.scope === "cluster" ? `on ${view.instances.length} instance(s)` : "on this instance only (the routing store is unavailable)";
  return [
    `draining ${view.percent}% of ${view.backend} sessions ${scope}: about ${view.willClose} ` +
      `will be closed, at most ${view.pacing.stepSize} every ${view.pacing.stepMs} ms per instance`,
    table(
      ["INSTANCE", "SESSIONS", "WILL CLOSE"],
      view.instances.map((i) => [i.instanceId, String(i.sessions), String(i.willClose)]),
    ),
  ].join("\n");
}

/** Shadow mismatches, newest first: one block per mismatch with its structural diff. */
export function formatDiffs(entries: readonly MismatchEvidence[]): string {
  if (entries.length === 0) return "no shadow mismatches recorded";
  return entries
    .map((entry) => {
      const head =
        `${entry.at}  ${entry.kind === "ack" ? `ack ${entry.ackId ?? "?"} of ` : ""}${entry.event} ` +
        `on ${entry.nsp}  session ${entry.sessionId} (${entry.instanceId})`;
      const lines = entry.diff.map(
        (d) => `    ${d.path}: primary ${JSON.stringify(d.primary)}  shadow ${JSON.stringify(d.shadow)}${d.note ? `  (${d.note})` : ""}`,
      );
      return [head, ...lines].join("\n");
    })
    .join("\n\n");
}
