/**
 * A dead or refusing hub never locks users out (hub issue, requirement 5), through the real gateway with
 * every session routed to the hub (`hubPercent: 100`):
 * - hub killed: new hub-route sessions fall back to the legacy server and work, counted in
 *   switchyard_hub_fallbacks_total on the ops /metrics and logged at warn;
 * - HUB_FALLBACK=false: the client gets a quick, reconnectable error instead (502, not a timeout), and
 *   connects to the hub once it is back;
 * - an open hub session whose hub dies (shut down, or its connections cut) is closed with a reconnectable
 *   reason; the client reconnects to legacy while the hub is down, and to a new hub once one is up;
 * - a hub refusing (HTTP 403, no subprotocol, a 1008 close before hello) also falls back.
 * The last two run with HUB_PROTOCOL=v1 and with the default, auto (the sample hub selects v2 links; the refusing
 * hub, v1-only, selects v1).
 * The hub listens on a fixed port so that a replacement can take the dead one's place (HUB_URL is fixed).
 */
import assert from "node:assert/strict";
import { createServer, request, type Server as HttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { pino } from "pino";
import { WebSocketServer } from "ws";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import type { HubProtocolChoice } from "../../src/config/hub-link-settings.js";
import type { Backend } from "../../src/domain.js";
import type { ErrorCode } from "../../src/errors.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import {
  createClient,
  connected,
  emitWithAck,
  waitFor,
  type AnySocket,
  type ClientVersion,
  type TransportMode,
} from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { shortenPollingCloseTimeout } from "../helpers/polling-close.js";
import { gatewayEnv } from "../helpers/stack.js";
import { freePort } from "../helpers/ports.js";

/** v1 explicitly, and the default (auto: a v2 hub such as the sample hub gets links, a v1-only hub stays v1). */
const PROTOCOLS: readonly HubProtocolChoice[] = ["v1", "auto"];
const FALLBACK_LOG = "hub unavailable: new session falls back to the legacy server";
const ROUTING = { hubPercent: 100 };

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly code?: string;
  readonly [field: string]: unknown;
}

/** A legacy chat and a gateway (with an in-memory log) in front of it and of whatever answers at `hubUrl`. */
interface Gateway {
  readonly legacy: LegacyChat;
  readonly switchyard: Switchyard;
  readonly logs: LogLine[];
  close(): Promise<void>;
}

async function startGateway(hubUrl: string, env: Record<string, string> = {}): Promise<Gateway> {
  const legacy = await startLegacyChat();
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line !== "") logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const config = loadStaticConfig(gatewayEnv({ LEGACY_MODE: "terminate", ROUTING_CONFIG: JSON.stringify(ROUTING), ...env }));
  const switchyard = await startSwitchyard({ config, legacyUrl: legacy.url, hubUrl, logger: pino({ level: "info" }, sink) });
  shortenPollingCloseTimeout(switchyard.gateway.engine);
  shortenPollingCloseTimeout(legacy.io.engine);
  return {
    legacy,
    switchyard,
    logs,
    close: async () => {
      await switchyard.close();
      await legacy.close();
    },
  };
}

/** Sum of a counter's series on the ops /metrics, optionally of one `code`. */
async function counter(opsUrl: string, name: string, code?: string): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    if (code !== undefined && !(match[2] ?? "").includes(`code="${code}"`)) continue;
    sum += Number(match[3]);
  }
  return sum;
}

/** The backend the gateway bound a client's current Engine.IO session to. */
function backendOf(switchyard: Switchyard, socket: AnySocket): Backend | undefined {
  const id = socket.io.engine.id;
  return id === undefined ? undefined : switchyard.gateway.sessions.get(id)?.backend;
}

/** The sample chat works: welcome, whoami (the socket id the server sees) and echo. */
async function chatWorks(socket: AnySocket): Promise<void> {
  const [me] = await emitWithAck<[{ id: string; name: string }]>(socket, "whoami");
  assert.equal(me.id, socket.id);
  assert.equal(me.name, "fallback");
  assert.deepStrictEqual(await emitWithAck(socket, "echo", "ping", { n: 1 }), ["ping", { n: 1 }]);
}

