import assert from "node:assert/strict";
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import type { Socket as EngineSocket } from "engine.io";
import pino from "pino";
import { routingConfigOrThrow } from "../../src/config/routing-config.js";
import type { LegacyMode } from "../../src/config/settings.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import type { Backend } from "../../src/domain.js";
import type { ClientSession } from "../../src/downstream/client-session.js";
import { HandshakeOrchestrator, routingAddress } from "../../src/downstream/handshake-orchestrator.js";
import { NetworkList } from "../../src/routing/networks.js";
import { PendingHandshakes } from "../../src/downstream/pending-handshakes.js";
import type { HandshakeIo } from "../../src/downstream/request-dispatch.js";
import { SessionTable } from "../../src/downstream/session-table.js";
import { SwitchyardError, type ErrorCode } from "../../src/errors.js";
import { createRouteDecider } from "../../src/routing/route-decider.js";
import { MemoryRoutingStore } from "../../src/store/memory-store.js";
import type { ClientContext } from "../../src/upstream/client-context.js";
import type { OpenedUpstream } from "../../src/upstream/upstream-connector.js";
import type { Upstream } from "../../src/upstream/upstream.js";
import { gatewayEnv } from "../helpers/stack.js";

const LOGGER = pino({ level: "silent" });
const LIMITS = loadStaticConfig(gatewayEnv()).limits;

interface Setup {
  readonly routing?: Record<string, unknown>;
  readonly legacyMode?: LegacyMode;
  /** What opening an upstream does: answer with a session id, or fail with a code. */
  readonly open?: { sessionId: string } | { fail: ErrorCode };
  /** The client goes away while the session is registered. */
  readonly clientLeaves?: boolean;
}

/** A real route decider, store, pending table and session table; the connector is the only stand-in. */
function orchestrator(setup: Setup = {}) {
  const store = new MemoryRoutingStore({
    instanceId: "gw-1",
    logger: LOGGER,
    initialConfig: routingConfigOrThrow({ hubPercent: 0, ...setup.routing }),
  });
  const pending = new PendingHandshakes(store);
  const opened: { backend: Backend; sessionId: string | undefined; closed: boolean }[] = [];
  const connector = {
    openPrimary: async (backend: Backend, _context: ClientContext, sessionId?: string): Promise<OpenedUpstream> => {
      const open = setup.open ?? { sessionId: "backend-sid" };
      if ("fail" in open) throw new SwitchyardError(open.fail, "test");
      const record = { backend, sessionId, closed: false };
      opened.push(record);
      const upstream = {
        sessionId: open.sessionId,
        close: () => {
          record.closed = true;
        },
      } as unknown as Upstream;
      return { upstream, backend, fellBack: false };
    },
  };
  const handshakes = new HandshakeOrchestrator({
    trustProxy: false,
    forwardHeaders: [],
    legacyMode: setup.legacyMode ?? "terminate",
    limits: LIMITS,
    router: createRouteDecider(() => store.current(), { legacyShadow: false, hubShadow: true }),
    connector,
    directory: store,
    pending,
    sessions: new SessionTable<ClientSession>(),
    logger: LOGGER,
  });
  return { handshakes, pending, store, opened };
}

/** Runs one handshake; returns how it was answered. */
async function handshake(
  o: ReturnType<typeof orchestrator>,
  url: string,
  options: { method?: string; transport?: "polling" | "websocket"; clientLeaves?: boolean } = {},
) {
  const req = new IncomingMessage(new Socket());
  req.url = url;
  req.method = options.method ?? "GET";
  req.headers = { host: "gateway.test" };
  const search = new URL(url, "http://x").searchParams;
  const answers: string[] = [];
  const io: HandshakeIo = {
    pipe: () => void answers.push("pipe"),
    engine: () => void answers.push("engine"),
    refuse: (status, error) => void answers.push(`refuse ${status} ${error.code}`),
    refuseAsEngine: (error) => void answers.push(`refuse as engine.io ${error.code} ${error.message}`),
    gone: () => options.clientLeaves ?? false,
  };
  await o.handshakes.handshake({ req, search, query: Object.fromEntries(search), transport: options.transport ?? "polling", io });
  return { req, answers };
}

