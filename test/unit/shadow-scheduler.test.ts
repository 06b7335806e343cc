import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, it } from "node:test";
import { ShadowScheduler } from "../../src/shadow/shadow-scheduler.js";

describe("shadow scheduler: the taps' work in batches off the relay's path", () => {
  it("runs nothing synchronously, then everything scheduled, in order", async () => {
    const scheduler = new ShadowScheduler();
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) scheduler.schedule({ runScheduled: () => ran.push(i) });
    assert.deepEqual(ran, []);
    assert.equal(scheduler.waiting, 5);
    await nextTurn();
    assert.deepEqual(ran, [0, 1, 2, 3, 4]);
    assert.equal(scheduler.waiting, 0);
  });

  it("yields after its time slice and goes on in a later turn", async () => {
    let clock = 0;
    const scheduler = new ShadowScheduler(4, () => clock);
    const ran: number[] = [];
    for (let i = 0; i < 6; i++)
      scheduler.schedule({
        runScheduled: () => {
          ran.push(i);
          clock += 2; // each piece of work takes 2 "ms": two fit in a slice
        },
      });
    await nextTurn();
    assert.deepEqual(ran, [0, 1]);
    // Work scheduled meanwhile runs after what was waiting.
    scheduler.schedule({ runScheduled: () => ran.push(99) });
    await nextTurn();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 99]);
  });

  it("drops what waits when closed", async () => {
    const scheduler = new ShadowScheduler();
    let ran = 0;
    scheduler.schedule({ runScheduled: () => ran++ });
    scheduler.close();
    await nextTurn();
    assert.equal(ran, 0);
    assert.equal(scheduler.waiting, 0);
  });
});
