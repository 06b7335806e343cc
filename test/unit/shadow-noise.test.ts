import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ShadowRule } from "../../src/config/shadow-config.js";
import {
  compileRule,
  diffPayloads,
  IdMapping,
  NO_RULE,
  payloadKey,
  payloadsEqual,
  preview,
  type CompiledRule,
  type IdMap,
} from "../../src/shadow/noise.js";

function rule(partial: Partial<ShadowRule>): CompiledRule {
  return compileRule({ event: "msg", ignore: [], tolerance: 0, unordered: false, ...partial });
}

/** Asserts that the key and the diff agree, and returns whether the payloads are equal. */
function same(primary: unknown[], shadow: unknown[], compiled: CompiledRule, ids?: IdMap): boolean {
  const keysEqual = payloadKey(primary, compiled) === payloadKey(shadow, compiled, ids);
  const diff = diffPayloads(primary, shadow, compiled, ids);
  if (compiled.tolerance === 0) assert.equal(keysEqual, diff.length === 0, `key and diff disagree: ${JSON.stringify(diff)}`);
  else if (keysEqual) assert.equal(diff.length, 0);
  assert.equal(payloadsEqual(primary, shadow, compiled, ids), diff.length === 0);
  return diff.length === 0;
}

describe("shadow noise: normalization", () => {
  const ids = new IdMapping();
  ids.set("/chat", "primary-sid", "shadow-sid");
  const table: [string, CompiledRule, unknown[], unknown[], boolean, IdMap?][] = [
    ["identical payloads", NO_RULE, [{ text: "hi", n: 1 }, 2], [{ text: "hi", n: 1 }, 2], true],
    ["object key order does not matter", NO_RULE, [{ a: 1, b: { c: 2, d: 3 } }], [{ b: { d: 3, c: 2 }, a: 1 }], true],
    ["a changed string", NO_RULE, [{ text: "hi" }], [{ text: "ho" }], false],
    ["a number and its string", NO_RULE, [{ n: 1 }], [{ n: "1" }], false],
    ["null and a missing key", NO_RULE, [{ a: null }], [{}], false],
    ["an undefined property counts as absent", NO_RULE, [{ a: undefined, b: 1 }], [{ b: 1 }], true],
    ["more arguments", NO_RULE, [1], [1, 2], false],
    ["array order matters by default", NO_RULE, [[1, 2]], [[2, 1]], false],
    ["ignore a top-level path", rule({ ignore: ["ts"] }), [{ text: "a", ts: 1 }], [{ text: "a", ts: 2 }], true],
    ["ignore a path present on one side only", rule({ ignore: ["ts"] }), [{ text: "a", ts: 1 }], [{ text: "a" }], true],
    ["ignore does not hide other changes", rule({ ignore: ["ts"] }), [{ text: "a", ts: 1 }], [{ text: "b", ts: 2 }], false],
    [
      "ignore a nested path",
      rule({ ignore: ["user.lastSeen"] }),
      [{ user: { name: "x", lastSeen: 1 } }],
      [{ user: { name: "x", lastSeen: 9 } }],
      true,
    ],
    [
      "ignore a wildcard path",
      rule({ ignore: ["items.*.id"] }),
      [
        {
          items: [
            { id: 1, v: "a" },
            { id: 2, v: "b" },
          ],
        },
      ],
      [
        {
          items: [
            { id: 7, v: "a" },
            { id: 8, v: "b" },
          ],
        },
      ],
      true,
    ],
    [
      "a wildcard path still compares the rest",
      rule({ ignore: ["items.*.id"] }),
      [{ items: [{ id: 1, v: "a" }] }],
      [{ items: [{ id: 7, v: "z" }] }],
      false,
    ],
    [
      "a wildcard over object keys",
      rule({ ignore: ["users.*.seen"] }),
      [{ users: { a: { seen: 1, n: 1 } } }],
      [{ users: { a: { seen: 2, n: 1 } } }],
      true,
    ],
    ["ignore paths only reach the first argument", rule({ ignore: ["ts"] }), [{ ts: 1 }, { ts: 1 }], [{ ts: 2 }, { ts: 2 }], false],
    ["an ignored index keeps positions", rule({ ignore: ["1"] }), [["a", "x", "c"]], [["a", "y", "c"]], true],
    ["an ignored index still counts the length", rule({ ignore: ["2"] }), [["a", "b", "c"]], [["a", "b"]], false],
    ["numbers within tolerance", rule({ tolerance: 0.01 }), [{ price: 1.0 }, 5], [{ price: 1.005 }, 5.01], true],
    ["numbers beyond tolerance", rule({ tolerance: 0.01 }), [{ price: 1.0 }], [{ price: 1.02 }], false],
    ["an unordered path", rule({ unordered: ["members"] }), [{ members: ["a", "b", "c"] }], [{ members: ["c", "a", "b"] }], true],
    [
      "an unordered path counts duplicates",
      rule({ unordered: ["members"] }),
      [{ members: ["a", "a", "b"] }],
      [{ members: ["a", "b", "b"] }],
      false,
    ],
    [
      "only the unordered path is unordered",
      rule({ unordered: ["members"] }),
      [{ members: [1, 2], order: [1, 2] }],
      [{ members: [2, 1], order: [2, 1] }],
      false,
    ],
    [
      "an unordered wildcard path",
      rule({ unordered: ["rooms.*.members"] }),
      [{ rooms: [{ members: [1, 2] }, { members: [3, 4] }] }],
      [{ rooms: [{ members: [2, 1] }, { members: [4, 3] }] }],
      true,
    ],
    [
      "unordered everywhere, nested and in every argument",
      rule({ unordered: true }),
      [
        [
          [1, 2],
          [3, 4],
        ],
        ["x", "y"],
      ],
      [
        [
          [4, 3],
          [2, 1],
        ],
        ["y", "x"],
      ],
      true,
    ],
    [
      "multiset elements with ignored fields",
      rule({ unordered: ["items"], ignore: ["items.*.ts"] }),
      [
        {
          items: [
            { v: 1, ts: 1 },
            { v: 2, ts: 2 },
          ],
        },
      ],
      [
        {
          items: [
            { v: 2, ts: 5 },
            { v: 1, ts: 6 },
          ],
        },
      ],
      true,
    ],
    ["multisets with a tolerance", rule({ unordered: ["p"], tolerance: 0.1 }), [{ p: [1, 2, 3] }], [{ p: [3.05, 1.02, 1.98] }], true],
    ["multisets beyond a tolerance", rule({ unordered: ["p"], tolerance: 0.1 }), [{ p: [1, 2, 3] }], [{ p: [3.05, 1.02, 2.5] }], false],
    ["equal buffers", NO_RULE, [Buffer.from("abc")], [Buffer.from("abc")], true],
    ["different buffers", NO_RULE, [Buffer.from("abc")], [Buffer.from("abd")], false],
    ["large equal buffers", NO_RULE, [{ file: Buffer.alloc(1000, 7) }], [{ file: Buffer.alloc(1000, 7) }], true],
    ["large different buffers", NO_RULE, [{ file: Buffer.alloc(1000, 7) }], [{ file: Buffer.alloc(1000, 8) }], false],
    ["a buffer and its text", NO_RULE, [Buffer.from("abc")], ["abc"], false],
    ["the shadow's socket id stands for the primary's", NO_RULE, [{ from: "primary-sid" }], [{ from: "shadow-sid" }], true, ids.map],
    ["the nsp#id form is mapped too", NO_RULE, [{ from: "/chat#primary-sid" }], [{ from: "/chat#shadow-sid" }], true, ids.map],
    ["object keys are mapped", NO_RULE, [{ typing: { "primary-sid": true } }], [{ typing: { "shadow-sid": true } }], true, ids.map],
    ["other ids are not mapped", NO_RULE, [{ from: "primary-sid" }], [{ from: "someone-else" }], false, ids.map],
    ["without a mapping ids differ", NO_RULE, [{ from: "primary-sid" }], [{ from: "shadow-sid" }], false],
    ["long equal payloads (hashed keys)", NO_RULE, [{ text: "x".repeat(2000) }], [{ text: "x".repeat(2000) }], true],
    ["long different payloads (hashed keys)", NO_RULE, [{ text: "x".repeat(2000) }], [{ text: `${"x".repeat(1999)}y` }], false],
  ];
  for (const [name, compiled, primary, shadow, expected, map] of table) {
    it(`${expected ? "equal" : "different"}: ${name}`, () => {
      assert.equal(same(primary, shadow, compiled, map), expected);
    });
  }

  it("never maps the primary's payload", () => {
    assert.notEqual(payloadKey([{ from: "shadow-sid" }], NO_RULE), payloadKey([{ from: "shadow-sid" }], NO_RULE, ids.map));
  });

  it("stays on the stack for very deep payloads", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    assert.equal(typeof payloadKey([deep], NO_RULE), "string");
    assert.deepEqual(diffPayloads([deep], [deep], NO_RULE), []);
  });
});

