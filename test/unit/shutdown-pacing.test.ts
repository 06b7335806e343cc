import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { closeListener, closePaced, MAX_SHUTDOWN_STEPS } from "../../src/downstream/shutdown-pacing.js";

/** `open` sessions; records each step's close and each wait. */
function sessions(open: number) {
  const log: string[] = [];
  let left = open;
  return {
    log,
    left: () => left,
    pacing: {
      open: () => left,
      closeSome: (count: number) => {
        const closed = Math.min(count, left);
        left -= closed;
        log.push(`close ${closed}`);
      },
      closeAll: () => {
        log.push(`close all ${left}`);
        left = 0;
      },
    },
    sleep: async (ms: number) => void log.push(`wait ${ms}`),
  };
}

describe("shutdown pacing", () => {
  it("closes a few sessions one step each, waiting spread/steps between steps and not after the last", async () => {
    const s = sessions(4);
    await closePaced(s.pacing, 1000, s.sleep);
    assert.deepEqual(s.log, ["close 1", "wait 250", "close 1", "wait 250", "close 1", "wait 250", "close 1", "close all 0"]);
  });

  it("caps the steps and closes an equal share each step", async () => {
    const s = sessions(1000);
    await closePaced(s.pacing, 2000, s.sleep);
    const closes = s.log.filter((line) => line.startsWith("close "));
    assert.equal(closes.length, MAX_SHUTDOWN_STEPS + 1);
    assert.ok(closes.slice(0, MAX_SHUTDOWN_STEPS).every((line) => line === "close 50"));
    assert.deepEqual(new Set(s.log.filter((line) => line.startsWith("wait"))), new Set(["wait 100"]));
    assert.equal(s.left(), 0);
  });

  it("stops stepping once nothing is left, and does not wait without a spread", async () => {
    const s = sessions(0);
    await closePaced(s.pacing, 1000, s.sleep);
    assert.deepEqual(s.log, ["close all 0"]);
    const t = sessions(3);
    await closePaced(t.pacing, 0, t.sleep);
    assert.deepEqual(t.log, ["close 1", "close 1", "close 1", "close all 0"]);
  });

  it("closeListener lets a busy request finish within the grace, then cuts what is left", async () => {
    let answer: (() => void) | undefined;
    const http = createServer((_req, res) => {
      answer = () => res.end("done");
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
    const { port } = http.address() as AddressInfo;
    const body = fetch(`http://127.0.0.1:${port}/`).then((response) => response.text());
    while (answer === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    let cut = false;
    const closed = closeListener(http, 60_000, () => {
      cut = true;
    });
    answer();
    assert.equal(await body, "done");
    await closed;
    assert.equal(cut, true);
    assert.equal(http.listening, false);
  });

  it("closeListener with no grace cuts a busy request at once", async () => {
    const http = createServer(() => {});
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
    const { port } = http.address() as AddressInfo;
    let arrived = false;
    http.once("request", () => {
      arrived = true;
    });
    const failed = fetch(`http://127.0.0.1:${port}/`).then(
      () => false,
      () => true,
    );
    while (!arrived) await new Promise((resolve) => setTimeout(resolve, 5));
    await closeListener(http, 0);
    assert.equal(await failed, true);
  });
});
