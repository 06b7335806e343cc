/**
 * The hub upstream's lifecycle against real WebSocket servers: how opening fails (each with its code and
 * telemetry), how an open session ends when the hub breaks it, heartbeats, the early queue, backpressure,
 * forwarded headers, and the sample hub's shadow isolation.
 *
 * Each runs with HUB_PROTOCOL=v1 (no links: a WebSocket per session) and with the default, auto (the process's
 * links offer v2 and v1): the scripted hubs here select v1, so auto must give them exactly v1's sessions, codes
 * and telemetry; the sample hub selects v2 and carries the sessions over links. test/integration/
 * hub-link-lifecycle.test.ts scripts a v2 hub.
 */
import assert from "node:assert/strict";
import { createServer, request, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocketServer, type ServerOptions, type WebSocket } from "ws";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import type { ErrorCode } from "../../src/errors.js";
import { subscribe, type UpstreamFailedEvent } from "../../src/telemetry/events.js";
import type { ClientContext } from "../../src/upstream/client-context.js";
import type { HubProtocolChoice } from "../../src/config/hub-link-settings.js";
import { HubLinks } from "../../src/upstream/hub-link.js";
import { openHubUpstream, type HubUpstream, type HubUpstreamOptions } from "../../src/upstream/hub-upstream.js";
import { eventually } from "../helpers/eventually.js";
import { RecordingSink } from "../helpers/recording-sink.js";

const CONTEXT: ClientContext = {
  eio: 4,
  query: [["name", "probe"]],
  // A client-sent x-switchyard-shadow (forwarded by a careless FORWARD_HEADERS) must not reach the hub.
  headers: {
    cookie: "session=abc",
    "user-agent": "test-agent",
    "x-forwarded-for": "10.1.2.3",
    "x-forwarded-proto": "http",
    "x-switchyard-shadow": "1",
  },
  remoteAddress: "10.1.2.3",
};

const PROTOCOLS: readonly HubProtocolChoice[] = ["v1", "auto"];

/** The process's links for HUB_PROTOCOL=auto (the settings' defaults; frames up to 16 MiB for the drain test). */
function linksFor(protocol: HubProtocolChoice): HubLinks | undefined {
  if (protocol === "v1") return undefined;
  return new HubLinks({
    protocol: "auto",
    links: 2,
    maxSessions: 5000,
    maxFrameBytes: 16 * 1024 * 1024,
    pausedBytes: 1024 * 1024,
    drainLowWater: 1024,
    pingIntervalMs: 25_000,
  });
}

/** A subprotocol the gateway did not offer (v1 only: v2). */
const NOT_OFFERED: Record<HubProtocolChoice, string> = { v1: "switchyard-hub.v2", auto: "switchyard-hub.v3", v2: "switchyard-hub.v1" };

/** How the sample hub refuses a session id that is open: v1, the upgrade's 409; v2, the session's close 1008. */
const DUPLICATE: Record<HubProtocolChoice, RegExp> = { v1: /HTTP 409/, auto: /1008 duplicate session/, v2: /1008 duplicate session/ };

/** What the gateway offers in Sec-WebSocket-Protocol. */
const OFFERED: Record<HubProtocolChoice, string> = {
  v1: "switchyard-hub.v1",
  auto: "switchyard-hub.v2,switchyard-hub.v1",
  v2: "switchyard-hub.v2",
};

function sessionOptions(hubUrl: string, links: HubLinks | undefined, extra: Partial<HubUpstreamOptions>): HubUpstreamOptions {
  return {
    hubUrl,
    context: CONTEXT,
    role: "primary",
    connectTimeoutMs: 2000,
    drainLowWater: 64 * 1024,
    ...(links !== undefined ? { links } : {}),
    ...extra,
  };
}

interface FakeHub {
  readonly url: string;
  readonly headers: IncomingHttpHeaders[];
  readonly closeCodes: number[];
  readonly sockets: WebSocket[];
  close(): Promise<void>;
}