/** A client that sends its name the generation's way (2.x: query, 3.x/4.x: auth). */
function chatClient(version: ClientVersion, url: string, transport: TransportMode, reconnection = false): AnySocket {
  const socket = createClient(
    version,
    url,
    "/",
    version === "2" ? { transport, reconnection, query: { name: "fallback" } } : { transport, reconnection, auth: { name: "fallback" } },
  );
  // Reconnect promptly: the tests wait for reconnections, never for the default 1-5 s backoff.
  const manager = socket.io as unknown as { reconnectionDelay(ms: number): unknown; reconnectionDelayMax(ms: number): unknown };
  manager.reconnectionDelay(50);
  manager.reconnectionDelayMax(200);
  return socket;
}

async function connectedChat(version: ClientVersion, url: string, transport: TransportMode, reconnection = false): Promise<AnySocket> {
  const socket = chatClient(version, url, transport, reconnection);
  const welcome = waitFor(socket, "welcome");
  try {
    await connected(socket);
    await welcome;
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

const CLIENTS: readonly [ClientVersion, TransportMode][] = [
  ["2", "polling"],
  ["2", "websocket"],
  ["3", "polling"],
  ["3", "websocket"],
  ["4", "polling"],
  ["4", "upgrade"],
];

describe("hub killed: new hub-route sessions fall back to the legacy server", () => {
  let hubPort: number;
  let hub: SampleHub | undefined;
  let gateway: Gateway;
  const sockets: AnySocket[] = [];

  before(async () => {
    hubPort = await freePort();
    hub = await startSampleHub({ port: hubPort });
    gateway = await startGateway(hub.url);
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  after(async () => {
    await gateway.close();
    await hub?.close();
  });

  test("with the hub up, sessions go to the hub", async () => {
    const socket = await connectedChat("4", gateway.switchyard.url, "websocket");
    sockets.push(socket);
    assert.equal(backendOf(gateway.switchyard, socket), "hub");
    assert.equal(hub!.runtime.sessionCount, 1);
    await chatWorks(socket);
  });

  test("with the hub closed, every client generation and transport lands on legacy and works; counted and logged", async () => {
    await hub!.close();
    hub = undefined;
    const fallbacksBefore = await counter(gateway.switchyard.opsUrl, "switchyard_hub_fallbacks_total");
    const logsBefore = gateway.logs.length;
    for (const [version, transport] of CLIENTS) {
      const socket = await connectedChat(version, gateway.switchyard.url, transport);
      sockets.push(socket);
      assert.equal(backendOf(gateway.switchyard, socket), "legacy", `sio${version} ${transport}`);
      await chatWorks(socket);
    }
    assert.equal(gateway.legacy.io.engine.clientsCount, CLIENTS.length);
    assert.deepStrictEqual(gateway.switchyard.gateway.sessionCounts().hub, { polling: 0, websocket: 0 });
    // The hub's port refuses connections: the code is the connect failure's.
    assert.equal(
      await counter(gateway.switchyard.opsUrl, "switchyard_hub_fallbacks_total", "SWY_ERR_UPSTREAM_UNREACHABLE"),
      fallbacksBefore + CLIENTS.length,
    );
    const warnings = gateway.logs.slice(logsBefore).filter((line) => line.msg === FALLBACK_LOG);
    assert.equal(warnings.length, CLIENTS.length);
    for (const line of warnings) {
      assert.equal(line.level, 40, "logged at warn");
      assert.equal(line.code, "SWY_ERR_UPSTREAM_UNREACHABLE");
    }
  });
});

describe("HUB_FALLBACK=false: a dead hub gives a quick, reconnectable error", () => {
  let hubPort: number;
  let hub: SampleHub | undefined;
  let gateway: Gateway;
  const sockets: AnySocket[] = [];

  before(async () => {
    hubPort = await freePort();
    gateway = await startGateway(`ws://127.0.0.1:${hubPort}/`, { HUB_FALLBACK: "false" });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await gateway.close();
    await hub?.close();
  });

  test("a handshake is answered 502 with the error code, at once", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${gateway.switchyard.url}/socket.io/?EIO=4&transport=polling`, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.once("error", reject);
      req.end();
    });
    assert.equal(answer.status, 502);
    assert.equal((JSON.parse(answer.body) as { code: string }).code, "SWY_ERR_UPSTREAM_UNREACHABLE");
  });

  for (const [version, transport] of [
    ["2", "polling"],
    ["3", "websocket"],
    ["4", "polling"],
    ["4", "websocket"],
  ] as const) {
    const title = `sio${version} ${transport}: a transport error (not a timeout), no fallback; it connects to the hub once it is back`;
    test(title, async () => {
      const errors: string[] = [];
      const socket = chatClient(version, gateway.switchyard.url, transport, true);
      sockets.push(socket);
      socket.on("connect_error", (error: Error) => errors.push(error.message));
      await eventually(() => errors.length >= 2, "two failed attempts", 10_000);
      // engine.io-client's words for a refused handshake; a gateway that hung would give "timeout".
      for (const message of errors) assert.match(message, transport === "polling" ? /^xhr poll error$/ : /^websocket error$/);
      assert.equal(gateway.legacy.io.engine.clientsCount, 0, "nothing fell back to legacy");
      assert.equal(await counter(gateway.switchyard.opsUrl, "switchyard_hub_fallbacks_total"), 0);

      const welcomed = waitFor(socket, "welcome", 10_000);
      hub = await startSampleHub({ port: hubPort });
      try {
        await welcomed;
        assert.equal(backendOf(gateway.switchyard, socket), "hub");
        await chatWorks(socket);
      } finally {
        socket.close();
        await hub.close();
        hub = undefined;
      }
    });
  }
});

/**
 * What the gateway logs when an open session's hub goes away (docs/hub-protocol.md §7 and §11.5): a hub that
 * shuts down ends each session (v1: its socket's close 1001; v2: the session's `close` 1001 on the link):
 * SWY_ERR_UPSTREAM_CLOSED either way. Cut connections end a v1 session's own socket (SWY_ERR_UPSTREAM_CLOSED,
 * one session), but a v2 link with every session on it: SWY_ERR_HUB_LINK_LOST, so that an SRE tells the two apart.
 */
function hubDeathCode(protocol: HubProtocolChoice, death: "shut down" | "connections cut"): ErrorCode {
  return protocol === "v1" || death === "shut down" ? "SWY_ERR_UPSTREAM_CLOSED" : "SWY_ERR_HUB_LINK_LOST";
}

for (const protocol of PROTOCOLS) {
  describe(`HUB_PROTOCOL=${protocol}: an open hub session whose hub dies is closed; the client reconnects`, () => {
    let hubPort: number;
    let hub: SampleHub | undefined;
    let gateway: Gateway;
    /** The hub's upgraded connections, to cut them without a close frame. */
    let hubSockets: Set<Duplex>;
    const sockets: AnySocket[] = [];

    const startHub = async (): Promise<SampleHub> => {
      const started = await startSampleHub({ port: hubPort });
      hubSockets = new Set();
      started.http.on("upgrade", (_req, socket: Duplex) => hubSockets.add(socket));
      return started;
    };

    before(async () => {
      hubPort = await freePort();
      hub = await startHub();
      gateway = await startGateway(hub.url, { HUB_PROTOCOL: protocol });
    });

    beforeEach(async () => {
      hub ??= await startHub();
    });

    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.close();
      await eventually(() => gateway.switchyard.gateway.sessions.size === 0, "the gateway's sessions to close");
    });

    after(async () => {
      await gateway.close();
      await hub?.close();
    });

    for (const [version, transport] of CLIENTS) {
      for (const death of ["shut down", "connections cut"] as const) {
        test(`sio${version} ${transport}, hub ${death}: transport close, reconnect to legacy, then to the new hub`, async () => {
          const socket = await connectedChat(version, gateway.switchyard.url, transport, true);
          sockets.push(socket);
          assert.equal(backendOf(gateway.switchyard, socket), "hub");
          const hubSessionId = socket.io.engine.id;
          const logsBefore = gateway.logs.length;
          const reasons: string[] = [];
          socket.on("disconnect", (reason: string) => reasons.push(reason));

          const reconnectedToLegacy = waitFor(socket, "welcome", 10_000);
          if (death === "shut down") {
            await hub!.close();
          } else {
            // No close frame: the gateway learns it from the TCP connection ending.
            for (const connection of hubSockets) (connection as Socket).destroy();
            await hub!.close();
          }
          hub = undefined;
          await reconnectedToLegacy;
          assert.equal(reasons.length, 1);
          assert.match(reasons[0]!, /^transport (close|error)$/);
          // The gateway closed the client session because its hub session broke, and said why.
          const closedBy = gateway.logs.slice(logsBefore).filter((line) => line.msg === "session error" && line.sid === hubSessionId);
          assert.deepStrictEqual(
            closedBy.map((line) => [line.backend, line.code]),
            [["hub", hubDeathCode(protocol, death)]],
          );
          assert.equal(backendOf(gateway.switchyard, socket), "legacy");
          await chatWorks(socket);

          // A new hub takes the dead one's place; sessions are pinned, so the client moves when it reconnects.
          hub = await startHub();
          const reconnectedToHub = waitFor(socket, "welcome", 10_000);
          assert.equal(gateway.switchyard.gateway.closeSessions("legacy", 1, "drained"), 1);
          await reconnectedToHub;
          assert.equal(backendOf(gateway.switchyard, socket), "hub");
          assert.equal(hub.runtime.sessionCount, 1);
          await chatWorks(socket);
        });
      }
    }
  });
}

/** A hub that refuses in one of the ways docs/hub-protocol.md §1 allows (or gets wrong). */
type Refusal = "http 403" | "no subprotocol" | "close 1008 before hello" | "wrong hello" | "silent (no hello)";

const REFUSAL_CODES: Record<Refusal, string> = {
  "http 403": "SWY_ERR_UPSTREAM_REJECTED",
  "no subprotocol": "SWY_ERR_UPSTREAM_HANDSHAKE",
  "close 1008 before hello": "SWY_ERR_UPSTREAM_REJECTED",
  "wrong hello": "SWY_ERR_UPSTREAM_HANDSHAKE",
  // Accepts the WebSocket and never says hello: the gateway gives up after UPSTREAM_CONNECT_TIMEOUT_MS.
  "silent (no hello)": "SWY_ERR_UPSTREAM_TIMEOUT",
};

// A v1-only hub: it selects switchyard-hub.v1 when offered both (HUB_PROTOCOL=auto), then refuses as in v1.
for (const protocol of PROTOCOLS) {
  describe(`HUB_PROTOCOL=${protocol}: a hub that refuses: new sessions fall back to the legacy server`, () => {
    let refusal: Refusal = "http 403";
    let refusingHub: HttpServer;
    let wss: WebSocketServer;
    let gateway: Gateway;
    const sockets: AnySocket[] = [];
    let attempts = 0;

    before(async () => {
      wss = new WebSocketServer({ noServer: true, handleProtocols: () => (refusal === "no subprotocol" ? false : "switchyard-hub.v1") });
      refusingHub = createServer((_req, res) => res.writeHead(426).end());
      refusingHub.on("upgrade", (req, socket: Duplex, head: Buffer) => {
        attempts++;
        if (refusal === "http 403") {
          socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          if (refusal === "close 1008 before hello") ws.close(1008, "not today");
          else if (refusal === "wrong hello") ws.send(JSON.stringify({ type: "hello", version: 2 }));
          // "no subprotocol": ws completes the upgrade without one; the gateway must not accept that.
          // "silent (no hello)": nothing at all.
        });
      });
      await new Promise<void>((resolve) => refusingHub.listen(0, "127.0.0.1", resolve));
      // A short connect timeout keeps the silent case quick; the legacy server answers well within it.
      gateway = await startGateway(`ws://127.0.0.1:${(refusingHub.address() as AddressInfo).port}/`, {
        UPSTREAM_CONNECT_TIMEOUT_MS: "1000",
        HUB_PROTOCOL: protocol,
      });
    });

    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });

    after(async () => {
      await gateway.close();
      for (const client of wss.clients) client.terminate();
      wss.close();
      refusingHub.closeAllConnections();
      await new Promise<void>((resolve) => refusingHub.close(() => resolve()));
    });

    for (const kind of Object.keys(REFUSAL_CODES) as Refusal[]) {
      test(`${kind}: falls back (${REFUSAL_CODES[kind]}), counted and logged`, async () => {
        refusal = kind;
        const attemptsBefore = attempts;
        const before = await counter(gateway.switchyard.opsUrl, "switchyard_hub_fallbacks_total", REFUSAL_CODES[kind]);
        const logsBefore = gateway.logs.length;
        for (const [version, transport] of [
          ["2", "websocket"],
          ["4", "polling"],
        ] as const) {
          const socket = await connectedChat(version, gateway.switchyard.url, transport);
          sockets.push(socket);
          assert.equal(backendOf(gateway.switchyard, socket), "legacy");
          await chatWorks(socket);
        }
        assert.equal(attempts - attemptsBefore, 2, "the gateway tried the hub for each session");
        assert.equal(await counter(gateway.switchyard.opsUrl, "switchyard_hub_fallbacks_total", REFUSAL_CODES[kind]), before + 2);
        const warnings = gateway.logs.slice(logsBefore).filter((line) => line.msg === FALLBACK_LOG);
        assert.deepStrictEqual(
          warnings.map((line) => [line.level, line.code]),
          [
            [40, REFUSAL_CODES[kind]],
            [40, REFUSAL_CODES[kind]],
          ],
        );
      });
    }
  });
}