describe("shadow noise: structural diff", () => {
  it("names the paths that differ", () => {
    const diff = diffPayloads(
      [{ text: "hi", user: { name: "a" }, "odd key": 1, tags: ["x", "y"] }, 3],
      [{ text: "ho", user: { name: "a", extra: true }, "odd key": 2, tags: ["x"] }, "3"],
      NO_RULE,
    );
    assert.deepEqual(diff, [
      { path: "$[0].text", primary: "hi", shadow: "ho" },
      { path: "$[0].user.extra", primary: undefined, shadow: true, note: "only in shadow" },
      { path: '$[0]["odd key"]', primary: 1, shadow: 2 },
      { path: "$[0].tags[1]", primary: "y", shadow: undefined, note: "only in primary" },
      { path: "$[1]", primary: 3, shadow: "3", note: "type" },
    ]);
  });

  it("reports a multiset difference once, with the leftovers", () => {
    const diff = diffPayloads([{ members: ["a", "b", "c"] }], [{ members: ["c", "d", "a"] }], rule({ unordered: ["members"] }));
    assert.deepEqual(diff, [{ path: "$[0].members", primary: ["b"], shadow: ["d"], note: "multiset" }]);
  });

  it("is bounded", () => {
    const primary = [Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))];
    const shadow = [Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i + 1]))];
    assert.equal(diffPayloads(primary, shadow, NO_RULE).length, 20);
    assert.equal(diffPayloads(primary, shadow, NO_RULE, undefined, 5).length, 5);
  });

  it("previews big values", () => {
    const [difference] = diffPayloads(
      [{ blob: Buffer.alloc(500, 1), text: "a".repeat(1000) }],
      [{ blob: Buffer.alloc(500, 2), text: "a".repeat(1000) }],
      NO_RULE,
    );
    assert.deepEqual(difference?.primary, { $buffer: Buffer.alloc(48, 1).toString("base64"), length: 500 });
    const clipped = preview({ text: "a".repeat(1000), list: Array.from({ length: 50 }, (_, i) => i) }) as { text: string; list: unknown[] };
    assert.ok(clipped.text.length < 250 && clipped.text.endsWith("(+800 chars)"));
    assert.equal(clipped.list.length, 21);
    assert.ok(JSON.stringify(preview([[[[[[["deep"]]]]]]])).length < 40);
  });
});
