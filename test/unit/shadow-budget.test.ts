import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ShadowConfig } from "../../src/config/shadow-config.js";
import { EventLabels, OTHER_EVENT_LABEL, PendingBudget } from "../../src/shadow/budget.js";

describe("shadow bounds", () => {
  it("labels the first names, then _other, always keeping names with rules", () => {
    let config: ShadowConfig = {
      percent: 100,
      windowMs: 5000,
      maxPending: 10,
      rules: [{ event: "vip", ignore: [], tolerance: 0, unordered: false }],
    };
    const labels = new EventLabels(() => config, 3);
    assert.deepEqual(
      ["a", "b", "a", "c", "d", "vip", "$connect", "x".repeat(500)].map((name) => labels.label(name)),
      ["a", "b", "a", "c", OTHER_EVENT_LABEL, "vip", "$connect", OTHER_EVENT_LABEL],
    );
    config = { ...config, rules: [{ event: "d", ignore: [], tolerance: 0, unordered: false }] };
    assert.equal(labels.label("d"), "d", "a rule added later keeps the name");
    assert.equal(labels.label("e"), OTHER_EVENT_LABEL);
  });

  it("budget: refuses beyond a live capacity and counts refusals", () => {
    let capacity = 2;
    const budget = new PendingBudget(() => capacity);
    assert.deepEqual([budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire()], [true, true, false]);
    assert.equal(budget.overflowed, 1);
    capacity = 3;
    assert.equal(budget.tryAcquire(), true);
    budget.release(3);
    assert.equal(budget.used, 0);
  });
});
