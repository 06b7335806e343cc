import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { describe, it } from "node:test";
import { SHADOW_DEFAULTS } from "../../src/config/shadow-config.js";
import type { ErrorCode } from "../../src/errors.js";
import { PendingBudget } from "../../src/shadow/budget.js";
import { ShadowTap, type ShadowTapLimits } from "../../src/shadow/shadow-tap.js";
import type { Upstream, UpstreamMessage, UpstreamSink } from "../../src/upstream/upstream.js";

/** The shadow backend session, as the tap sees it: what it was sent, and a sink to answer through. */
class ShadowSide implements Upstream {
  readonly backend = "hub" as const;
  readonly role = "shadow" as const;
  readonly sessionId = "shadow-sid";
  readonly bufferedAmount = 0;
  readonly sent: UpstreamMessage[] = [];
  sink: UpstreamSink | undefined;
  closed = false;
  attach(sink: UpstreamSink): void {
    this.sink = sink;
  }
  send(message: UpstreamMessage): void {
    this.sent.push(message);
  }
  pause(): void {}
  resume(): void {}
  close(): void {
    this.closed = true;
  }
}

const LIMITS: ShadowTapLimits = {
  maxBacklog: 10_000,
  maxQueuedMessages: 256,
  maxQueuedBytes: 1000,
  maxBufferedBytes: 1 << 20,
  maxAttachments: 10,
};

function tapWith(open: () => Promise<Upstream>) {
  const ended: { code: ErrorCode | undefined; overflow: string | undefined }[] = [];
  const tap = new ShadowTap({
    sessionId: "primary-sid",
    open,
    comparator: { config: () => SHADOW_DEFAULTS, budget: new PendingBudget(1000) },
    limits: LIMITS,
    now: () => Date.now(),
    onOutcome: () => {},
    onOpened: () => {},
    onEnded: (code, _detail, overflow) => ended.push({ code, overflow }),
  });
  return { tap, ended };
}

/** A Socket.IO event packet (what an Engine.IO message carries) of `bytes` characters. */
function event(bytes: number): string {
  return `2["e","${"x".repeat(bytes - 9)}"]`;
}

describe("shadow tap", () => {
  it("holds client messages while the shadow opens, in bytes, then forwards them in order", async () => {
    const side = new ShadowSide();
    let open!: (upstream: Upstream) => void;
    const { tap, ended } = tapWith(() => new Promise((resolve) => (open = resolve)));
    const messages = ["0", event(400), event(400)];
    for (const message of messages) tap.clientMessage(message);
    await tick();
    assert.deepEqual(ended, [], "801 bytes are within the 1000-byte bound");
    open(side);
    await tick();
    assert.deepEqual(side.sent, ["0"], "the CONNECT goes first; events wait for the shadow to accept it");
    side.sink!.onMessage('0{"sid":"s1"}');
    await tick();
    assert.deepEqual(side.sent, messages);
    tap.closed();
  });

  it("drops the shadow (never the client) when what waits for it passes the byte bound", async () => {
    const { tap, ended } = tapWith(() => new Promise(() => {}));
    for (let i = 0; i < 3; i++) tap.clientMessage(event(400));
    await tick();
    assert.deepEqual(ended, [{ code: undefined, overflow: "queue" }]);
    assert.equal(tap.ended, true);
  });

  it("bounds in bytes the messages held until the shadow accepts their namespace, and releases them on its CONNECT", async () => {
    const side = new ShadowSide();
    const { tap, ended } = tapWith(async () => side);
    await tick();
    tap.clientMessage("0");
    tap.clientMessage(event(300));
    tap.clientMessage(event(300));
    await tick();
    assert.deepEqual(side.sent, ["0"], "events wait for the shadow's CONNECT");
    side.sink!.onMessage('0{"sid":"s1"}');
    await tick();
    assert.deepEqual(side.sent, ["0", event(300), event(300)]);
    tap.clientMessage("0/admin,");
    for (let i = 0; i < 4; i++) tap.clientMessage(`2/admin,${event(300).slice(1)}`);
    await tick();
    assert.deepEqual(ended, [{ code: undefined, overflow: "queue" }], "1200 bytes held for /admin");
    assert.equal(side.closed, true, "the shadow session is closed");
  });
});
