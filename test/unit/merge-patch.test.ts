import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyMergePatch } from "../../src/config/merge-patch.js";

// RFC 7396, Appendix A: every example, as written there.
const RFC_EXAMPLES: [unknown, unknown, unknown][] = [
  [{ a: "b" }, { a: "c" }, { a: "c" }],
  [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
  [{ a: "b" }, { a: null }, {}],
  [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
  [{ a: ["b"] }, { a: "c" }, { a: "c" }],
  [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
  [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
  [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
  [
    ["a", "b"],
    ["c", "d"],
    ["c", "d"],
  ],
  [{ a: "b" }, ["c"], ["c"]],
  [{ a: "foo" }, null, null],
  [{ a: "foo" }, "bar", "bar"],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: "b", c: null }, { a: "b" }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe("JSON Merge Patch (RFC 7396)", () => {
  RFC_EXAMPLES.forEach(([target, patch, result], i) => {
    it(`appendix A example ${i + 1}: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const before = JSON.stringify(target);
      assert.deepEqual(applyMergePatch(target, patch), result);
      assert.equal(JSON.stringify(target), before, "the target is not modified");
    });
  });

  it("changes one routing field and keeps every other", () => {
    const config = { version: 3, hubPercent: 25, shadow: { percent: 0, windowMs: 5000, rules: [{ event: "msg", ignore: ["ts"] }] } };
    assert.deepEqual(applyMergePatch(config, { shadow: { percent: 100 } }), {
      version: 3,
      hubPercent: 25,
      shadow: { percent: 100, windowMs: 5000, rules: [{ event: "msg", ignore: ["ts"] }] },
    });
  });
});
