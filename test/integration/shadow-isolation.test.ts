/**
 * Requirement 6, isolation: a shadow that is slow, dead, refusing or sending garbage never delays,
 * reorders or changes what a client receives, and never grows memory without bound.
 *
 * Every case runs the same two-client workload (test/helpers/shadow-workload.ts, mixed generations and
 * transports) through a gateway whose sessions are all shadowed to a misbehaving hub (FaultyHub), and
 * compares what each client received, in order, with a run without shadowing; the clients must still
 * be connected on their first session at the end, and the fault must be counted (shadow telemetry).
 * "Never delays" is shown without timing: a shadow that never says hello does not hold back anything
 * the clients get, and a slow shadow changes nothing in their logs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import { emitWithAck, type AnySocket } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { FaultyHub, type HubBehaviour } from "../helpers/faulty-hub.js";
import { ShadowPeaks, ShadowTelemetry, metricValue, newestShadowsSettled, scrapeMetrics } from "../helpers/shadow-probe.js";
import { runWorkload, type WorkloadOptions, type WorkloadResult } from "../helpers/shadow-workload.js";
import { startStack, type Stack } from "../helpers/stack.js";
import { freePort as closedPort } from "../helpers/ports.js";

const WORKLOADS: readonly Omit<WorkloadOptions, "midpoint" | "onStep">[] = [
  { tag: "w1", alice: { version: "4", transport: "websocket" }, bob: { version: "2", transport: "polling" } },
  { tag: "w2", alice: { version: "3", transport: "polling" }, bob: { version: "2", transport: "upgrade" } },
];

const RULES = [
  { event: "msg", ignore: ["ts", "id"] },
  { event: "welcome", ignore: ["ts"] },
  { event: "joined", ignore: ["id"] },
  { event: "left", ignore: ["id"] },
];

interface Shadowed {
  readonly stack: Stack;
  readonly telemetry: ShadowTelemetry;
}

async function startShadowed(shadowUrl: string, env: Record<string, string> = {}, shadow: Record<string, unknown> = {}): Promise<Shadowed> {
  const telemetry = new ShadowTelemetry();
  const stack = await startStack({
    env: { HUB_SHADOW_URL: shadowUrl, ...env },
    routing: { hubPercent: 0, shadow: { percent: 100, windowMs: 1000, rules: RULES, ...shadow } },
  });
  return { stack, telemetry };
}

async function stopShadowed(shadowed: Shadowed, ...hubs: { close(): Promise<void> }[]): Promise<void> {
  await shadowed.stack.close();
  for (const hub of hubs) await hub.close();
  shadowed.telemetry.stop();
}

/** Shadow sessions of this gateway that have not ended (opening or open). */
function liveShadows(shadowed: Shadowed): number {
  return shadowed.stack.switchyard.shadow.openShadows.hub;
}

/** Polls `check`; a timeout names what the shadow telemetry saw. */
async function until(shadowed: Shadowed, check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await eventually(check, what, timeoutMs).catch((error: Error) => {
    throw new Error(`${error.message}; ${shadowed.telemetry.summary()}`);
  });
}

