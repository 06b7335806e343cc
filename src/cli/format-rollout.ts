/** The rollout as `rollout status` and `watch` print it: phase, step, weight, each gate against its limit, the next check. */
import type { RolloutStatus } from "../rollout/controller.js";
import { table } from "./format.js";

const fixed = (value: number | undefined): string => (value === undefined ? "-" : String(Math.round(value * 10_000) / 10_000));

export function formatRollout(status: RolloutStatus): string {
  const section = status.rollout;
  if (section === null) return "no rollout (start one with `rollout start -f plan.yaml`)";
  const { state, plan } = section;
  const steps = (plan.steps as number[] | undefined) ?? [];
  const step = state.step < 0 ? "before the first step" : `step ${state.step + 1} of ${steps.length}`;
  const lines = [`rollout ${state.id}: ${state.phase}, ${step}, weight ${state.weight}%  (steps ${steps.join(" → ")}%)`];
  const next =
    status.nextCheckAt === undefined
      ? "no further check"
      : `next check in ${Math.max(0, (status.nextCheckAt - status.now) / 1000).toFixed(1)}s`;
  const holding = status.store === "connected" ? "" : "  HOLDING: the routing store is degraded (Redis unreachable)";
  lines.push(
    `  ${next} (interval ${String(plan.interval)}, failed checks ${state.failedChecks} of ${String(plan.threshold)})  ` +
      `leader ${status.leader ?? "unknown"}${holding}`,
  );
  lines.push(`  ${state.reason}`);
  const check = state.lastCheck;
  if (check !== undefined) {
    lines.push(`  last check, window ${check.window}: ${check.verdict}`);
    const rows = check.gates.map((gate) => [
      gate.name,
      fixed(gate.value),
      gate.limit === undefined ? "-" : `≤ ${fixed(gate.limit)}`,
      gate.baseline === undefined ? "" : fixed(gate.baseline),
      gate.status,
    ]);
    lines.push(
      table(["gate", "value", "limit", "legacy", "status"], rows)
        .split("\n")
        .map((line) => `  ${line}`)
        .join("\n"),
    );
  }
  return lines.join("\n");
}
