/**
 * The bridge (docs/hub-protocol.md §2.6) against real parts: Redis, a legacy socket.io node on
 * @socket.io/redis-adapter, two gateway instances with the bridge on, the rooms test hub, real 2.x/3.x/4.x
 * clients on polling and WebSocket, an emitter in a third process. Rooms mix both backends.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { encode } from "notepack.io";
import { subscribe } from "../../src/telemetry/events.js";
import { emitWithAck, waitFor } from "../helpers/clients.js";
import { SHARED_REDIS_URL } from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { expectEveryMessage, type Member, MEMBER_KINDS } from "../helpers/room-members.js";
import { ROOMS_ADMIN_TOKEN, startRoomsCluster, type RoomsCluster } from "../helpers/rooms-cluster.js";
import { metricValue, scrapeMetrics, type MetricSample } from "../helpers/shadow-probe.js";

describe("rooms across backends (the bridge)", () => {
  let cluster: RoomsCluster;
  const malformed: string[] = [];
  const stopMalformed = subscribe("switchyard:bridge:malformed", (e) => malformed.push(e.kind));

  before(async () => {
    cluster = await startRoomsCluster(SHARED_REDIS_URL, 2);
  });

  after(async () => {
    stopMalformed();
    await cluster.close();
  });

  /**
   * `size` members, `hubShare` of them on the hub, every client kind, alternating gateways; resolves once
   * they are in the room and every node with members in `nsp` (legacy, and each gateway holding hub
   * members) is subscribed, so nothing is published before a node can hear it.
   */
  async function mixedRoom(room: string, size: number, hubShare: number, nsp = "/"): Promise<Member[]> {
    const hubCount = Math.round(size * hubShare);
    const members = await Promise.all(
      Array.from({ length: size }, (_, i) => {
        const [version, transport] = MEMBER_KINDS[i % MEMBER_KINDS.length]!;
        return cluster.member(cluster.gateways[i % 2]!, version, transport, i < hubCount ? "hub" : "legacy", nsp);
      }),
    );
    await Promise.all(members.map((m) => m.join(room)));
    const gatewaysWithHubMembers = Math.min(hubCount, 2);
    await cluster.nodesSubscribed((nsp === "/hub-only" ? 0 : 1) + gatewaysWithHubMembers, nsp);
    return members;
  }

  for (const share of [0.1, 0.5, 0.9]) {
    it(`mixed room at ${share * 100} % hub: every member gets every message once, in per-sender order`, async () => {
      const room = `mixed-${share}`;
      const members = await mixedRoom(room, 10, share);
      const onLegacy = members.filter((m) => cluster.legacy.io.of("/").sockets.has(m.id)).length;
      assert.equal(onLegacy, 10 - Math.round(10 * share), "members are not on the backends the test placed them on");
      const count = 5;
      const senders = members.map((m) => m.id);
      for (let seq = 1; seq <= count; seq++) for (const member of members) member.socket.emit("say", room, { seq });
      await expectEveryMessage(members, senders, count);
      // A fence from every sender: it travels each path behind that sender's earlier messages, so a duplicate of
      // any of them would have arrived before it and shows in the exact sequence checked now.
      for (const member of members) member.socket.emit("say", room, { seq: count + 1 });
      await expectEveryMessage(members, senders, count + 1);
    });
  }

  it("binary broadcasts, except and namespaces across backends", async () => {
    // Every client kind on each backend (the first 6 members on the hub, the last 6 on legacy).
    const members = await mixedRoom("bx", 12, 0.5);
    const other = await cluster.member(cluster.gateways[0]!, "4", "websocket", "hub", "/other");
    await other.join("bx");
    await cluster.nodesSubscribed(2, "/other");
    const [hubSender, legacySender] = [members[0]!, members[11]!];
    const bytes = Buffer.from([1, 2, 3, 255]);
    hubSender.socket.emit("say-bin", "bx", { seq: 1 }, bytes);
    legacySender.socket.emit("say-bin", "bx", { seq: 2 }, bytes);
    await eventually(() => members.every((m) => m.bins.length === 2), "both binary broadcasts everywhere");
    for (const m of members) for (const bin of m.bins) assert.deepEqual(bin.bytes, bytes, `${m.label} got other bytes`);
    hubSender.socket.emit("say-others", "bx", { seq: 1 });
    legacySender.socket.emit("say-others", "bx", { seq: 1 });
    await eventually(() => members.every((m) => m.said.length === (m === hubSender || m === legacySender ? 1 : 2)), "say-others");
    assert.deepEqual(hubSender.seqsFrom(hubSender.id), [], "socket.broadcast reached its sender");
    assert.deepEqual(legacySender.seqsFrom(legacySender.id), []);
    assert.equal(other.said.length + other.bins.length, 0, "a broadcast crossed namespaces");
  });

  it("legacy io.to(<hub socket id>), fetchSockets, socketsJoin, serverSideEmitWithAck, acks and disconnectSockets", async () => {
    const members = await mixedRoom("ops", 4, 0.5);
    const [hubA, hubB] = [members[0]!, members[1]!];
    const io = cluster.legacy.io;
    io.to(hubA.id).emit("said", { from: "legacy-direct", seq: 1 });
    await eventually(() => hubA.seqsFrom("legacy-direct").length === 1, "a legacy emit to a hub socket id");
    assert.deepEqual(hubB.seqsFrom("legacy-direct"), []);

    const sockets = await io.in("ops").fetchSockets();
    assert.deepEqual(sockets.map((s) => s.id).sort(), members.map((m) => m.id).sort(), "fetchSockets does not list every member");
    const remote = sockets.find((s) => s.id === hubA.id)!;
    assert.ok(remote.rooms.has("ops") && remote.rooms.has(hubA.id));
    assert.equal(remote.handshake.query.userId !== undefined, true, "the handshake lacks the client's query");

    // Without an ack: nothing to answer, and nothing may break (the next request is answered as before).
    io.serverSideEmit("hello", { from: "legacy" });
    const responses = await io.serverSideEmitWithAck("ping");
    assert.deepEqual(responses, [null, null], "each gateway instance answers serverSideEmitWithAck once");

    io.in("ops").socketsJoin("ops-extra");
    await eventually(
      () => cluster.hub.received.some((f) => f.type === "join" && (f.rooms as string[]).includes("ops-extra")),
      "the hub told",
    );
    io.to("ops-extra").emit("said", { from: "legacy-extra", seq: 1 });
    await eventually(() => members.every((m) => m.seqsFrom("legacy-extra").length === 1), "a room joined through socketsJoin");

    for (const m of members) m.socket.on("question", (n: number, ack: (a: string) => void) => ack(`answer-${n}`));
    const answers = await io.timeout(3000).to("ops").emitWithAck("question", 7);
    assert.deepEqual(answers, Array(4).fill("answer-7"), "a broadcast with acks did not collect every member's answer");

    const disconnected = waitFor(hubB.socket, "disconnect");
    io.in(hubB.id).disconnectSockets();
    await disconnected;
    const after = await io.in("ops").fetchSockets();
    assert.equal(
      after.some((s) => s.id === hubB.id),
      false,
      "a disconnected hub socket is still listed",
    );
  });

  it("an emitter in a third process reaches every member", async () => {
    const members = await mixedRoom("emit", 4, 0.5);
    const script = `
      import { Emitter } from "@socket.io/redis-emitter";
      import { Redis } from "ioredis";
      const redis = new Redis(${JSON.stringify(cluster.redisUrl)});
      new Emitter(redis, { key: ${JSON.stringify(cluster.key)} }).to("emit").emit("said", { from: "emitter", seq: 1 });
      setTimeout(() => redis.disconnect(), 100);`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 });
    assert.equal(result.status, 0, result.stderr);
    await eventually(() => members.every((m) => m.seqsFrom("emitter").length === 1), "the emitter's broadcast everywhere");
  });

  it("exports broadcasts by source (hub frame, another gateway, legacy, emitter), deliveries, the bridge state and lag", async () => {
    const members = await mixedRoom("metered", 4, 0.5);
    const [hubOn0, hubOn1, legacy] = [members[0]!, members[1]!, members[2]!];
    const before = await scrapeMetrics(cluster.gateways[0]!.opsUrl);
    const broadcasts = (samples: MetricSample[], source: string) =>
      metricValue(samples, "switchyard_room_broadcasts_total", { world: "primary", source }) ?? 0;
    hubOn0.socket.emit("say", "metered", { seq: 1 });
    hubOn1.socket.emit("say", "metered", { seq: 1 });
    legacy.socket.emit("say", "metered", { seq: 1 });
    // What @socket.io/redis-emitter publishes (its uid is "emitter"), as a third process would.
    const redis = new Redis(cluster.redisUrl);
    try {
      const packet = { type: 2, nsp: "/", data: ["said", { from: "emitter", seq: 1 }] };
      await redis.publish(`${cluster.key}#/#metered#`, encode(["emitter", packet, { rooms: ["metered"], except: [], flags: {} }]));
    } finally {
      redis.disconnect();
    }
    const senders = [hubOn0.id, hubOn1.id, legacy.id, "emitter"];
    await expectEveryMessage(members, senders, 1);
    // In-process instances share the telemetry channel, so each one's /metrics counts both: this checks that
    // every series is exported and moves, not how the two instances split the work.
    const after = await scrapeMetrics(cluster.gateways[0]!.opsUrl);
    for (const source of ["hub", "gateway", "legacy", "emitter"])
      assert.ok(broadcasts(after, source) > broadcasts(before, source), `no room broadcast counted from source ${source}`);
    const deliveries = (samples: MetricSample[]) => metricValue(samples, "switchyard_room_deliveries_total", { world: "primary" }) ?? 0;
    assert.ok(deliveries(after) - deliveries(before) >= 4 * 2, "the hub members' deliveries are counted");
    assert.equal(metricValue(after, "switchyard_bridge_up", { world: "primary" }), 1);
    assert.ok((metricValue(after, "switchyard_bridge_lag_seconds_count", { world: "primary" }) ?? 0) > 0, "no bridge lag observed");
  });

  // On a namespace only the hub serves: the legacy node's own Redis adapter would throw on this input.
  it("contains malformed bridge input: counted, never delivered, nothing breaks", async () => {
    const nsp = "/hub-only";
    const members = await mixedRoom("bad", 2, 1, nsp);
    const redis = new Redis(cluster.redisUrl);
    try {
      const before = malformed.length;
      await redis.publish(`${cluster.key}#${nsp}#`, Buffer.from([0xc1, 0xff]));
      await redis.publish(`${cluster.key}#${nsp}#`, encode(["x", { type: 0, nsp, data: { sid: "evil" } }, { rooms: [], except: [] }]));
      await redis.publish(`${cluster.key}#${nsp}#`, encode(["x", { type: 2, nsp, data: ["said", { from: "bad-opts" }] }, { rooms: 5 }]));
      await redis.publish(`${cluster.key}-request#${nsp}#`, "{not json");
      await redis.publish(`${cluster.key}-request#${nsp}#`, encode({ type: 7, requestId: "r", packet: { type: 1, nsp }, opts: {} }));
      await redis.publish(`${cluster.key}-request#${nsp}#`, JSON.stringify({ type: 5, requestId: "r2" }));
      await eventually(() => malformed.length - before >= 2 * 6, "every malformed input counted by both gateways");
    } finally {
      redis.disconnect();
    }
    members[0]!.socket.emit("say", "bad", { seq: 1 });
    await expectEveryMessage(members, [members[0]!.id], 1);
    assert.equal(members[1]!.seqsFrom("bad-opts").length, 0);
    assert.deepEqual(await emitWithAck(members[1]!.socket, "echo", "still"), ["still"]);
  });

  it("one gateway instance restarted: requests stay prompt, rooms work through the new instance", async () => {
    const [stay] = await Promise.all([cluster.member(cluster.gateways[0]!, "4", "websocket", "legacy")]);
    await stay!.join("restart");
    // A hub member of its own on the instance that stays, so that it is a node of "/" whatever earlier tests left.
    const anchor = await cluster.member(cluster.gateways[0]!, "4", "polling", "hub");
    await anchor.join("restart");
    const old = cluster.gateways[1]!;
    const goner = await cluster.member(old, "3", "websocket", "hub");
    await goner.join("restart");
    await cluster.nodesSubscribed(3);
    // A restart as SIGTERM does it: sessions closed (clients reconnect elsewhere), then the process exits.
    const disconnected = waitFor(goner.socket, "disconnect");
    await old.shutdown(0, 100);
    cluster.gateways.splice(1, 1);
    await disconnected;
    // The closed instance left the adapter: no request waits for it.
    assert.deepEqual(await cluster.legacy.io.serverSideEmitWithAck("ping"), [null]);
    assert.equal(
      (await cluster.legacy.io.in("restart").fetchSockets()).some((s) => s.id === goner.id),
      false,
    );
    const fresh = await cluster.startGateway();
    const newcomer = await cluster.member(fresh, "2", "websocket", "hub");
    await newcomer.join("restart");
    await cluster.nodesSubscribed(3);
    stay!.socket.emit("say", "restart", { seq: 1 });
    newcomer.socket.emit("say", "restart", { seq: 1 });
    await expectEveryMessage([stay!, anchor, newcomer], [stay!.id, newcomer.id], 1);
  });

  // Last: it sets the split to 0 for the cluster.
  it("sessions moving from the hub to legacy (rollback): no duplicates, per-sender order, nothing lost for those who stay", async () => {
    const room = "moving";
    const sender = await cluster.member(cluster.gateways[0]!, "4", "websocket", "legacy");
    const stayers = await Promise.all([
      cluster.member(cluster.gateways[0]!, "2", "polling", "legacy"),
      cluster.member(cluster.gateways[1]!, "3", "websocket", "legacy"),
    ]);
    const movers = await Promise.all(
      MEMBER_KINDS.map(([version, transport], i) =>
        cluster.member(cluster.gateways[i % 2]!, version, transport, "hub", "/", { rejoin: room }),
      ),
    );
    for (const m of [sender, ...stayers, ...movers]) await m.join(room);
    await cluster.nodesSubscribed(3);
    const firstIds = new Set(movers.map((m) => m.id));
    let seq = 0;
    const timer = setInterval(() => sender.socket.emit("say", room, { seq: ++seq }), 15);
    try {
      await eventually(() => seq >= 10, "traffic before the move");
      const res = await fetch(`${cluster.gateways[0]!.opsUrl}/admin/rollback`, {
        method: "POST",
        headers: { authorization: `Bearer ${ROOMS_ADMIN_TOKEN}` },
      });
      assert.equal(res.status, 200, await res.text());
      await eventually(
        () => movers.every((m) => !firstIds.has(m.id) && cluster.legacy.io.of("/").sockets.has(m.id) && m.rejoined),
        "every mover reconnected on legacy and back in the room",
        15_000,
      ).catch((error: Error) => {
        const states = movers.map(
          (m) =>
            `${m.label}: moved=${!firstIds.has(m.id)} legacy=${cluster.legacy.io.of("/").sockets.has(m.id)} ` +
            `rejoined=${m.rejoined} connected=${m.socket.connected}`,
        );
        throw new Error(`${error.message}: ${states.join("; ")}`);
      });
      const moved = seq;
      await eventually(() => seq >= moved + 10, "traffic after the move");
    } finally {
      clearInterval(timer);
    }
    const total = seq;
    await expectEveryMessage([...stayers, sender], [sender.id], total);
    await eventually(() => movers.every((m) => m.seqsFrom(sender.id).at(-1) === total), "the movers get the last messages");
    for (const mover of movers) {
      const seqs = mover.seqsFrom(sender.id);
      for (let i = 1; i < seqs.length; i++)
        assert.ok(seqs[i]! > seqs[i - 1]!, `${mover.label}: ${seqs[i - 1]} then ${seqs[i]} (a duplicate or out of order)`);
    }
  });
});
