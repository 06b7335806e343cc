/**
 * Packet for packet: raw Engine.IO v3 and v4 WebSocket sessions that exercise the protocol's corners
 * (CONNECT_ERROR forms, 2.x namespace queries, acks both ways, binary, state violations, server-side
 * disconnect of every namespace) must receive exactly the same packets from gateway → sample hub as from
 * the legacy chat, after ids and timestamps are replaced by labels.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startHubGateway, type HubGateway } from "../helpers/hub-gateway.js";

/** A message to send, or the number of messages received to wait for before going on. */
type Step = string | Buffer | number;

interface WireCase {
  readonly name: string;
  readonly eio: 3 | 4;
  readonly query?: string;
  /** Every case ends with the server closing the session (a kick or a violation): the transcript is complete. */
  readonly steps: readonly Step[];
}

const BYTES = Buffer.from([1, 2, 3]);
/** Engine.IO v3 binary frames carry a leading message type byte. */
const V3_BYTES = Buffer.concat([Buffer.from([4]), BYTES]);

const CASES: readonly WireCase[] = [
  {
    name: "auth, acks and binary ack",
    eio: 4,
    steps: [1, '40{"token":"t1"}', 3, '421["echo","a",{"x":1}]', 4, '451-2["echo",{"_placeholder":true,"num":0}]', BYTES, 6, '42["kick"]'],
  },
  { name: "middleware refusal, then success", eio: 4, steps: [1, '40{"token":"reject"}', 2, '40{"name":"n"}', 4, '42["kick"]'] },
  {
    name: "namespaces: forbidden, admin, unknown; kick disconnects all",
    eio: 4,
    steps: [1, "40", 3, '40/admin,{"role":"user"}', 4, '40/admin,{"role":"admin"}', 6, "40/nope,", 7, '42["kick"]'],
  },
  { name: "server → client event with ack id", eio: 4, steps: [1, "40", 3, '421["ask","q"]', 4, '430["a"]', 6, '42["kick"]'] },
  {
    name: "an event without arguments and an ack without id are ignored",
    eio: 4,
    steps: [1, "40", 3, "42", "43", '423["whoami"]', 4, '42["kick"]'],
  },
  {
    name: "placeholder look-alikes in a non-binary packet",
    eio: 4,
    steps: [1, "40", 3, '421["echo",{"_placeholder":true,"num":0}]', 4, '42["kick"]'],
  },
  // (socket.io applies a DISCONNECT on the next tick: the admin round trip makes sure it did before the event)
  {
    name: "an event after leaving the namespace closes the session",
    eio: 4,
    steps: [1, "40", 3, '40/admin,{"role":"admin"}', 5, "41", '42/admin,1["whoami"]', 6, '42["x"]'],
  },
  { name: "a second CONNECT closes the session", eio: 4, steps: [1, "40", 3, "40"] },
  { name: "a CONNECT_ERROR from the client closes the session", eio: 4, steps: [1, "44{}"] },
  {
    name: "a placeholder outside the attachments closes the session",
    eio: 4,
    steps: [1, "40", 3, '451-["echo",{"_placeholder":true,"num":3}]', BYTES],
  },
  { name: "2.x: / unprompted, binary", eio: 3, steps: [3, '451-1["echo",{"_placeholder":true,"num":0}]', V3_BYTES, 5, '42["kick"]'] },
  {
    name: "2.x: namespace queries are the auth",
    eio: 3,
    steps: [3, "40/admin?role=user,", 4, "40/admin?role=admin&x=1,", 6, '42/admin,0["whoami"]', 7, "40/nope,", 8, '42["kick"]'],
  },
  {
    name: "2.x: / refused by the handshake query, then connected with a namespace query",
    eio: 3,
    query: "token=reject",
    steps: [2, "40/?token=ok,", 4, '420["whoami"]', 5, '42["kick"]'],
  },
  // (socket.io applies a DISCONNECT on the next tick: the admin round trip makes sure it did before "/" is joined again)
  {
    name: "2.x: leaving / and joining again",
    eio: 3,
    steps: [3, "41", "40/admin?role=admin,", 5, "40", 7, '420["whoami"]', 8, '42["kick"]'],
  },
];

/** Replaces every id with a label in order of first appearance, and timestamps with 0. */
function normalize(messages: string[]): string[] {
  const labels = new Map<string, string>();
  const ids = /"(?:sid|id)":"([^"]+)"|#([A-Za-z0-9_-]{20})/g;
  for (const message of messages) {
    for (const match of message.matchAll(ids)) {
      const raw = (match[1] ?? match[2] ?? "").replace(/^\/\w+#/, "");
      if (!labels.has(raw)) labels.set(raw, `ID${labels.size}`);
    }
  }
  return messages.map((message) => {
    let out = message.replace(/"ts":\d+/g, '"ts":0');
    for (const [raw, label] of labels) out = out.split(raw).join(label);
    return out;
  });
}

async function wireTranscript(baseUrl: string, test: WireCase): Promise<string[]> {
  const url = `${baseUrl.replace(/^http/, "ws")}/socket.io/?EIO=${test.eio}&transport=websocket&${test.query ?? "name=x"}`;
  const ws = new WebSocket(url);
  const received: string[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    const text = isBinary ? `<binary ${data.toString("hex")}>` : data.toString();
    // Heartbeats are timing, not behaviour.
    if (text !== "2" && text !== "3") received.push(text);
    wake?.();
  });
  ws.on("close", () => {
    closed = true;
    wake?.();
  });
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(() => {
        wake = undefined;
        reject(new Error(`${test.name}: timed out waiting for ${what}; got ${JSON.stringify(received)}`));
      }, 5000);
      wake = () => {
        if (!check()) return;
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  try {
    for (const step of test.steps) {
      if (typeof step === "number") await until(() => received.length >= step || closed, `${step} messages`);
      else if (!closed) ws.send(step);
    }
    await until(() => closed, "the server to close the session");
    return normalize(received);
  } finally {
    ws.terminate();
  }
}

describe("raw Engine.IO sessions: gateway → sample hub and the legacy chat send the same packets", () => {
  let gateway: HubGateway;

  before(async () => {
    gateway = await startHubGateway();
  });

  after(() => gateway.close());

  for (const test of CASES) {
    it(`EIO${test.eio}: ${test.name}`, async () => {
      const expected = await wireTranscript(gateway.legacy.url, test);
      const actual = await wireTranscript(gateway.url, test);
      assert.ok(expected[0]?.startsWith('0{"sid"'), "the legacy chat opened the session");
      assert.deepEqual(actual, expected);
    });
  }
});