/** Runs every workload through the shadowed gateway and checks the clients saw exactly the baseline. */
async function assertIsolated(
  shadowed: Shadowed,
  baseline: readonly WorkloadResult[],
  midpoint: (index: number, clients: { readonly alice: AnySocket; readonly bob: AnySocket }) => Promise<unknown>,
  options: {
    readonly settleFirst?: boolean;
    readonly onStep?: () => void;
    readonly beforeClose?: (index: number) => Promise<unknown>;
  } = {},
): Promise<void> {
  for (const [index, workload] of WORKLOADS.entries()) {
    const manager = shadowed.stack.switchyard.shadow;
    const result = await runWorkload(shadowed.stack.url, {
      ...workload,
      // A fault meant to hit an established shadow session waits for the shadow to accept "/" first.
      ...(options.settleFirst === true
        ? { afterConnect: () => until(shadowed, () => newestShadowsSettled(manager, 2), "both shadows to accept their namespace") }
        : {}),
      midpoint: (clients) => midpoint(index, clients),
      ...(options.beforeClose ? { beforeClose: () => options.beforeClose!(index) } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
    });
    assert.ok(result.stillConnected, `workload ${workload.tag}: both clients stay connected on their first session`);
    assert.deepEqual(
      result.alice,
      baseline[index]!.alice,
      `workload ${workload.tag}: alice received exactly what she receives without shadowing`,
    );
    assert.deepEqual(result.bob, baseline[index]!.bob, `workload ${workload.tag}: bob received exactly what he receives without shadowing`);
    // The sessions ended because the clients closed them, not because of their shadows.
    await eventually(
      () => result.sessionIds.every((id) => shadowed.telemetry.closedSessions.some((c) => c.sessionId === id)),
      "the sessions to close",
    );
    for (const id of result.sessionIds) {
      const closed = shadowed.telemetry.closedSessions.find((c) => c.sessionId === id)!;
      assert.deepEqual([closed.reason, closed.code], ["client closed", undefined], `session ${id}`);
    }
  }
}

describe("shadow isolation", () => {
  let baseline: WorkloadResult[];
  let sampleHub: SampleHub;

  before(async () => {
    sampleHub = await startSampleHub();
    const plain = await startStack({ routing: { hubPercent: 0 } });
    try {
      baseline = [];
      for (const workload of WORKLOADS) baseline.push(await runWorkload(plain.url, workload));
    } finally {
      await plain.close();
    }
  });

  after(() => sampleHub.close());

  it("slow: a shadow whose every frame comes 200 ms late changes nothing for the client, and still matches", async () => {
    const proxy = await FaultyHub.start({ kind: "proxy", target: sampleHub.url, delayMs: 200 });
    const shadowed = await startShadowed(proxy.url);
    try {
      // No settling first: the clients send as soon as they are connected, long before the late shadow
      // answered its CONNECT. The shadow must absorb that, as it absorbs being late everywhere else.
      // The sessions live on until the late shadow has caught up with each phase (5 then 3 broadcasts to
      // both clients): what a shadow delivers after its session closed is not compared.
      const caughtUp = (count: number) =>
        until(shadowed, () => shadowed.telemetry.count("match", "msg") >= count, "the late shadow to catch up");
      await assertIsolated(shadowed, baseline, (index) => caughtUp(16 * index + 10), {
        beforeClose: (index) => caughtUp(16 * (index + 1)),
      });
      await until(
        shadowed,
        () =>
          liveShadows(shadowed) === 0 && shadowed.telemetry.comparisons.filter((c) => c.event === "msg").length >= 2 * WORKLOADS.length * 8,
        "the late shadow deliveries to be compared",
      );
      assert.deepEqual(shadowed.telemetry.errorCodes(), [], `a late shadow is not an error; ${shadowed.telemetry.summary()}`);
      assert.deepEqual(shadowed.telemetry.protocolErrors, [], "nobody broke the protocol");
      const tally = shadowed.telemetry.tally("msg");
      assert.deepEqual(tally, { match: 2 * WORKLOADS.length * 8, mismatch: 0, missing: 0, extra: 0 });
      const delays = shadowed.telemetry.comparisons
        .filter((c) => c.event === "msg" && c.result === "match")
        .map((c) => c.delaySeconds ?? -1);
      assert.ok(
        delays.every((d) => d > 0),
        `the shadow is behind on every msg: ${delays.join(", ")}`,
      );
    } finally {
      await stopShadowed(shadowed, proxy);
    }
  });

  it("slow: a shadow that stops reading is dropped (overflow buffer) before UPSTREAM_BUFFER_LIMIT bytes wait for it", async () => {
    const LIMIT = 1024 * 1024;
    const ECHO_CHARS = 128 * 1024;
    const stalled = await FaultyHub.start({ kind: "stalled" });
    const shadowed = await startShadowed(stalled.url, {
      UPSTREAM_BUFFER_HIGH_WATER: String(LIMIT / 4),
      UPSTREAM_BUFFER_LIMIT: String(LIMIT),
    });
    const peaks = new ShadowPeaks(shadowed.stack.switchyard.shadow);
    let echoes = 0;
    try {
      await assertIsolated(
        shadowed,
        baseline,
        async (_index, { alice }) => {
          const before = shadowed.telemetry.overflowKinds().length;
          // Big echoes until the shadow is dropped: the primary answers every one, unchanged.
          for (let i = 0; shadowed.telemetry.overflowKinds().length === before; i++) {
            assert.ok(i < 500, "the stalled shadow was never dropped");
            const payload = `${i}:`.padEnd(ECHO_CHARS, "x");
            assert.deepEqual(await emitWithAck(alice, "echo", payload), [payload]);
            echoes++;
            peaks.sample();
          }
        },
        { settleFirst: true },
      );
      peaks.sample();
      process.stdout.write(
        `# ${echoes} echoes of ${ECHO_CHARS} characters; at most ${peaks.maxShadowBuffered} bytes waited for a shadow\n`,
      );
      assert.deepEqual(shadowed.telemetry.overflowKinds(), ["buffer", "buffer"], "one shadow dropped per workload, counted");
      assert.equal(
        metricValue(await scrapeMetrics(shadowed.stack.switchyard.opsUrl), "switchyard_shadow_overflow_total", { kind: "buffer" }),
        2,
      );
      assert.deepEqual(shadowed.telemetry.errorCodes(), []);
      // The bound is checked after each mirrored message: it can be passed by one message at most.
      assert.ok(peaks.maxShadowBuffered <= LIMIT + ECHO_CHARS + 1024, `${peaks.maxShadowBuffered} bytes waited for the shadow`);
      assert.ok(peaks.maxShadowBuffered > 0, "the sampler saw the shadow's buffer");
    } finally {
      peaks.stop();
      await stopShadowed(shadowed, stalled);
    }
  });

  it("dead: a hub that refuses connections (nothing listening)", async () => {
    const shadowed = await startShadowed(`ws://127.0.0.1:${await closedPort()}/`);
    try {
      await assertIsolated(shadowed, baseline, () => until(shadowed, () => liveShadows(shadowed) === 0, "the shadows to fail"));
      assert.deepEqual(shadowed.telemetry.errorCodes(), Array(2 * WORKLOADS.length).fill("SWY_ERR_UPSTREAM_UNREACHABLE"));
      assert.equal(shadowed.telemetry.sessions.filter((s) => s.open).length, 0);
    } finally {
      await stopShadowed(shadowed);
    }
  });

  it("dead: a hub that dies mid-session (connections cut without a close frame)", async () => {
    const proxy = await FaultyHub.start({ kind: "proxy", target: sampleHub.url });
    const shadowed = await startShadowed(proxy.url);
    try {
      await assertIsolated(
        shadowed,
        baseline,
        async (index) => {
          await until(
            shadowed,
            () => liveShadows(shadowed) === 2 && shadowed.telemetry.count("match", "msg") === 10 * (index + 1),
            "the shadows to be alive and matching",
          );
          proxy.cutConnections();
          await until(shadowed, () => liveShadows(shadowed) === 0, "the shadows to notice");
        },
        { settleFirst: true },
      );
      assert.deepEqual(shadowed.telemetry.errorCodes(), Array(2 * WORKLOADS.length).fill("SWY_ERR_UPSTREAM_CLOSED"));
    } finally {
      await stopShadowed(shadowed, proxy);
    }
  });

  for (const [name, behaviour, code] of [
    ["HTTP 403", { kind: "refuse", status: 403 }, "SWY_ERR_UPSTREAM_REJECTED"],
    ["no subprotocol selected", { kind: "wrong-subprotocol" }, "SWY_ERR_UPSTREAM_HANDSHAKE"],
    ["another subprotocol selected", { kind: "wrong-subprotocol", protocol: "switchyard-hub.v0" }, "SWY_ERR_UPSTREAM_HANDSHAKE"],
  ] as const) {
    it(`refusing: ${name}`, async () => {
      const hub = await FaultyHub.start(behaviour as HubBehaviour);
      const shadowed = await startShadowed(hub.url);
      try {
        await assertIsolated(shadowed, baseline, () => until(shadowed, () => liveShadows(shadowed) === 0, "the shadows to be refused"));
        assert.equal(hub.upgrades, 2 * WORKLOADS.length, "every session tried its shadow");
        assert.deepEqual(shadowed.telemetry.errorCodes(), Array(2 * WORKLOADS.length).fill(code));
        const samples = await scrapeMetrics(shadowed.stack.switchyard.opsUrl);
        assert.equal(metricValue(samples, "switchyard_shadow_errors_total", { code }), 2 * WORKLOADS.length);
        assert.equal(metricValue(samples, "switchyard_shadow_sessions_open", { target: "hub" }), 0);
      } finally {
        await stopShadowed(shadowed, hub);
      }
    });
  }

  it("slow to open: a shadow that holds its hello holds back nothing the client gets", async () => {
    const hub = await FaultyHub.start({ kind: "no-hello" });
    const shadowed = await startShadowed(hub.url, { UPSTREAM_CONNECT_TIMEOUT_MS: "60000" });
    try {
      await assertIsolated(shadowed, baseline, async (index) => {
        // Phase 1 is over (welcome, acks, broadcasts, binary) and neither shadow has even opened.
        assert.equal(hub.upgrades, 2 * (index + 1));
        assert.equal(hub.waitingSessions, 2, "both shadows wait for their hello");
        assert.equal(liveShadows(shadowed), 2, "both shadows are still opening");
        assert.equal(shadowed.telemetry.sessions.filter((s) => s.open).length, 2 * index, "no shadow session of this workload opened yet");
        assert.equal(hub.framesBeforeHello, 0, "the gateway sends nothing before the hello");
        const framesBefore = hub.framesIn;
        hub.releaseHellos();
        await until(shadowed, () => shadowed.telemetry.sessions.filter((s) => s.open).length === 2 * (index + 1), "the shadows to open");
        // What the clients sent meanwhile was queued for the shadow, and goes out now.
        await until(shadowed, () => hub.framesIn > framesBefore, "the queued messages to reach the shadow");
      });
    } finally {
      await stopShadowed(shadowed, hub);
    }
  });

  it("slow to open: no hello within UPSTREAM_CONNECT_TIMEOUT_MS is a shadow timeout", async () => {
    const hub = await FaultyHub.start({ kind: "no-hello" });
    const shadowed = await startShadowed(hub.url, { UPSTREAM_CONNECT_TIMEOUT_MS: "1500" });
    try {
      await assertIsolated(shadowed, baseline, () => until(shadowed, () => liveShadows(shadowed) === 0, "the shadows to time out"));
      assert.deepEqual(shadowed.telemetry.errorCodes(), Array(2 * WORKLOADS.length).fill("SWY_ERR_UPSTREAM_TIMEOUT"));
    } finally {
      await stopShadowed(shadowed, hub);
    }
  });

  const deep = (depth: number): unknown => (depth === 0 ? "bottom" : [deep(depth - 1)]);
  for (const [name, frames, code] of [
    ["a text frame that is not JSON", ["{ not json"], "SWY_ERR_UPSTREAM_PROTOCOL"],
    ["JSON that is not an object", ["[1,2,3]"], "SWY_ERR_UPSTREAM_PROTOCOL"],
    ["an event whose data is not an array", [JSON.stringify({ type: "event", nsp: "/", data: "nonsense" })], "SWY_ERR_UPSTREAM_PROTOCOL"],
    ["a binary frame nobody announced", [Buffer.from([0xde, 0xad, 0xbe, 0xef])], "SWY_ERR_UPSTREAM_PROTOCOL"],
    ["a second hello", [JSON.stringify({ type: "hello", version: 1 })], "SWY_ERR_UPSTREAM_PROTOCOL"],
    [
      "an event nested deeper than the packet reader allows",
      [JSON.stringify({ type: "event", nsp: "/", data: ["msg", deep(150)] })],
      "SWY_ERR_SHADOW",
    ],
  ] as const) {
    it(`garbage: ${name}`, async () => {
      const hub = await FaultyHub.start({ kind: "garbage", frames });
      const shadowed = await startShadowed(hub.url);
      try {
        await assertIsolated(shadowed, baseline, () => until(shadowed, () => liveShadows(shadowed) === 0, "the shadows to give up"), {
          settleFirst: true,
        });
        assert.deepEqual(shadowed.telemetry.errorCodes(), Array(2 * WORKLOADS.length).fill(code));
      } finally {
        await stopShadowed(shadowed, hub);
      }
    });
  }

  it("garbage: well-formed nonsense events are extras, not errors", async () => {
    const nonsense = [
      JSON.stringify({ type: "event", nsp: "/", data: ["msg", { room: "nowhere", text: 42 }] }),
      JSON.stringify({ type: "event", nsp: "/", data: ["no such event", null] }),
    ];
    const hub = await FaultyHub.start({ kind: "garbage", frames: nonsense });
    const shadowed = await startShadowed(hub.url, {}, { windowMs: 300 });
    try {
      await assertIsolated(shadowed, baseline, async () => {}, { settleFirst: true });
      // Every msg the primary delivered (8 per session) is resolved, and the nonsense shows as such.
      await until(
        shadowed,
        () =>
          shadowed.telemetry.count("extra", "no such event") === 2 * WORKLOADS.length &&
          shadowed.telemetry.tally("msg").missing + shadowed.telemetry.tally("msg").mismatch === 2 * WORKLOADS.length * 8,
        "the nonsense to be reported",
      );
      assert.deepEqual(shadowed.telemetry.errorCodes(), []);
      // The nonsense msg pairs with the first real msg the primary delivers (a mismatch) or with none (extra).
      assert.ok(
        shadowed.telemetry.count("extra", "msg") + shadowed.telemetry.count("mismatch", "msg") >= 2 * WORKLOADS.length,
        shadowed.telemetry.summary(),
      );
    } finally {
      await stopShadowed(shadowed, hub);
    }
  });

  it("memory: a shadow that never delivers holds at most maxPending comparisons; the rest is counted as overflow", async () => {
    const MAX_PENDING = 8;
    const hub = await FaultyHub.start({ kind: "mute" });
    const shadowed = await startShadowed(hub.url, {}, { maxPending: MAX_PENDING, windowMs: 60_000 });
    const manager = shadowed.stack.switchyard.shadow;
    const peaks = new ShadowPeaks(manager);
    const inconsistent: string[] = [];
    const sample = () => {
      const snapshot = peaks.sample();
      if (snapshot.sessionPendingSum !== snapshot.budgetUsed) inconsistent.push(JSON.stringify(snapshot));
    };
    try {
      await assertIsolated(
        shadowed,
        baseline,
        async (_index, { alice }) => {
          for (let i = 0; i < 20; i++) {
            await emitWithAck(alice, "whoami");
            sample();
          }
        },
        { settleFirst: true, onStep: sample },
      );
      sample();
      const overflows = shadowed.telemetry.overflowKinds();
      process.stdout.write(`# ${peaks.samples} samples; peak pending ${peaks.budgetUsed}/${MAX_PENDING}; ${overflows.length} overflows\n`);
      assert.ok(
        peaks.budgetUsed <= MAX_PENDING && peaks.maxSessionPending <= MAX_PENDING,
        `peak ${peaks.budgetUsed} pending for a cap of ${MAX_PENDING}`,
      );
      assert.equal(peaks.budgetUsed, MAX_PENDING, "the cap was reached");
      assert.deepEqual(inconsistent, [], "every pending comparison is charged to the budget");
      assert.ok(
        overflows.length > 40 && overflows.every((kind) => kind === "pending"),
        `${overflows.length} overflows: ${overflows.join(",")}`,
      );
      assert.equal(
        overflows.length,
        (manager as unknown as { budget: { overflowed: number } }).budget.overflowed,
        "every refused comparison is counted once",
      );
      assert.equal(
        metricValue(await scrapeMetrics(shadowed.stack.switchyard.opsUrl), "switchyard_shadow_overflow_total", { kind: "pending" }),
        overflows.length,
      );
      assert.deepEqual(shadowed.telemetry.errorCodes(), [], "a mute shadow is not an error");
    } finally {
      peaks.stop();
      await stopShadowed(shadowed, hub);
    }
  });
});
