/**
 * The status view's headline, as rollout tools show theirs (Argo Rollouts: "✔ Healthy", "◌ Progressing",
 * "✖ Degraded"): is every instance applying the desired routing version, is the store connected, is a
 * drain moving sessions; and what share of open sessions is on the hub against the desired split.
 */
import type { SessionsView } from "./format.js";

export type Health = "healthy" | "progressing" | "degraded";

const SYMBOL: Record<Health, string> = { healthy: "✔ Healthy", progressing: "◌ Progressing", degraded: "✖ Degraded" };

export function healthOf(view: SessionsView): { health: Health; reason: string } {
  const live = view.instances.filter((instance) => !instance.stale);
  const stale = view.instances.length - live.length;
  const behind = live.filter((instance) => instance.appliedVersion !== view.desiredVersion).length;
  const draining = view.drains.filter((drain) => !drain.done);
  if (view.store.state !== "connected") return { health: "degraded", reason: `routing store ${view.store.kind} ${view.store.state}` };
  if (stale > 0) return { health: "degraded", reason: `${stale} instance(s) silent (stale)` };
  if (behind > 0) return { health: "progressing", reason: `${behind} of ${live.length} instance(s) not yet on v${view.desiredVersion}` };
  if (draining.length > 0)
    return {
      health: "progressing",
      reason: draining.map((d) => `draining ${d.backend} ${d.percent}%: ${d.closed}/${d.target}`).join(", "),
    };
  return { health: "healthy", reason: `${live.length} instance(s) on routing config v${view.desiredVersion}` };
}

export function formatHealth(view: SessionsView): string {
  const { health, reason } = healthOf(view);
  return `Status: ${SYMBOL[health]} (${reason})`;
}

/** "4 of 10 open sessions on the hub (40.0%; desired 50%)". */
export function formatActualShare(view: SessionsView): string {
  const hub = view.totals.hub.polling + view.totals.hub.websocket;
  const all = hub + view.totals.legacy.polling + view.totals.legacy.websocket;
  if (all === 0) return `no open sessions (desired: ${view.hubPercent}% of users on the hub)`;
  return `${hub} of ${all} open sessions on the hub (${((100 * hub) / all).toFixed(1)}%; desired ${view.hubPercent}% of users)`;
}