describe("handshake orchestrator", () => {
  it("refuses a handshake without EIO as engine.io refuses an unsupported revision, before routing", async () => {
    const o = orchestrator({ routing: { hubPercent: 100 }, open: { sessionId: "hub-sid" } });
    const { answers } = await handshake(o, "/socket.io/?transport=polling&userId=7");
    assert.deepEqual(answers, ["refuse as engine.io 5 Unsupported protocol version"]);
    assert.equal(o.opened.length, 0);
  });

  it("opens the route's upstream before engine.io answers, and registers its id", async () => {
    const o = orchestrator({ routing: { hubPercent: 100 }, open: { sessionId: "hub-sid" } });
    const { req, answers } = await handshake(o, "/socket.io/?EIO=4&transport=polling&userId=7");
    assert.deepEqual(answers, ["engine"]);
    assert.deepEqual(o.opened, [{ backend: "hub", sessionId: undefined, closed: false }]);
    assert.equal(o.pending.sessionIdOf(req), "hub-sid");
    assert.equal((await o.store.sessionOwner("hub-sid"))?.instanceId, "gw-1");
    assert.equal(o.pending.take(req)?.bound?.route.backend, "hub");
  });

  it("pipes an unshadowed legacy route in pipe mode, without opening anything", async () => {
    const o = orchestrator({ legacyMode: "pipe" });
    const { answers } = await handshake(o, "/socket.io/?EIO=4&transport=polling");
    assert.deepEqual(answers, ["pipe"]);
    assert.deepEqual(o.opened, []);
  });

  it("leaves malformed handshakes to engine.io", async () => {
    const o = orchestrator();
    const post = await handshake(o, "/socket.io/?EIO=4&transport=polling", { method: "POST" });
    const mismatch = await handshake(o, "/socket.io/?EIO=4&transport=polling", { transport: "websocket" });
    assert.deepEqual([...post.answers, ...mismatch.answers], ["engine", "engine"]);
    assert.deepEqual(o.opened, []);
    assert.equal(o.pending.sessionIdOf(post.req), undefined);
  });

  it("refuses with the status of the failure: 504 for a timeout, 502 otherwise, 503 when draining", async () => {
    const timeout = await handshake(orchestrator({ open: { fail: "SWY_ERR_UPSTREAM_TIMEOUT" } }), "/socket.io/?EIO=4&transport=polling");
    const refused = await handshake(orchestrator({ open: { fail: "SWY_ERR_UPSTREAM_REJECTED" } }), "/socket.io/?EIO=4&transport=polling");
    const o = orchestrator();
    assert.equal(o.handshakes.isRefusing, false);
    o.handshakes.refuseNewSessions();
    assert.equal(o.handshakes.isRefusing, true);
    const draining = await handshake(o, "/socket.io/?EIO=4&transport=polling");
    assert.deepEqual(
      [timeout.answers, refused.answers, draining.answers],
      [["refuse 504 SWY_ERR_UPSTREAM_TIMEOUT"], ["refuse 502 SWY_ERR_UPSTREAM_REJECTED"], ["refuse 503 SWY_ERR_DRAINING"]],
    );
    assert.deepEqual(o.opened, []);
  });

  it("closes the upstream and forgets the id of a client that left while its session was registered", async () => {
    const o = orchestrator({ open: { sessionId: "left-sid" } });
    const { req, answers } = await handshake(o, "/socket.io/?EIO=4&transport=polling", { clientLeaves: true });
    assert.deepEqual(answers, []);
    assert.equal(o.opened[0]?.closed, true);
    assert.equal(await o.store.sessionOwner("left-sid"), undefined);
    assert.equal(o.pending.sessionIdOf(req), undefined);
  });

  it("defers a route that waits for the CONNECT's auth: engine.io answers with an id of ours, nothing opened yet", async () => {
    const o = orchestrator({ routing: { hubPercent: 50, key: { sources: ["auth:userId"], fallback: "legacy" } } });
    const { req, answers } = await handshake(o, "/socket.io/?EIO=4&transport=polling");
    assert.deepEqual(answers, ["engine"]);
    assert.deepEqual(o.opened, []);
    const sessionId = o.pending.sessionIdOf(req);
    assert.match(sessionId ?? "", /^[A-Za-z0-9_-]{20}$/);
    assert.equal((await o.store.sessionOwner(sessionId!))?.instanceId, "gw-1");
    assert.equal(o.pending.take(req)?.bound, undefined);
  });

  it("closes an engine.io session it did not prepare", () => {
    const o = orchestrator();
    let closed = false;
    const socket = {
      id: "stray",
      request: new IncomingMessage(new Socket()),
      close: () => {
        closed = true;
      },
    } as unknown as EngineSocket;
    o.handshakes.connect(socket);
    assert.equal(closed, true);
  });

  it("routes by the address a trusted load balancer appended, else by the peer's", () => {
    assert.equal(routingAddress("198.51.100.1, 203.0.113.9", "10.0.0.1", true), "203.0.113.9");
    assert.equal(routingAddress(["198.51.100.1", "203.0.113.8 "], "10.0.0.1", true), "203.0.113.8");
    assert.equal(routingAddress(undefined, "10.0.0.1", true), "10.0.0.1");
    assert.equal(routingAddress("", "10.0.0.1", true), "10.0.0.1");
    assert.equal(routingAddress("203.0.113.9", "10.0.0.1", false), "10.0.0.1");
    const proxies = new NetworkList(["10.0.0.0/8", "192.0.2.7"]);
    assert.equal(routingAddress("198.51.100.1, 203.0.113.9, 192.0.2.7", "10.0.0.1", false, proxies), "203.0.113.9");
    assert.equal(routingAddress("203.0.113.9", "198.51.100.5", true, proxies), "198.51.100.5", "an untrusted peer is the client");
    assert.equal(routingAddress(undefined, "10.0.0.1", false, proxies), "10.0.0.1");
    assert.equal(routingAddress("192.0.2.7", "::ffff:10.0.0.1", false, proxies), "192.0.2.7", "only proxies: the farthest");
    assert.equal(routingAddress("203.0.113.9", "10.0.0.1", true, new NetworkList([])), "203.0.113.9", "empty: TRUST_PROXY decides");
  });
});
