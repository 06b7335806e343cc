import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonShapeProblem, MAX_JSON_DEPTH } from "../../src/ops/admin-http.js";

describe("admin request bodies", () => {
  it("bounds the nesting and the number of values of a JSON body, without recursion", () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    assert.equal(jsonShapeProblem(deep), undefined, "as deep as allowed");
    assert.match(jsonShapeProblem([deep]) ?? "", /nested deeper than 16 levels/);
    assert.match(jsonShapeProblem(JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)) ?? "", /nested deeper/);
    assert.equal(
      jsonShapeProblem({ a: Array(10).fill({ b: 1 }) }, 16, 22),
      undefined,
      "22 values: the object, the array, 10 objects, 10 numbers",
    );
    assert.match(jsonShapeProblem({ a: Array(10).fill({ b: 1 }) }, 16, 21) ?? "", /more than 21 values/);
  });
});
