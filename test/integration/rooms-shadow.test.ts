/**
 * Shadow isolation for rooms (docs/hub-protocol.md §2.6): legacy sessions shadowed to a hub that uses
 * join/broadcast frames, on two gateway instances. The shadows' rooms and broadcasts live in the shadow
 * world (SHADOW_ADAPTER_KEY), shared by both instances, and nothing of them is published on the primary
 * key where legacy nodes and real sessions listen; real clients get every message exactly once; the
 * shadow's broadcast deliveries are compared per recipient with the legacy's.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { decode } from "notepack.io";
import { SHARED_REDIS_URL } from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { expectEveryMessage, type Member, MEMBER_KINDS } from "../helpers/room-members.js";
import { startRoomsCluster, type RoomsCluster } from "../helpers/rooms-cluster.js";
import { ShadowTelemetry } from "../helpers/shadow-probe.js";

describe("rooms of shadow sessions stay in the shadow world", () => {
  let cluster: RoomsCluster;
  let listener: Redis;
  let control: Redis;
  const heard: { channel: string; uid: unknown }[] = [];
  const telemetry = new ShadowTelemetry();

  before(async () => {
    const routing = { hubPercent: 0, shadow: { percent: 100, windowMs: 2000, rules: [{ event: "said", ignore: ["from"] }] } };
    cluster = await startRoomsCluster(SHARED_REDIS_URL, 2, { ROUTING_CONFIG: JSON.stringify(routing) });
    listener = new Redis(cluster.redisUrl);
    control = new Redis(cluster.redisUrl);
    await listener.psubscribe(`${cluster.key}*`, `${cluster.shadowKey}*`);
    listener.on("pmessageBuffer", (_pattern: Buffer, channel: Buffer, message: Buffer) => {
      let uid: unknown;
      try {
        uid = (decode(message) as unknown[])[0];
      } catch {
        uid = undefined;
      }
      heard.push({ channel: channel.toString(), uid });
    });
  });

  after(async () => {
    telemetry.stop();
    listener.disconnect();
    control.disconnect();
    await cluster.close();
  });

  it("shadow broadcasts reach the shadows of every instance, never the primary key; real clients get each message once", async () => {
    const room = "shadowed-room";
    const members: Member[] = await Promise.all(
      MEMBER_KINDS.slice(0, 4).map(([version, transport], i) => cluster.member(cluster.gateways[i % 2]!, version, transport, "legacy")),
    );
    await Promise.all(members.map((m) => m.join(room)));
    // Each shadow mirrors its client's join: the hub sends a join frame in the shadow world.
    await eventually(
      () => cluster.hub.received.filter((f) => f.type === "event" && (f.data as unknown[])[0] === "join").length === 4,
      "4 shadow joins",
    );
    await eventually(async () => {
      const [, n] = (await control.call("PUBSUB", "NUMSUB", `${cluster.shadowKey}-request#/#`)) as [string, number];
      return n === 2;
    }, "both instances in the shadow world");
    const count = 3;
    for (let seq = 1; seq <= count; seq++) for (const member of members) member.socket.emit("say", room, { seq });
    await expectEveryMessage(
      members,
      members.map((m) => m.id),
      count,
    );
    const shadowChannel = (c: string) => c.startsWith(`${cluster.shadowKey}#`);
    await eventually(
      () => heard.filter((h) => shadowChannel(h.channel)).length === members.length * count,
      "every shadow broadcast published in the shadow world",
    );
    // Both instances hold shadows: each delivers the other's shadow broadcasts (the shadow world is shared).
    for (const gateway of cluster.gateways) assert.equal(gateway.rooms.shadow.socketCount, 2);
    for (const gateway of cluster.gateways) assert.equal(gateway.rooms.primary.socketCount, 0);
    const legacyUid = (cluster.legacy.io.of("/").adapter as unknown as { uid: string }).uid;
    const onPrimary = heard.filter((h) => h.channel.startsWith(`${cluster.key}#`));
    assert.equal(onPrimary.length, members.length * count, "the legacy's own broadcasts");
    assert.deepEqual(
      onPrimary.filter((h) => h.uid !== legacyUid),
      [],
      "something other than the legacy node published on the primary key",
    );
    // Per-recipient comparison: every member's legacy delivery of `said` pairs with its shadow's.
    await eventually(
      () => telemetry.count("match", "said") >= members.length * members.length * count,
      "every said delivery compared and matched",
      10_000,
    );
    assert.equal(
      telemetry.count("missing", "said") + telemetry.count("extra", "said") + telemetry.count("mismatch", "said"),
      0,
      telemetry.summary(),
    );
  });
});
