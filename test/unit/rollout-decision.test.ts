import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, firstJudgeableWindow, initialState, type RolloutState } from "../../src/rollout/decision.js";
import type { CheckResult } from "../../src/rollout/gates.js";
import { validatePlan, type RolloutPlan } from "../../src/rollout/plan.js";

function plan(input: Record<string, unknown> = {}): RolloutPlan {
  const result = validatePlan({ steps: [1, 5, 25, 50, 100], interval: 1000, threshold: 2, ...input });
  assert.ok(result.ok, result.ok ? "" : result.problems.join());
  return result.plan;
}

const result = (verdict: CheckResult["verdict"], reason = verdict): CheckResult => ({ verdict, gates: [], reason });

/** Feeds one check per window from the state's next judgeable window; returns every state. */
function run(p: RolloutPlan, verdicts: CheckResult["verdict"][], start = initialState(p, "r", 0, 0)): RolloutState[] {
  const states = [start];
  let state = start;
  for (const verdict of verdicts) {
    const window = firstJudgeableWindow(state, p.intervalMs);
    state = decide(p, state, { kind: "check", window, result: result(verdict) }, (window + 1) * p.intervalMs).state;
    states.push(state);
  }
  return states;
}

describe("rollout decisions", () => {
  it("walks the planned steps on passing checks and is promoted on reaching 100 %", () => {
    const states = run(plan(), ["pass", "pass", "pass", "pass", "pass"]);
    assert.deepEqual(
      states.map((s) => [s.phase, s.weight]),
      [
        ["progressing", 1],
        ["progressing", 5],
        ["progressing", 25],
        ["progressing", 50],
        ["promoted", 100],
        ["promoted", 100],
      ],
    );
    // Each step waits for a whole interval that starts at or after it (here, checks run right at a window's end).
    assert.deepEqual(
      states.slice(1, 4).map((s) => s.lastWindow),
      [0, 1, 2],
    );
  });

  it("holds on inconclusive checks, saying why, and never steps forward blind", () => {
    const p = plan();
    const states = run(p, ["inconclusive", "inconclusive", "pass"]);
    assert.deepEqual(
      states.map((s) => [s.phase, s.weight]),
      [
        ["progressing", 1],
        ["holding", 1],
        ["holding", 1],
        ["progressing", 5],
      ],
    );
    assert.match(states[1]!.reason, /holding at 1%: inconclusive/);
  });

  it("rolls back at once after `threshold` failed checks (immediate)", () => {
    const states = run(plan(), ["pass", "pass", "fail", "fail"]);
    assert.deepEqual(
      states.slice(3).map((s) => [s.phase, s.weight, s.failedChecks]),
      [
        ["holding", 25, 1],
        ["rolled-back", 0, 2],
      ],
    );
    assert.match(states.at(-1)!.reason, /rolled back: 25% → 0%: 2 failed checks \(threshold 2\)/);
    const after = decide(plan(), states.at(-1)!, { kind: "check", window: 99, result: result("pass") }, 0);
    assert.equal(after.changed, false);
  });

  it("rolls back one step per interval in stepped mode", () => {
    const p = plan({ rollback: { mode: "stepped" } });
    const states = run(p, ["pass", "pass", "fail", "fail", "pass", "pass"]);
    assert.deepEqual(
      states.slice(3).map((s) => [s.phase, s.weight]),
      [
        ["holding", 25],
        ["rolling-back", 5],
        ["rolling-back", 1],
        ["rolled-back", 0],
      ],
    );
  });

  it("obeys the operator: pause, resume, promote, promote --full, abort", () => {
    const p = plan();
    let state = initialState(p, "r", 0, 0);
    const apply = (kind: "pause" | "resume" | "promote" | "promote-full" | "abort") => {
      const transition = decide(p, state, { kind }, 10);
      state = transition.state;
      return transition;
    };
    assert.equal(apply("pause").state.phase, "paused");
    assert.equal(apply("pause").changed, false);
    // A paused rollout records its checks but does not act on them.
    const checked = decide(p, state, { kind: "check", window: 5, result: result("fail") }, 10).state;
    assert.deepEqual([checked.phase, checked.failedChecks, checked.lastWindow], ["paused", 0, 5]);
    // Only intervals after the resume are judged.
    const resumedLater = decide(p, state, { kind: "resume" }, 7300).state;
    assert.equal(firstJudgeableWindow(resumedLater, 1000), 8);
    assert.equal(apply("resume").state.phase, "progressing");
    assert.equal(apply("promote").state.weight, 5);
    const full = apply("promote-full");
    assert.deepEqual([full.state.phase, full.state.weight, full.trigger], ["promoted", 100, "operator"]);
    state = initialState(p, "r2", 0, 0);
    assert.deepEqual([apply("abort").state.phase, state.weight, state.step], ["aborted", 0, -1]);
    assert.equal(apply("resume").changed, false);
  });

  it("never judges the same interval twice, nor one that began before the step", () => {
    const p = plan();
    const state = initialState(p, "r", 0, 2500);
    assert.equal(firstJudgeableWindow(state, 1000), 3);
    const once = decide(p, state, { kind: "check", window: 3, result: result("pass") }, 4000).state;
    assert.equal(decide(p, { ...once, phase: "progressing" }, { kind: "check", window: 3, result: result("pass") }, 4000).changed, false);
  });
});
