import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { validateRoutingConfig } from "../../src/config/routing-config.js";
import { initialState } from "../../src/rollout/decision.js";
import { formatDuration, parseDuration, planDocument, validatePlan, type RolloutPlan } from "../../src/rollout/plan.js";

function planOf(input: unknown): RolloutPlan {
  const result = validatePlan(input);
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  return result.plan;
}

function problemsOf(input: unknown, path = ""): readonly string[] {
  const result = validatePlan(input, path);
  assert.equal(result.ok, false);
  return result.ok ? [] : result.problems;
}

describe("rollout plan", () => {
  it("reads the issue's example, with defaults for what it leaves out", () => {
    const plan = planOf({
      steps: [1, 5, 25, 50, 100],
      interval: "5m",
      threshold: 3,
      minSessions: 200,
      minComparisons: 1000,
      gates: [
        { gate: "mismatchRate", max: 0.01 },
        { gate: "connectErrorRate", margin: 0.02 },
        { gate: "fallbacksPerMinute", max: 5 },
      ],
      drain: { window: "2m", jitter: 0.5 },
      rollback: { mode: "immediate" },
    });
    assert.deepEqual(plan.steps, [1, 5, 25, 50, 100]);
    assert.equal(plan.intervalMs, 300_000);
    assert.equal(plan.drain.windowMs, 120_000);
    assert.equal(plan.drain.maxRate, 100);
    assert.equal(plan.shortSessionSeconds, 10);
    assert.deepEqual(
      plan.gates.map((gate) => gate.name),
      ["mismatchRate", "connectErrorRate", "fallbacksPerMinute"],
    );
    assert.ok(Object.isFrozen(plan.gates[0]));
  });

  it("reads the example plan the docs point to", () => {
    const plan = planOf(parseYaml(readFileSync(new URL("../../examples/rollout-plan.yaml", import.meta.url), "utf8")));
    assert.deepEqual([plan.steps.length, plan.gates.length, plan.drain.maxRate], [5, 9, 100]);
  });

  it("expands stepWeight/maxWeight into steps, ending exactly at maxWeight", () => {
    assert.deepEqual(planOf({ stepWeight: 25, interval: 1000 }).steps, [25, 50, 75, 100]);
    assert.deepEqual(planOf({ stepWeight: 30, maxWeight: 80, interval: "1s" }).steps, [30, 60, 80]);
    assert.deepEqual(planOf({ stepWeight: 12.5, maxWeight: 25, interval: "1s" }).steps, [12.5, 25]);
  });

  it("names every problem by its JSON path", () => {
    const problems = problemsOf(
      {
        steps: [5, 5, 120],
        interval: "5 minutes",
        threshold: 0,
        gates: [{ gate: "mismatchRate", max: 2 }, { gate: "connectErrorRate" }, { gate: "nope" }, { gate: "promql", max: 1 }],
        drain: { window: "1x", jitter: 3, extra: 1 },
        rollback: { mode: "sideways" },
        colour: "blue",
      },
      "rollout.plan",
    );
    for (const expected of [
      "rollout.plan.colour: unknown key",
      "rollout.plan.steps[1]: must be greater than the step before it (5)",
      "rollout.plan.steps[2]: must be a number 0-100",
      "rollout.plan.interval: must be a duration",
      "rollout.plan.threshold: must be an integer 1-",
      "rollout.plan.gates[0].max: must be a number 0-1",
      "rollout.plan.gates[1].margin: must be a number",
      "rollout.plan.gates[2].gate: must be one of",
      "rollout.plan.gates[3].query: must be a string",
      "rollout.plan.drain.window: must be a duration",
      "rollout.plan.drain.jitter: must be a number 0-1",
      "rollout.plan.drain.extra: unknown key",
      'rollout.plan.rollback.mode: must be "immediate" or "stepped"',
    ]) {
      assert.ok(
        problems.some((problem) => problem.startsWith(expected)),
        `${expected}\nnot in\n${problems.join("\n")}`,
      );
    }
  });

  it("refuses steps together with stepWeight, no steps at all, and duplicate gate names", () => {
    assert.match(problemsOf({ steps: [10], stepWeight: 10, interval: "1s" }).join(), /steps: give either steps or stepWeight/);
    assert.match(problemsOf({ interval: "1s" }).join(), /steps: is required/);
    assert.match(problemsOf({ steps: [], interval: "1s" }).join(), /steps: must name at least one weight/);
    assert.match(
      problemsOf({
        steps: [10],
        interval: "1s",
        gates: [
          { gate: "extraRate", max: 0.1 },
          { gate: "extraRate", max: 0.2 },
        ],
      }).join(),
      /gates\[1\]: duplicate of gates\[0\]/,
    );
  });

  it("parses and prints durations; a plan survives its document form", () => {
    assert.equal(parseDuration("300ms"), 300);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("2h"), 7_200_000);
    assert.equal(formatDuration(300_000), "5m");
    assert.equal(formatDuration(450), "450ms");
    const plan = planOf({ steps: [10, 100], interval: "400ms", gates: [{ gate: "promql", name: "app", query: "up", max: 1 }] });
    assert.deepEqual(planOf(planDocument(plan)), plan);
  });

  it("is stored in the routing document with its state, and owns hubPercent while active", () => {
    const plan = planOf({ steps: [10, 100], interval: "1s" });
    const state = initialState(plan, "r-1", 0, 1_000_000);
    const stored = validateRoutingConfig({ hubPercent: 10, rollout: { plan: planDocument(plan), state } });
    assert.ok(stored.ok, stored.ok ? "" : stored.problems.join());
    assert.equal(stored.config.rollout?.state.phase, "progressing");
    const handMade = validateRoutingConfig({ hubPercent: 50, rollout: { plan: planDocument(plan), state } });
    assert.equal(handMade.ok, false);
    assert.match(handMade.ok ? "" : handMade.problems.join(), /hubPercent: a rollout is progressing at 10%/);
    const finished = validateRoutingConfig({
      hubPercent: 50,
      rollout: { plan: planDocument(plan), state: { ...state, phase: "aborted" } },
    });
    assert.ok(finished.ok);
    const broken = validateRoutingConfig({
      hubPercent: 10,
      rollout: { plan: planDocument(plan), state: { ...state, phase: "bored", step: 7 } },
    });
    assert.match(
      broken.ok ? "" : broken.problems.join("\n"),
      /rollout.state.phase: must be one of[^\n]*\nrollout.state.step: must be an integer -1-1/,
    );
  });
});
