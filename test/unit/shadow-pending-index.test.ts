import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Bucket, BucketIndex } from "../../src/shadow/pending-index.js";

describe("shadow pending index: buckets by namespace and event", () => {
  it("finds, counts and lists buckets, and forgets empty namespaces", () => {
    const index = new BucketIndex();
    const msg = new Bucket("/", "msg");
    const chat = new Bucket("/chat", "msg");
    index.set(msg);
    index.set(chat);
    index.set(new Bucket("/", "joined"));
    assert.equal(index.get("/", "msg"), msg);
    assert.equal(index.get("/chat", "msg"), chat);
    assert.equal(index.get("/chat", "joined"), undefined);
    assert.equal(index.size, 3);
    assert.deepEqual(
      index.all().map((b) => `${b.nsp} ${b.event}`),
      ["/ msg", "/ joined", "/chat msg"],
    );
    index.delete(chat);
    assert.equal(index.size, 2);
    assert.equal(index.get("/chat", "msg"), undefined);
  });

  it("never drops a newer bucket for a stale one of the same event", () => {
    const index = new BucketIndex();
    const stale = new Bucket("/", "msg");
    index.set(stale);
    index.delete(stale);
    const live = new Bucket("/", "msg");
    index.set(live);
    index.delete(stale);
    assert.equal(index.get("/", "msg"), live);
    assert.equal(index.size, 1);
  });
});
