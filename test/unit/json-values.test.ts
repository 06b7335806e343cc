import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isPlainObject } from "../../src/protocol/json-values.js";

class Point {
  constructor(readonly x = 1) {}
}

class Tagged {
  get [Symbol.toStringTag](): string {
    return "Tagged";
  }
}

describe("isPlainObject (socket.io-parser's isObject)", () => {
  const cases: readonly [string, unknown, boolean][] = [
    ["an object literal", { a: 1 }, true],
    ["JSON.parse of an object", JSON.parse('{"__proto__":{"x":1}}'), true],
    ["a null-prototype object", Object.create(null), true],
    ["a class instance", new Point(), true],
    ["a class instance with a toStringTag", new Tagged(), false],
    ["null", null, false],
    ["undefined", undefined, false],
    ["an array", [1, 2], false],
    ["a Buffer", Buffer.from("x"), false],
    ["a Uint8Array", new Uint8Array(2), false],
    ["a Date", new Date(0), false],
    ["a Map", new Map(), false],
    ["a string", "{}", false],
    ["a number", 1, false],
  ];
  for (const [what, value, expected] of cases) {
    it(`${what}: ${expected}`, () => assert.equal(isPlainObject(value), expected));
  }
});
