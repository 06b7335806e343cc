/**
 * Shadowing in the other direction: hub-route sessions mirrored to a dark legacy deployment
 * (LEGACY_SHADOW_URL). The hub and the legacy chat implement the same contract, so with noise rules for
 * timestamps and for ids of *other* sessions every comparison must match, for every client generation:
 * a session's own socket id differs between the backends and must be mapped by the comparator. A dark
 * legacy server that answers late must not lose its shadow sessions to the client's early events.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { eventually } from "../helpers/eventually.js";
import { LatencyProxy } from "../helpers/latency-proxy.js";
import { ShadowTelemetry, fetchDiffs, SHADOW_ADMIN_TOKEN } from "../helpers/shadow-probe.js";
import { runWorkload, type WorkloadOptions } from "../helpers/shadow-workload.js";
import { startStack, type Stack } from "../helpers/stack.js";

const WORKLOADS: readonly Omit<WorkloadOptions, "midpoint" | "onStep">[] = [
  { tag: "d1", alice: { version: "4", transport: "websocket" }, bob: { version: "2", transport: "polling" } },
  { tag: "d2", alice: { version: "3", transport: "upgrade" }, bob: { version: "2", transport: "websocket" } },
];

const WINDOW_MS = 500;

describe("shadow to a dark legacy deployment (hub-route sessions)", () => {
  let dark: LegacyChat;
  let stack: Stack;
  let telemetry: ShadowTelemetry;

  before(async () => {
    telemetry = new ShadowTelemetry();
    dark = await startLegacyChat();
    stack = await startStack({
      hub: true,
      env: { LEGACY_SHADOW_URL: dark.url, ADMIN_TOKEN: SHADOW_ADMIN_TOKEN },
      routing: {
        hubPercent: 100,
        shadow: {
          percent: 100,
          windowMs: WINDOW_MS,
          rules: [
            // Timestamps differ, and so do the ids of *other* sessions (only a session's own id is mapped).
            { event: "msg", ignore: ["ts", "id"] },
            { event: "welcome", ignore: ["ts"] },
            { event: "joined", ignore: ["id"] },
            { event: "left", ignore: ["id"] },
            { event: "history", ignore: ["*.ts", "*.id"] },
          ],
        },
      },
    });
    for (const workload of WORKLOADS) {
      // Each session stays open one window after its last exchange, so that the shadow's last deliveries are compared.
      await runWorkload(stack.url, { ...workload, beforeClose: () => new Promise((resolve) => setTimeout(resolve, WINDOW_MS)) });
    }
    await eventually(() => stack.switchyard.shadow.openShadows.legacy === 0, "the shadow sessions to end");
  });

  after(async () => {
    await stack.close();
    await dark.close();
    telemetry.stop();
  });

  it("opens every shadow on the dark legacy server without errors", () => {
    assert.equal(telemetry.sessions.filter((s) => s.open && s.target === "legacy").length, 2 * WORKLOADS.length);
    assert.deepEqual(telemetry.errorCodes(), []);
    assert.deepEqual(telemetry.overflowKinds(), []);
  });

  it("matches every delivery, including the ones carrying the session's own socket id", async () => {
    const notMatched = telemetry.comparisons.filter((c) => c.result !== "match");
    const { entries } = await fetchDiffs(stack.switchyard.opsUrl, 20);
    assert.deepEqual(
      notMatched.map((c) => `${c.event}:${c.result}`),
      [],
      `${telemetry.summary()}\n${entries.map((e) => `${e.event}: ${JSON.stringify(e.diff)}`).join("\n")}`,
    );
    for (const event of ["$connect", "welcome", "msg", "$ack", "joined", "left", "uploaded", "question", "answer", "typing"]) {
      assert.ok(telemetry.count("match", event) > 0, `some ${event} matched`);
    }
  });
});

describe("shadow to a slow dark legacy deployment", () => {
  const DELAY_MS = 300;
  let dark: LegacyChat;
  let latency: LatencyProxy;
  let stack: Stack;
  let telemetry: ShadowTelemetry;

  before(async () => {
    telemetry = new ShadowTelemetry();
    dark = await startLegacyChat();
    // Everything the dark legacy server says arrives 300 ms late: its handshake, its CONNECT answers too.
    latency = await LatencyProxy.start(dark.port, DELAY_MS);
    stack = await startStack({
      hub: true,
      env: { LEGACY_SHADOW_URL: latency.url },
      routing: {
        hubPercent: 100,
        shadow: {
          percent: 100,
          windowMs: 4 * DELAY_MS,
          rules: [
            { event: "msg", ignore: ["ts", "id"] },
            { event: "welcome", ignore: ["ts"] },
            { event: "joined", ignore: ["id"] },
            { event: "left", ignore: ["id"] },
          ],
        },
      },
    });
    // v5 clients (3.x/4.x) send their CONNECT themselves, and their first events as soon as the (fast) primary accepted it.
    const msgOutcomes = () => telemetry.comparisons.filter((c) => c.event === "msg").length;
    await runWorkload(stack.url, {
      tag: "slow",
      alice: { version: "4", transport: "websocket" },
      bob: { version: "3", transport: "polling" },
      beforeClose: () => eventually(() => msgOutcomes() >= 16, "the late shadow's broadcasts to be compared", 15_000),
    });
    await eventually(() => stack.switchyard.shadow.openShadows.legacy === 0, "the shadow sessions to end");
  });

  after(async () => {
    await stack.close();
    await latency.close();
    await dark.close();
    telemetry.stop();
  });

  it("keeps the shadow sessions through the client's early events", () => {
    assert.deepEqual(telemetry.errorCodes(), [], `the shadows must not be closed by the dark server; ${telemetry.summary()}`);
    assert.equal(telemetry.sessions.filter((s) => s.open).length, 2);
    // Each session's own exchanges are compared. (Broadcasts between the two sessions depend on the
    // order their shadows joined the room on the dark server, which a late shadow does not guarantee.)
    assert.equal(telemetry.count("match", "$connect"), 2, telemetry.summary());
    assert.equal(telemetry.count("match", "welcome"), 2, telemetry.summary());
    assert.equal(telemetry.count("match", "uploaded"), 1, telemetry.summary());
  });
});
