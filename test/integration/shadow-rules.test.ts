/**
 * Requirement 4, "a rule change applies without restart": a hub whose `msg` broadcasts differ from the
 * legacy server's in one field (`from`) mismatches until `PUT /admin/routing` adds that field to the
 * msg rule's ignore list; from then on the same sessions, still open, match. A comparison already
 * pending when the rule changes is re-judged under the new rule at once, not when its window ends.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import type { RoutingConfig } from "../../src/config/routing-config.js";
import { connected, createClient, emitWithAck, waitFor, type AnySocket } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { FaultyHub, type FrameTransform } from "../helpers/faulty-hub.js";
import { SHADOW_ADMIN_TOKEN, ShadowTelemetry, fetchDiffs, shadowSnapshot } from "../helpers/shadow-probe.js";
import { startStack, type Stack } from "../helpers/stack.js";

const ROOM = "rules";
const HUB_SUFFIX = " (hub)";

/** The hub spells the sender differently: the kind of harmless difference a noise rule is for. */
const renameSender: FrameTransform = (frame) => {
  const data = frame.data as unknown[];
  const body = data[1] as { from?: unknown } | undefined;
  if (data[0] !== "msg" || typeof body?.from !== "string") return frame;
  return { ...frame, data: ["msg", { ...body, from: body.from + HUB_SUFFIX }] };
};

const STRICT_MSG_RULE = { event: "msg", ignore: ["ts", "id"] };
const LENIENT_MSG_RULE = { event: "msg", ignore: ["ts", "id", "from"] };

async function putShadow(stack: Stack, shadow: Record<string, unknown>): Promise<RoutingConfig> {
  const opsUrl = stack.switchyard.opsUrl;
  const current = (await (await fetch(`${opsUrl}/admin/routing`)).json()) as RoutingConfig;
  const response = await fetch(`${opsUrl}/admin/routing`, {
    method: "PUT",
    headers: { authorization: `Bearer ${SHADOW_ADMIN_TOKEN}`, "if-match": String(current.version), "content-type": "application/json" },
    body: JSON.stringify({ ...current, shadow: { ...current.shadow, ...shadow } }),
  });
  const body = (await response.json()) as RoutingConfig;
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.version, current.version + 1);
  return body;
}

describe("shadow noise rules change without restart", () => {
  let hub: SampleHub;
  let proxy: FaultyHub;
  let stack: Stack;
  let telemetry: ShadowTelemetry;
  const clients: AnySocket[] = [];
  let sessionIds: string[];
  let sent = 0;

  /** One msg from alice, answered; both members receive it (primary) and so do their shadows. */
  async function say(): Promise<void> {
    const [ack] = await emitWithAck<[{ ok?: boolean }]>(clients[0]!, "msg", { room: ROOM, text: `message ${sent++}` });
    assert.equal(ack.ok, true);
  }

  const msgOutcomes = () => {
    const t = telemetry.tally("msg");
    return t.match + t.mismatch + t.missing + t.extra;
  };

  before(async () => {
    telemetry = new ShadowTelemetry();
    hub = await startSampleHub();
    proxy = await FaultyHub.start({ kind: "proxy", target: hub.url, transform: renameSender });
    stack = await startStack({
      env: { HUB_SHADOW_URL: proxy.url, ADMIN_TOKEN: SHADOW_ADMIN_TOKEN },
      routing: {
        hubPercent: 0,
        shadow: {
          percent: 100,
          windowMs: 300,
          rules: [STRICT_MSG_RULE, { event: "welcome", ignore: ["ts"] }, { event: "joined", ignore: ["id"] }],
        },
      },
    });
    for (const [version, transport, name] of [
      ["3", "websocket", "alice"],
      ["2", "polling", "bob"],
    ] as const) {
      const socket = createClient(version, stack.url, "/", { transport, query: { name }, auth: { name } });
      clients.push(socket);
      const welcome = waitFor(socket, "welcome");
      await connected(socket);
      await welcome;
    }
    await eventually(() => telemetry.count("match", "$connect") === 2, "both shadows to connect");
    for (const socket of clients) await emitWithAck(socket, "join", ROOM);
    await eventually(() => hub.runtime.roomsOf(true).get("/")?.get(ROOM)?.size === 2, "both shadows to join the room");
    sessionIds = clients.map((socket) => socket.io.engine.id!);
  });

  after(async () => {
    for (const socket of clients) socket.close();
    await stack.close();
    await proxy.close();
    await hub.close();
    telemetry.stop();
  });

  it("mismatches on the field the rule does not ignore, with the evidence naming it", async () => {
    for (let i = 0; i < 3; i++) await say();
    await eventually(() => msgOutcomes() === 6, "3 broadcasts to 2 members to be compared");
    assert.deepEqual(telemetry.tally("msg"), { match: 0, mismatch: 6, missing: 0, extra: 0 });
    const { entries } = await fetchDiffs(stack.switchyard.opsUrl, 100);
    const msgEntries = entries.filter((entry) => entry.event === "msg");
    assert.equal(msgEntries.length, 6);
    for (const entry of msgEntries) {
      // In a quiet stream each altered delivery is paired with its own original.
      const [primary] = entry.primary as [{ text: string; from: string }];
      const [shadow] = entry.shadow as [{ text: string; from: string }];
      assert.equal(shadow.text, primary.text);
      assert.deepEqual(entry.diff, [{ path: "$[0].from", primary: "alice", shadow: `alice${HUB_SUFFIX}` }]);
      assert.ok(sessionIds.includes(entry.sessionId));
    }
  });

  it("matches once PUT /admin/routing ignores that field, on the same open sessions", async () => {
    const updated = await putShadow(stack, {
      rules: [LENIENT_MSG_RULE, { event: "welcome", ignore: ["ts"] }, { event: "joined", ignore: ["id"] }],
    });
    assert.deepEqual(updated.shadow.rules[0]?.ignore, ["ts", "id", "from"]);
    await eventually(() => stack.switchyard.store.current().version === updated.version, "the gateway to apply the new version");
    telemetry.clear();
    for (let i = 0; i < 3; i++) await say();
    await eventually(() => msgOutcomes() === 6, "3 broadcasts to 2 members to be compared");
    assert.deepEqual(telemetry.tally("msg"), { match: 6, mismatch: 0, missing: 0, extra: 0 });
    // Nothing was restarted: same sessions, same shadows, no session closed.
    assert.deepEqual(
      clients.map((socket) => socket.io.engine.id),
      sessionIds,
    );
    assert.ok(clients.every((socket) => socket.connected));
    assert.deepEqual(telemetry.closedSessions, []);
    assert.deepEqual(telemetry.sessions, [], "no shadow session was opened or closed");
    assert.equal(stack.switchyard.shadow.openShadows.hub, 2);
  });

  it("re-judges comparisons already pending when the rule changes", async () => {
    // A long window: the deliveries of one broadcast wait, unpaired, until the rule makes them equal.
    await putShadow(stack, { windowMs: 600_000, rules: [STRICT_MSG_RULE] });
    telemetry.clear();
    await say();
    await eventually(
      () => shadowSnapshot(stack.switchyard.shadow).budgetUsed >= 4,
      "both members' primary and shadow deliveries to be pending",
    );
    assert.equal(msgOutcomes(), 0, "nothing resolved before the window");
    await putShadow(stack, { rules: [LENIENT_MSG_RULE] });
    await eventually(() => msgOutcomes() === 2, "the pending pairs to be re-judged");
    assert.deepEqual(telemetry.tally("msg"), { match: 2, mismatch: 0, missing: 0, extra: 0 });
  });
});
