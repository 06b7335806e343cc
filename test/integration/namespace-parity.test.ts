/**
 * Hostile namespaces on the wire: the gateway's hub route answers each one exactly as a real socket.io 4
 * server (the sample legacy chat, which has the same namespaces as the sample hub) answers it: the same
 * packets back (ids and timestamps normalised), and the connection closed in the same cases. Both Engine.IO
 * revisions (2.x clients' namespaces are URLs to socket.io), both transports. Issue 9's reproduction
 * (`40//[,`, `42//[,["x"]`) is among the inputs: socket.io closes that one connection, so does the gateway.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HOSTILE_NAMESPACES } from "../helpers/fuzz/corpus.js";
import { openRawSession, type EngineRevision, type RawTransport } from "../helpers/fuzz/raw-client.js";
import { startStack, type Stack } from "../helpers/stack.js";

const CONCURRENCY = 16;

/**
 * A probe and the packet that answers it: a CONNECT is answered by CONNECT or CONNECT_ERROR (or the server
 * closes the connection); `whoami` with ack id 1 by its ack `31[...]` (or the close). Waiting for the answer,
 * not for time, keeps the comparison exact and free of timing.
 */
interface Probe {
  readonly packet: string;
  readonly answered: (packet: string) => boolean;
}

function probesFor(raw: string): Probe[] {
  const connectAnswer = (packet: string) => packet.startsWith("0") || packet.startsWith("4");
  return [
    { packet: `0${raw},`, answered: connectAnswer },
    { packet: `0${raw},{"role":"admin"}`, answered: connectAnswer },
    { packet: `2${raw},1["whoami"]`, answered: (packet) => packet.startsWith("31[") },
  ];
}

function normalise(packet: string): string {
  return packet
    .replace(/"(id|sid)":"[^"]*"/g, '"$1":"<id>"')
    .replace(/"ts":\d+/g, '"ts":0')
    .replace(/#[A-Za-z0-9_-]+"/g, '#<id>"');
}

/** What a server does with one probe: the packets it sends back up to its answer, or that it closed the connection. */
async function transcript(url: string, eio: EngineRevision, transport: RawTransport, probe: Probe): Promise<string> {
  const session = await openRawSession(url, { eio, transport });
  try {
    // 2.x clients are connected to "/" by the server; 3.x/4.x clients ask.
    if (eio === 4) await session.send("0");
    const joined = await session.next((m) => typeof m === "string" && m.startsWith("0"));
    assert.ok(joined !== undefined, `"/" connected (${url})`);
    const start = session.received.length;
    await session.send(probe.packet);
    const answer = await session.next((m) => session.received.indexOf(m) >= start && typeof m === "string" && probe.answered(m));
    const packets = session.received.slice(start).map((m) => normalise(String(m)));
    const end = answer === undefined ? packets.length : packets.indexOf(normalise(answer as string)) + 1;
    return `${packets.slice(0, end).join(" | ")} => ${answer === undefined ? "closed" : "answered"}`;
  } finally {
    session.close();
  }
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) await Promise.all(items.slice(i, i + CONCURRENCY).map(run));
}

describe("hostile namespaces: the hub route answers as socket.io 4 does", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hub: true, mode: "terminate", routing: { hubPercent: 100 } });
  });
  after(() => stack.close());

  for (const eio of [3, 4] as const) {
    for (const transport of ["websocket", "polling"] as const) {
      it(`EIO=${eio} over ${transport}: ${HOSTILE_NAMESPACES.length} namespaces × 3 probes`, async () => {
        const cases = HOSTILE_NAMESPACES.flatMap((raw) => probesFor(raw));
        const mismatches: string[] = [];
        await inBatches(cases, async (probe) => {
          const [legacy, gateway] = await Promise.all([
            transcript(stack.legacy.url, eio, transport, probe),
            transcript(stack.url, eio, transport, probe),
          ]);
          if (legacy !== gateway)
            mismatches.push(
              `${JSON.stringify(probe.packet.slice(0, 40))}\n  socket.io: ${legacy.slice(0, 300)}\n  gateway:   ${gateway.slice(0, 300)}`,
            );
        });
        assert.deepEqual(mismatches, []);
      });
    }
  }

  it("issue 9's reproduction closes only its own session; the gateway keeps serving", async () => {
    for (const packet of ["0//[,", '2//[,["x"]']) {
      const probe = { packet, answered: () => true };
      assert.equal(await transcript(stack.url, 3, "websocket", probe), " => closed");
      assert.equal(await transcript(stack.legacy.url, 3, "websocket", probe), " => closed");
    }
    const admin = { packet: "0/admin?role=admin,", answered: (p: string) => p.startsWith("0") };
    assert.equal(await transcript(stack.url, 3, "websocket", admin), "0/admin, => answered");
    const metrics = await stack.switchyard.metrics.render();
    assert.match(metrics, /switchyard_protocol_errors_total\{code="SWY_ERR_PROTOCOL_INVALID_NAMESPACE"[^}]*\} [1-9]/);
    assert.match(
      metrics,
      /switchyard_sessions_closed_total\{backend="hub",reason="error",code="SWY_ERR_PROTOCOL_INVALID_NAMESPACE"[^}]*\} [1-9]/,
    );
  });
});
