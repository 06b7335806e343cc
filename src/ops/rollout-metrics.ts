/** The rollout metrics (issue 13): fed by the rollout's telemetry events. */
import type { Registry } from "prom-client";
import { PHASES } from "../rollout/decision.js";
import { subscribe, type Unsubscribe } from "../telemetry/events.js";
import { SWITCHYARD_METRICS as m } from "./metric-catalog.js";
import { counterOf, gaugeOf } from "./metrics.js";

export function registerRolloutMetrics(registry: Registry): Unsubscribe[] {
  const phase = gaugeOf(registry, m.rolloutPhase);
  const weight = gaugeOf(registry, m.rolloutWeight);
  const step = gaugeOf(registry, m.rolloutStep);
  const gateValue = gaugeOf(registry, m.rolloutGateValue);
  const gateLimit = gaugeOf(registry, m.rolloutGateLimit);
  const leader = gaugeOf(registry, m.rolloutLeader);
  const checks = counterOf(registry, m.rolloutChecks);
  const transitions = counterOf(registry, m.rolloutTransitions);
  return [
    subscribe("switchyard:rollout:state", (e) => {
      for (const name of PHASES) phase.set({ phase: name }, name === e.phase ? 1 : 0);
      weight.set(e.weight);
      step.set(e.step + 1);
      leader.set(e.leader ? 1 : 0);
      // A new check (or a new plan) replaces the gate series: a gate no longer in the plan disappears.
      gateValue.reset();
      gateLimit.reset();
      for (const gate of e.gates) {
        if (gate.value !== undefined) gateValue.set({ gate: gate.name }, gate.value);
        if (gate.limit !== undefined) gateLimit.set({ gate: gate.name }, gate.limit);
      }
    }),
    subscribe("switchyard:rollout:check", (e) => checks.inc({ result: e.verdict })),
    subscribe("switchyard:rollout:transition", (e) => transitions.inc({ to: e.to, trigger: e.trigger })),
  ];
}
