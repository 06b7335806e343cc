import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TokenBucket } from "../../src/limits/token-bucket.js";

describe("token bucket", () => {
  it("gives a burst at once, then the rate, and says when the next token comes", () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
    assert.equal(bucket.secondsUntilNext(), 1, "half a second away, rounded up to a whole Retry-After second");
    now = 499;
    assert.equal(bucket.take(), false);
    now = 500;
    assert.equal(bucket.take(), true, "2 per second: one token every 500 ms");
    assert.equal(bucket.take(), false);
    now = 100_000;
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false], "never more than the burst");
  });

  it("asks for more than a second when the rate is below one a second", () => {
    let now = 0;
    const bucket = new TokenBucket(0.25, 1, () => now);
    assert.equal(bucket.take(), true);
    assert.equal(bucket.secondsUntilNext(), 4);
    now = 3000;
    assert.equal(bucket.secondsUntilNext(), 1);
  });
});
