/** The ack timer: pairs client emits with ack ids to the backend's acks, per namespace, within a bounded map. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AckTimer, MAX_PENDING_ACKS } from "../../src/downstream/ack-timer.js";
import { decodePacket } from "../../src/protocol/socketio.js";
import { subscribe, type AckLatencyEvent } from "../../src/telemetry/events.js";

function collect(): { events: AckLatencyEvent[]; stop: () => void } {
  const events: AckLatencyEvent[] = [];
  return { events, stop: subscribe("switchyard:ack:latency", (e) => events.push(e)) };
}

const packet = (text: string) => decodePacket(text, 10);

describe("ack timer", () => {
  it("times an emit from forwarding to its ack, matching id and namespace", () => {
    let now = 1000;
    const timer = new AckTimer("hub", () => now);
    const { events, stop } = collect();
    try {
      timer.forwarded(packet('212["echo","a"]'));
      timer.forwarded(packet('2/admin,12["echo","b"]'));
      timer.forwarded(packet('2["no ack"]'));
      timer.forwarded(packet('312["not an emit"]'));
      assert.equal(timer.size, 2);
      now = 1250;
      timer.delivered('2["msg",{}]');
      timer.delivered('313["unknown id"]');
      timer.delivered("3/admin,12[]");
      assert.deepEqual(events, [{ backend: "hub", seconds: 0.25 }]);
      now = 1300;
      timer.delivered('61-12[{"_placeholder":true,"num":0}]'); // a BINARY_ACK for "/" id 12
      assert.deepEqual(events.at(-1), { backend: "hub", seconds: 0.3 });
      assert.equal(timer.size, 0);
      timer.delivered("312[]"); // answered once only
      assert.equal(events.length, 2);
    } finally {
      stop();
    }
  });

  it("keeps at most MAX_PENDING_ACKS ids, forgetting the oldest", () => {
    const timer = new AckTimer("legacy", () => 0);
    const { events, stop } = collect();
    try {
      for (let id = 0; id <= MAX_PENDING_ACKS; id++) timer.forwarded(packet(`2${id}["e"]`));
      assert.equal(timer.size, MAX_PENDING_ACKS);
      timer.delivered("30[]"); // the oldest: forgotten
      timer.delivered(`3${MAX_PENDING_ACKS}[]`);
      assert.deepEqual(events, [{ backend: "legacy", seconds: 0 }]);
    } finally {
      stop();
    }
  });
});
