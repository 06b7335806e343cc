import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bucketOf, murmur3, routingHash } from "../../src/routing/hash.js";

describe("routing hash", () => {
  it("is MurmurHash3_x86_32 (published test vectors)", () => {
    const utf8 = (text: string) => new TextEncoder().encode(text);
    assert.equal(murmur3(utf8("")), 0);
    assert.equal(murmur3(utf8(""), 1), 0x514e28b7);
    assert.equal(murmur3(utf8("hello")), 0x248bfa47);
    assert.equal(murmur3(utf8("abc")), 0xb3dd93fa);
    assert.equal(murmur3(utf8("The quick brown fox jumps over the lazy dog")), 0x2e4ff723);
  });

  it("buckets = murmur3(salt ‖ 0x00 ‖ key) mod 10000 (values cross-checked with an independent implementation)", () => {
    assert.equal(routingHash("switchyard-v1", "alice"), 0xc9b547ce);
    assert.equal(bucketOf("switchyard-v1", "alice"), 814);
    assert.equal(bucketOf("switchyard-v1", "42"), 4056);
    assert.equal(bucketOf("switchyard-v1", "ünïcödé"), 6073);
    assert.notEqual(bucketOf("another-salt", "alice"), 814);
  });
});
