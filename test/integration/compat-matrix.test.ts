/**
 * The compat matrix through the gateway: every scenario × socket.io-client 2.x/3.x/4.x × polling,
 * websocket and upgrade, with the client → wire tap → gateway → legacy chat, in both legacy modes
 * (terminate: the gateway runs engine.io itself and relays to a WebSocket upstream; pipe: it proxies the
 * bytes). The normalized transcripts must equal the fixtures recorded against the legacy server directly
 * (compat-fixtures/, see its README): to socket.io clients, the gateway must be indistinguishable from it.
 *
 * The same matrix also runs against the legacy server directly: if that fails too, the fixtures (or a
 * dependency upgrade) are at fault, not the gateway.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Server as EngineServer } from "engine.io";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import type { LegacyMode } from "../../src/config/settings.js";
import type { ScenarioTranscript } from "../helpers/compat-harness.js";
import { comparable, matrixCells, readFixture, runMatrix, runScenario, testCellsAgainstFixtures } from "../helpers/compat-matrix.js";
import { SCENARIOS } from "../helpers/compat-scenarios.js";
import { decodePollingBody, decodeWebSocketFrame } from "../helpers/compat-wire-decode.js";
import { startStack, type Stack } from "../helpers/stack.js";

const cells = matrixCells();

/**
 * engine.io's polling transport, closed by the server while no GET is pending (a kick), arms a 30 s
 * `closeTimeout` timer that nothing clears when the client then closes with a POST; it is not unref'd,
 * so it would hold this test process open for 30 s after the last test. The timer only fires a no-op
 * on an already closed transport, so shortening it changes no transcript.
 */
function shortenPollingCloseTimeout(engine: EngineServer): void {
  engine.on("connection", (socket: { transport: { name: string; closeTimeout?: number } }) => {
    if (socket.transport.name === "polling") socket.transport.closeTimeout = 1000;
  });
}

interface Target {
  readonly title: string;
  start(): Promise<{ url: string; close(): Promise<void> }>;
}

async function directLegacy(): Promise<{ url: string; close(): Promise<void> }> {
  const legacy: LegacyChat = await startLegacyChat();
  shortenPollingCloseTimeout(legacy.io.engine);
  return { url: legacy.url, close: () => legacy.close() };
}

async function gateway(mode: LegacyMode): Promise<{ url: string; close(): Promise<void> }> {
  const stack: Stack = await startStack({ mode });
  shortenPollingCloseTimeout(stack.legacy.io.engine);
  shortenPollingCloseTimeout(stack.switchyard.gateway.engine);
  return stack;
}

const TARGETS: readonly Target[] = [
  { title: "legacy server directly (the fixtures still hold)", start: directLegacy },
  { title: "through the gateway, LEGACY_MODE=terminate", start: () => gateway("terminate") },
  { title: "through the gateway, LEGACY_MODE=pipe", start: () => gateway("pipe") },
];

for (const target of TARGETS) {
  describe(`compat matrix: ${target.title}`, () => {
    let server: { url: string; close(): Promise<void> } | undefined;
    let results: Map<string, ScenarioTranscript>;

    before(async () => {
      server = await target.start();
      // All cells run up front with bounded concurrency (each has its own clients and taps); the tests
      // below only compare, so one slow cell does not serialize the rest.
      results = await runMatrix(server.url, { concurrency: 6 });
    });

    after(async () => {
      await server?.close();
    });

    testCellsAgainstFixtures(cells, () => results);
  });
}

describe("compat matrix: the comparison notices a server that differs", () => {
  let legacy: LegacyChat;

  before(async () => {
    legacy = await startLegacyChat({ pingInterval: 24_000 });
    shortenPollingCloseTimeout(legacy.io.engine);
  });

  after(async () => {
    await legacy.close();
  });

  test("another pingInterval shows in the handshake, and only there", async () => {
    const scenario = SCENARIOS.find((s) => s.name === "connect-auth-query")!;
    const cell = { scenario, version: "4", mode: "polling" } as const;
    const actual = comparable(await runScenario(scenario, { baseUrl: legacy.url, version: cell.version, mode: cell.mode }));
    const expected = comparable(await readFixture(cell));
    assert.notDeepStrictEqual(actual, expected);
    const open = (t: typeof actual) => t.wire.a![0]!.s2c[0]!;
    assert.match(open(actual), /"pingInterval":24000/);
    assert.match(open(expected), /"pingInterval":25000/);
    assert.deepStrictEqual(actual.client, expected.client);
    assert.deepStrictEqual(actual.wire.a![0]!.s2c.slice(1), expected.wire.a![0]!.s2c.slice(1));
  });
});

/** engine.io's own encoders (the copies the server uses): the tap must read exactly what they write. */
const requireHere = createRequire(import.meta.url);
type EncodablePacket = { type: "message"; data: string | Buffer };
const engineIoV3 = requireHere(join(dirname(requireHere.resolve("engine.io")), "parser-v3", "index.js")) as {
  encodePayload(packets: EncodablePacket[], supportsBinary: boolean, callback: (payload: string | Buffer) => void): void;
  encodePacket(packet: EncodablePacket, supportsBinary: boolean, utf8encode: boolean, callback: (encoded: string | Buffer) => void): void;
};
const engineIoV4 = createRequire(requireHere.resolve("engine.io"))("engine.io-parser") as {
  encodePayload(packets: EncodablePacket[], callback: (payload: string) => void): void;
};

describe("compat matrix: the wire tap decodes what engine.io encodes", () => {
  // Non-ASCII text on purpose: v3 lengths count UTF-16 units, the binary payload counts UTF-8 bytes.
  const text = '2["h\u00e9llo","\ud83d\ude00 \u00e8:12"]';
  const bytes = Buffer.from([0, 1, 2, 255]);
  const packets: EncodablePacket[] = [
    { type: "message", data: text },
    { type: "message", data: bytes },
    { type: "message", data: "0" },
  ];
  const expected = [`4${text}`, bytes, "40"];

  test("v3 text payload (length in UTF-16 units, b4<base64> binary)", () => {
    let payload: string | Buffer | undefined;
    engineIoV3.encodePayload(packets, false, (encoded) => (payload = encoded));
    assert.equal(typeof payload, "string");
    assert.deepStrictEqual(decodePollingBody(3, Buffer.from(payload as string), "text/plain; charset=UTF-8"), expected);
  });

  test("v3 binary (XHR2) payload", () => {
    let payload: string | Buffer | undefined;
    engineIoV3.encodePayload(packets, true, (encoded) => (payload = encoded));
    assert.ok(Buffer.isBuffer(payload));
    assert.deepStrictEqual(decodePollingBody(3, payload, "application/octet-stream"), expected);
  });

  test("v4 payload (record separator, b<base64> binary)", () => {
    let payload = "";
    engineIoV4.encodePayload(packets, (encoded) => (payload = encoded));
    assert.deepStrictEqual(decodePollingBody(4, Buffer.from(payload), "text/plain"), expected);
  });

  test("WebSocket frames: v3 binary frames carry a type byte, v4 ones do not", () => {
    let frame: string | Buffer | undefined;
    engineIoV3.encodePacket(packets[1]!, true, false, (encoded) => (frame = encoded));
    assert.ok(Buffer.isBuffer(frame));
    assert.equal(frame[0], 4);
    assert.deepStrictEqual(decodeWebSocketFrame(3, frame, true), bytes);
    assert.deepStrictEqual(decodeWebSocketFrame(4, bytes, true), bytes);
    assert.equal(decodeWebSocketFrame(4, Buffer.from("3probe"), false), "3probe");
  });
});
