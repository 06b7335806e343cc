/**
 * Redis goes away under traffic and comes back (a private redis-server): the bridge is reported down,
 * publishes fail fast and are counted (the gap), local deliveries go on, nothing crashes; when Redis
 * returns the bridge resubscribes and rooms span both backends again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { subscribe } from "../../src/telemetry/events.js";
import { eventually } from "../helpers/eventually.js";
import { RedisServer } from "../helpers/redis-server.js";
import type { Member } from "../helpers/room-members.js";
import { startRoomsCluster, type RoomsCluster } from "../helpers/rooms-cluster.js";

describe("the room bridge through a Redis outage", () => {
  let redis: RedisServer;
  let cluster: RoomsCluster;
  const gaps: string[] = [];
  const states: boolean[] = [];
  const unsubscribe = [
    subscribe("switchyard:bridge:gap", (e) => gaps.push(e.world)),
    subscribe("switchyard:bridge:state", (e) => {
      if (e.world === "primary") states.push(e.up);
    }),
  ];

  before(async () => {
    redis = await RedisServer.start();
    cluster = await startRoomsCluster(redis.url, 1);
  });

  after(async () => {
    for (const stop of unsubscribe) stop();
    await cluster.close();
    await redis.stop();
  });

  it("counts the gap, keeps local delivery, resubscribes when Redis returns", async () => {
    const gateway = cluster.gateways[0]!;
    const [hubA, hubB, legacy]: Member[] = await Promise.all([
      cluster.member(gateway, "4", "websocket", "hub"),
      cluster.member(gateway, "2", "polling", "hub"),
      cluster.member(gateway, "3", "websocket", "legacy"),
    ]);
    for (const m of [hubA!, hubB!, legacy!]) await m.join("o");
    await cluster.nodesSubscribed(2);
    hubA!.socket.emit("say", "o", { seq: 1 });
    await eventually(() => legacy!.seqsFrom(hubA!.id).length === 1, "the first broadcast across backends");

    await redis.stop();
    await eventually(() => states.at(-1) === false, "the bridge reported down");
    for (let seq = 2; seq <= 6; seq++) hubA!.socket.emit("say", "o", { seq });
    // Local members still get everything, in order; the legacy side misses what could not be published.
    await eventually(() => hubB!.seqsFrom(hubA!.id).length === 6, "local deliveries during the outage");
    assert.deepEqual(hubB!.seqsFrom(hubA!.id), [1, 2, 3, 4, 5, 6]);
    await eventually(() => gaps.length >= 5, "every failed publish counted");

    await redis.resume();
    await eventually(() => states.at(-1) === true, "the bridge reported up again", 15_000);
    await cluster.nodesSubscribed(2).catch(async () => cluster.nodesSubscribed(2));
    hubA!.socket.emit("say", "o", { seq: 7 });
    legacy!.socket.emit("say", "o", { seq: 1 });
    await eventually(
      () => legacy!.seqsFrom(hubA!.id).includes(7) && hubB!.seqsFrom(legacy!.id).length === 1,
      "rooms span both backends again",
      10_000,
    );
    assert.deepEqual(hubB!.seqsFrom(hubA!.id), [1, 2, 3, 4, 5, 6, 7], "a duplicate or a loss on the local side");
    assert.equal(legacy!.seqsFrom(hubA!.id).filter((seq) => seq === 7).length, 1, "the broadcast after the outage arrived more than once");
  });
});