/** A scripted hub: `onOpen` decides what it does with each session. */
async function startFakeHub(onOpen: (ws: WebSocket) => void, serverOptions: Partial<ServerOptions> = {}): Promise<FakeHub> {
  const headers: IncomingHttpHeaders[] = [];
  const closeCodes: number[] = [];
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    handleProtocols: (p) => (p.has("switchyard-hub.v1") ? "switchyard-hub.v1" : false),
    ...serverOptions,
  });
  wss.on("connection", (ws, req) => {
    headers.push(req.headers);
    sockets.push(ws);
    ws.on("close", (code) => closeCodes.push(code));
    onOpen(ws);
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    headers,
    closeCodes,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

const hello = (ws: WebSocket) => ws.send(JSON.stringify({ type: "hello", version: 1, server: "fake" }));

async function expectOpenFailure(opts: HubUpstreamOptions, code: ErrorCode, detail: RegExp): Promise<void> {
  const failures: UpstreamFailedEvent[] = [];
  const unsubscribe = subscribe("switchyard:upstream:failed", (event) => failures.push(event));
  try {
    await assert.rejects(
      openHubUpstream(opts),
      (error: { code?: string; message: string }) => error.code === code && detail.test(error.message),
    );
    assert.ok(
      failures.some((f) => f.backend === "hub" && f.code === code),
      `a switchyard:upstream:failed event with ${code}`,
    );
  } finally {
    unsubscribe();
  }
}

for (const protocol of PROTOCOLS) {
  describe(`HUB_PROTOCOL=${protocol}`, () => {
    const links = linksFor(protocol);
    const options = (hubUrl: string, extra: Partial<HubUpstreamOptions> = {}) => sessionOptions(hubUrl, links, extra);
    after(() => links?.close());

    describe("opening a hub session", () => {
      it("fails as unreachable when nothing listens", async () => {
        const server = createServer();
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
        const { port } = server.address() as AddressInfo;
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await expectOpenFailure(options(`http://127.0.0.1:${port}`), "SWY_ERR_UPSTREAM_UNREACHABLE", /ECONNREFUSED/);
      });

      it("fails as rejected, with the status, when the hub answers the upgrade with an HTTP error", async () => {
        const server = createServer();
        server.on("upgrade", (_req, socket) => socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
        try {
          await expectOpenFailure(
            options(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
            "SWY_ERR_UPSTREAM_REJECTED",
            /HTTP 403/,
          );
        } finally {
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
      });

      const handshakeCases: [string, Partial<ServerOptions>, (ws: WebSocket) => void, ErrorCode, RegExp][] = [
        ["selects no subprotocol", { handleProtocols: () => false }, hello, "SWY_ERR_UPSTREAM_HANDSHAKE", /no subprotocol/],
        [
          "selects one it was not offered",
          { handleProtocols: () => NOT_OFFERED[protocol] },
          hello,
          "SWY_ERR_UPSTREAM_HANDSHAKE",
          /subprotocol/,
        ],
        ["sends another version in hello", {}, (ws) => ws.send('{"type":"hello","version":2}'), "SWY_ERR_UPSTREAM_HANDSHAKE", /version 2/],
        [
          "sends something else first",
          {},
          (ws) => ws.send('{"type":"event","nsp":"/","data":["x"]}'),
          "SWY_ERR_UPSTREAM_HANDSHAKE",
          /expected a hello/,
        ],
        ["closes with 1008 before hello", {}, (ws) => ws.close(1008, "not today"), "SWY_ERR_UPSTREAM_REJECTED", /1008 not today/],
        ["closes otherwise before hello", {}, (ws) => ws.close(1011), "SWY_ERR_UPSTREAM_HANDSHAKE", /1011/],
        ["never says hello", {}, () => {}, "SWY_ERR_UPSTREAM_TIMEOUT", /no hello/],
      ];
      for (const [name, serverOptions, behaviour, code, detail] of handshakeCases) {
        it(`fails when the hub ${name}`, async () => {
          const hub = await startFakeHub(behaviour, serverOptions);
          try {
            await expectOpenFailure(options(hub.url, { connectTimeoutMs: 300 }), code, detail);
          } finally {
            await hub.close();
          }
        });
      }

      it("sends the session id, the shadow flag and the client's forwarded headers; publishes connected", async () => {
        const hub = await startFakeHub(hello);
        let connected = 0;
        const unsubscribe = subscribe("switchyard:upstream:connected", (event) => {
          if (event.backend === "hub" && event.role === "shadow") connected++;
        });
        try {
          const upstream = await openHubUpstream(options(hub.url, { role: "shadow", sessionId: "FIXEDSESSIONIDFIXEDS" }));
          assert.equal(upstream.sessionId, "FIXEDSESSIONIDFIXEDS");
          assert.equal(upstream.hubServer, "fake");
          assert.equal(connected, 1);
          const [headers] = hub.headers;
          assert.equal(headers?.["x-switchyard-session"], "FIXEDSESSIONIDFIXEDS");
          assert.equal(headers?.["x-switchyard-shadow"], "1");
          assert.equal(headers?.["sec-websocket-protocol"], OFFERED[protocol]);
          assert.equal(headers?.cookie, "session=abc");
          assert.equal(headers?.["user-agent"], "test-agent");
          assert.equal(headers?.["x-forwarded-for"], "10.1.2.3");
          upstream.close();
          await eventually(() => hub.closeCodes[0] === 1000, "the hub to see a 1000 close");
          const primary = await openHubUpstream(options(hub.url));
          assert.match(primary.sessionId, /^[A-Za-z0-9_-]{20}$/, "a generated id in engine.io's format");
          assert.equal(hub.headers[1]?.["x-switchyard-shadow"], undefined, "only the gateway marks shadow sessions");
          primary.close();
        } finally {
          unsubscribe();
          await hub.close();
        }
      });
    });

    describe("an open hub session", () => {
      const breaks: [string, (ws: WebSocket) => void, ErrorCode | undefined, number | undefined][] = [
        ["closes with 1000", (ws) => ws.close(1000), undefined, undefined],
        ["closes with 1011", (ws) => ws.close(1011, "boom"), "SWY_ERR_UPSTREAM_CLOSED", undefined],
        ["sends an invalid frame", (ws) => ws.send('{"type":"event","nsp":"/","data":"nope"}'), "SWY_ERR_UPSTREAM_PROTOCOL", 4400],
        ["sends binary nobody announced", (ws) => ws.send(Buffer.from([1])), "SWY_ERR_UPSTREAM_PROTOCOL", 4400],
        ["disappears without a close frame", (ws) => ws.terminate(), "SWY_ERR_UPSTREAM_CLOSED", undefined],
      ];
      for (const [name, act, code, hubSees] of breaks) {
        it(`ends the client session when the hub ${name}`, async () => {
          const hub = await startFakeHub(hello);
          try {
            const upstream = await openHubUpstream(options(hub.url));
            const sink = new RecordingSink();
            upstream.attach(sink);
            act(hub.sockets[0]!);
            await eventually(() => sink.closed !== undefined, "the sink to hear the close");
            assert.equal(sink.closed?.code, code);
            if (hubSees !== undefined) await eventually(() => hub.closeCodes[0] === hubSees, `the hub to see ${hubSees}`);
          } finally {
            await hub.close();
          }
        });
      }

      it("detects a hub that stops answering WebSocket pings", async () => {
        const hub = await startFakeHub(hello, { autoPong: false });
        try {
          const upstream = await openHubUpstream(options(hub.url, { pingIntervalMs: 50 }));
          const sink = new RecordingSink();
          upstream.attach(sink);
          await eventually(() => sink.closed !== undefined, "the ping timeout");
          assert.equal(sink.closed?.code, "SWY_ERR_UPSTREAM_PING_TIMEOUT");
        } finally {
          await hub.close();
        }
      });

      it("keeps a hub that answers pings", async () => {
        const hub = await startFakeHub(hello);
        try {
          const upstream = await openHubUpstream(options(hub.url, { pingIntervalMs: 20 }));
          const sink = new RecordingSink();
          upstream.attach(sink);
          let pings = 0;
          hub.sockets[0]!.on("ping", () => pings++);
          await eventually(() => pings >= 5, "five pings");
          assert.equal(sink.closed, undefined);
          upstream.close();
        } finally {
          await hub.close();
        }
      });

      it("closes a session that joins no namespace in time, as socket.io does", async () => {
        const hub = await startFakeHub(hello);
        try {
          const upstream = await openHubUpstream(options(hub.url, { namespaceConnectTimeoutMs: 50 }));
          const sink = new RecordingSink();
          upstream.attach(sink);
          await eventually(() => sink.closed !== undefined, "the namespace timeout");
          assert.deepEqual(sink.closed, { code: undefined, detail: "no namespace joined in time" });
          await eventually(() => hub.closeCodes[0] === 1000, "the hub to see 1000");
        } finally {
          await hub.close();
        }
      });

      it("delivers what arrived before attach, then a close that happened before attach", async () => {
        const hub = await startFakeHub((ws) => {
          hello(ws);
          ws.on("message", (data) => {
            const frame = JSON.parse(String(data)) as { sid: string };
            ws.send(JSON.stringify({ type: "connect", nsp: "/", sid: frame.sid }));
            ws.send(JSON.stringify({ type: "disconnect", nsp: "/", close: true }));
          });
        });
        try {
          // A 2.x client: the upstream asks for "/" at once, before anyone attached.
          const upstream = await openHubUpstream(options(hub.url, { context: { ...CONTEXT, eio: 3 } }));
          await eventually(() => hub.closeCodes.length === 1, "the session to end");
          const sink = new RecordingSink();
          upstream.attach(sink);
          assert.deepEqual(sink.messages, ["0", "1"]);
          assert.deepEqual(sink.closed, { code: undefined, detail: "the hub ended the session" });
        } finally {
          await hub.close();
        }
      });

      it("closes the session on a client packet that breaks socket.io's state rules; the hub sees 1000", async () => {
        const hub = await startFakeHub(hello);
        try {
          const upstream = await openHubUpstream(options(hub.url));
          const sink = new RecordingSink();
          upstream.attach(sink);
          upstream.send('2["not connected"]');
          assert.equal(sink.closed?.code, "SWY_ERR_PROTOCOL_INVALID_STATE");
          await eventually(() => hub.closeCodes[0] === 1000, "the hub to see 1000");
        } finally {
          await hub.close();
        }
      });
    });

    describe("the hub upstream against the sample hub", () => {
      let hub: SampleHub;
      before(async () => {
        // The upstream alone, without room worlds: the sample hub keeps its rooms itself (event frames per member).
        hub = await startSampleHub({ rooms: "hub" });
      });
      after(() => hub.close());

      async function joined(
        role: "primary" | "shadow",
        room: string,
        extra: Partial<HubUpstreamOptions> = {},
      ): Promise<{ upstream: HubUpstream; sink: RecordingSink }> {
        const upstream = await openHubUpstream(options(hub.url, { role, ...extra }));
        const sink = new RecordingSink();
        upstream.attach(sink);
        upstream.send("0");
        await eventually(() => sink.texts().some((m) => m.startsWith('0{"sid"')), "the CONNECT answer");
        upstream.send(`20["join",${JSON.stringify(room)}]`);
        await eventually(() => sink.texts().some((m) => m.startsWith("30[")), "the join ack");
        return { upstream, sink };
      }

      it("keeps shadow sessions apart: their messages reach only shadows and never enter history", async () => {
        const room = "shadow-room";
        const real = await joined("primary", room);
        const shadowA = await joined("shadow", room);
        const shadowB = await joined("shadow", room);
        shadowA.upstream.send(`21["msg",{"room":"${room}","text":"from the shadow"}]`);
        await eventually(() => shadowB.sink.texts().some((m) => m.includes("from the shadow")), "the other shadow to get it");
        real.upstream.send(`22["msg",{"room":"${room}","text":"real"}]`);
        await eventually(() => real.sink.texts().some((m) => m.startsWith("32[")), "the real msg ack");
        real.upstream.send(`23["history","${room}"]`);
        await eventually(() => real.sink.texts().some((m) => m.startsWith("33[")), "the history ack");
        assert.equal(
          real.sink.texts().some((m) => m.includes("from the shadow")),
          false,
          "a real session never sees shadow traffic",
        );
        assert.equal(
          shadowB.sink.texts().some((m) => m.includes('"text":"real"')),
          false,
          "shadows never see real traffic",
        );
        assert.match(real.sink.texts().find((m) => m.startsWith("33["))!, /^33\[\[\{"room":"shadow-room","text":"real"/);
        for (const s of [real, shadowA, shadowB]) s.upstream.close();
      });

      it("pauses and resumes reading from the hub", async () => {
        const room = "pause-room";
        const listener = await joined("primary", room);
        const talker = await joined("primary", room);
        listener.upstream.pause();
        const before = listener.sink.messages.length;
        talker.upstream.send(`21["msg",{"room":"${room}","text":"while paused"}]`);
        // The hub writes to the listener before the talker's own copy: once the talker has it, the listener's is on its way.
        await eventually(() => talker.sink.texts().some((m) => m.includes("while paused")), "the talker's copy");
        assert.equal(listener.sink.messages.length, before);
        listener.upstream.resume();
        await eventually(() => listener.sink.texts().some((m) => m.includes("while paused")), "delivery after resume");
        listener.upstream.close();
        talker.upstream.close();
      });

      it("reports drain after a send over the low-water mark", async () => {
        const { upstream, sink } = await joined("primary", "drain-room", { drainLowWater: 1024 });
        const big = "x".repeat(8 * 1024 * 1024);
        upstream.send(`25["echo","${big}"]`);
        assert.ok(upstream.bufferedAmount > 1024, "the big frame is still buffered right after send");
        await eventually(() => sink.drains === 1, "a drain");
        await eventually(() => sink.texts().some((m) => m.startsWith("35[")), "the echo ack", 20_000);
        upstream.close();
      });

      it("is refused (v1: 409, v2: close 1008) for a session id that is already open; the sample hub checks its upgrade", async () => {
        const first = await openHubUpstream(options(hub.url, { sessionId: "DUPLICATEDUPLICATEDU" }));
        await expectOpenFailure(options(hub.url, { sessionId: "DUPLICATEDUPLICATEDU" }), "SWY_ERR_UPSTREAM_REJECTED", DUPLICATE[protocol]);
        first.close();
        const port = new URL(hub.url).port;
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(response.status, 200);
        const status = await new Promise<number | undefined>((resolve, reject) => {
          const req = request({
            host: "127.0.0.1",
            port,
            path: "/",
            headers: {
              connection: "Upgrade",
              upgrade: "websocket",
              "sec-websocket-version": "13",
              "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
              "x-switchyard-session": "ABC",
            },
          });
          req.on("response", (res) => {
            res.resume();
            resolve(res.statusCode);
          });
          req.on("upgrade", () => reject(new Error("upgraded without the subprotocol")));
          req.on("error", reject);
          req.end();
        });
        assert.equal(status, 400, "an upgrade without the subprotocol is refused");
      });
    });
  });
}
