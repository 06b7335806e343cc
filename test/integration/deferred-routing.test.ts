/**
 * Routing by the auth payload, through the real gateway (routing issue): with `key.sources` starting with
 * `auth:userId` and a 50 % split, Socket.IO v3+ clients are routed at their first CONNECT (the upstream
 * opens then, the engine id is the gateway's own), always to the same backend for one userId; what they
 * send before the upstream is open is queued in order, bounded by MAX_PENDING_MESSAGES (one more closes
 * the session with SWY_ERR_QUEUE_OVERFLOW); 2.x clients (Engine.IO v3, no auth) are routed at the handshake
 * by the next source or the fallback. Also: a trusted tester's `x-switchyard-backend` header forces a
 * backend, honoured only from trusted networks.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, afterEach, before, describe, test } from "node:test";
import { pino } from "pino";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { DEFAULT_SALT } from "../../src/config/routing-config.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { bucketOf } from "../../src/routing/hash.js";
import { subscribe, type RouteDecidedEvent, type Unsubscribe } from "../../src/telemetry/events.js";
import type { Backend } from "../../src/domain.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import {
  createClient,
  connected,
  emitWithAck,
  type AnySocket,
  type ClientVersion,
  type ConnectOptions,
  type TransportMode,
} from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { shortenPollingCloseTimeout } from "../helpers/polling-close.js";
import { gatewayEnv } from "../helpers/stack.js";

const ROUTING = { hubPercent: 50, key: { sources: ["auth:userId", "query:userId"], fallback: "address" } };

/** userIds on each side of the 50 % split (docs/routing.md: bucket < hubPercent × 100 → hub). */
function userIdsOn(backend: Backend, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    const id = `user-${i}`;
    if (bucketOf(DEFAULT_SALT, id) < 5000 === (backend === "hub")) ids.push(id);
  }
  return ids;
}
const [HUB_USER, HUB_USER_2] = userIdsOn("hub", 2) as [string, string];
const [LEGACY_USER, LEGACY_USER_2] = userIdsOn("legacy", 2) as [string, string];

interface Stack {
  readonly legacy: LegacyChat;
  readonly hub: SampleHub;
  readonly switchyard: Switchyard;
  readonly logs: { msg: string; code?: string; sid?: string }[];
  /** Route decisions the gateway published, in order. */
  readonly decisions: RouteDecidedEvent[];
  close(): Promise<void>;
}

async function startDeferredStack(routing: Record<string, unknown>, env: Record<string, string> = {}): Promise<Stack> {
  const legacy = await startLegacyChat();
  const hub = await startSampleHub();
  const logs: Stack["logs"] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line !== "") logs.push(JSON.parse(line) as Stack["logs"][number]);
      done();
    },
  });
  const config = loadStaticConfig(gatewayEnv({ LEGACY_MODE: "terminate", ROUTING_CONFIG: JSON.stringify(routing), ...env }));
  const switchyard = await startSwitchyard({ config, legacyUrl: legacy.url, hubUrl: hub.url, logger: pino({ level: "info" }, sink) });
  shortenPollingCloseTimeout(switchyard.gateway.engine);
  shortenPollingCloseTimeout(legacy.io.engine);
  const decisions: RouteDecidedEvent[] = [];
  const unsubscribe: Unsubscribe = subscribe("switchyard:route:decided", (event) => decisions.push(event));
  return {
    legacy,
    hub,
    switchyard,
    logs,
    decisions,
    close: async () => {
      unsubscribe();
      await switchyard.close();
      await hub.close();
      await legacy.close();
    },
  };
}

/** The backend the gateway bound a client's current Engine.IO session to. */
function backendOf(stack: Stack, socket: AnySocket): Backend | undefined {
  const id = socket.io.engine.id;
  return id === undefined ? undefined : stack.switchyard.gateway.sessions.get(id)?.backend;
}

/** The legacy server's own Engine.IO ids. */
function legacyEngineIds(stack: Stack): string[] {
  return Object.keys((stack.legacy.io.engine as unknown as { clients: Record<string, unknown> }).clients);
}

async function connectedClient(version: ClientVersion, url: string, options: ConnectOptions): Promise<AnySocket> {
  const socket = createClient(version, url, "/", options);
  try {
    await connected(socket);
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

/** A raw Engine.IO long-polling session: every request is explicit, so messages can be batched in one POST. */
class RawPolling {
  private constructor(
    private readonly base: string,
    readonly eio: 3 | 4,
    readonly sid: string,
    /** Packets that came with the handshake answer (after the open packet). */
    readonly early: string[],
  ) {}

  static async open(url: string, eio: 3 | 4, query = ""): Promise<RawPolling> {
    const base = `${url}/socket.io/?EIO=${eio}&transport=polling${query}`;
    const packets = RawPolling.decode(eio, await (await fetch(base)).text());
    const open = packets.shift() ?? "";
    assert.match(open, /^0\{/);
    return new RawPolling(base, eio, (JSON.parse(open.slice(1)) as { sid: string }).sid, packets);
  }

  static decode(eio: 3 | 4, body: string): string[] {
    if (eio === 4) return body === "" ? [] : body.split("\x1e");
    const packets: string[] = [];
    for (let at = 0; at < body.length; ) {
      const colon = body.indexOf(":", at);
      const length = Number(body.slice(at, colon));
      packets.push(body.slice(colon + 1, colon + 1 + length));
      at = colon + 1 + length;
    }
    return packets;
  }

  /** Engine.IO message packets ("4" + Socket.IO packet), all in one request body. */
  async post(...messages: string[]): Promise<void> {
    const packets = messages.map((m) => `4${m}`);
    const body = this.eio === 4 ? packets.join("\x1e") : packets.map((p) => `${p.length}:${p}`).join("");
    const res = await fetch(`${this.base}&sid=${this.sid}`, {
      method: "POST",
      body,
      headers: { "content-type": "text/plain;charset=UTF-8" },
    });
    assert.equal(res.status, 200, await res.text());
  }

  /** One GET: the Engine.IO packets it carried (heartbeat pings are answered; pings and noops left out). */
  async poll(): Promise<string[]> {
    const res = await fetch(`${this.base}&sid=${this.sid}`);
    const packets = RawPolling.decode(this.eio, await res.text());
    if (packets.includes("2")) await fetch(`${this.base}&sid=${this.sid}`, { method: "POST", body: this.eio === 4 ? "3" : "1:3" });
    // engine.io answers a poll with a noop when it closes the session meanwhile: timing, not behaviour.
    return packets.filter((p) => p !== "2" && p !== "6");
  }

  /** Polls until `count` Socket.IO messages have arrived (or the session closed); returns them. */
  async messages(count: number): Promise<string[]> {
    const received: string[] = [];
    const deadline = Date.now() + 10_000;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(received)}, expected ${count} messages`);
      const packets = await this.poll();
      received.push(...packets.filter((p) => p.startsWith("4")).map((p) => p.slice(1)));
      if (packets.includes("1")) break;
    }
    return received;
  }

  async close(): Promise<void> {
    await fetch(`${this.base}&sid=${this.sid}`, { method: "POST", body: this.eio === 4 ? "1" : "1:1" }).catch(() => undefined);
  }
}

/** Socket ids become labels in order of appearance, timestamps a constant. */
function normalizeIds(messages: string[]): string[] {
  const labels = new Map<string, string>();
  return messages.map((message) =>
    message.replace(/"ts":\d+/g, '"ts":0').replace(/"(sid|id)":"([^"]+)"/g, (_all, field: string, id: string) => {
      if (!labels.has(id)) labels.set(id, `<id:${labels.size}>`);
      return `"${field}":"${labels.get(id)}"`;
    }),
  );
}

/**
 * Two CONNECTs in one POST (both arrive while the session waits for its route: the first one's auth
 * decides it, the second is queued), then events with acks on both namespaces.
 */
async function queuedConnectExchange(url: string, userId: string, beforeConnect?: (session: RawPolling) => void): Promise<string[]> {
  const session = await RawPolling.open(url, 4);
  try {
    beforeConnect?.(session);
    await session.post(`0{"userId":"${userId}"}`, '0/admin,{"role":"admin"}');
    const connects = await session.messages(4);
    await session.post('21["whoami"]', '2/admin,2["whoami"]', '23["echo","after",{"n":3}]');
    const acks = await session.messages(3);
    return normalizeIds([...connects, ...acks]);
  } finally {
    await session.close();
  }
}

describe("routing at the first CONNECT by auth.userId (hubPercent 50)", () => {
  let stack: Stack;
  const sockets: AnySocket[] = [];

  before(async () => {
    stack = await startDeferredStack(ROUTING);
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await eventually(
      () =>
        stack.switchyard.gateway.sessions.size === 0 && stack.hub.runtime.sessionCount === 0 && stack.legacy.io.engine.clientsCount === 0,
      "every session, upstreams included, to close",
    );
  });

  after(async () => {
    await stack.close();
  });

  for (const version of ["3", "4"] as const) {
    for (const transport of ["polling", "websocket", "upgrade"] as const satisfies readonly TransportMode[]) {
      test(`sio${version} ${transport}: each userId lands on its side of the split, with the engine id the gateway chose`, async () => {
        for (const [userId, expected] of [
          [HUB_USER, "hub"],
          [LEGACY_USER, "legacy"],
        ] as const) {
          const decided = stack.decisions.length;
          const socket = await connectedClient(version, stack.switchyard.url, { transport, auth: { userId, name: "routed" } });
          sockets.push(socket);
          assert.equal(backendOf(stack, socket), expected, userId);
          assert.deepStrictEqual(stack.decisions.slice(decided), [{ backend: expected, reason: "split" }]);
          const engineId = socket.io.engine.id!;
          // The route was decided after the handshake: the backend adopted the client's engine id (hub) or
          // has one of its own (legacy), never the other way round.
          assert.equal(stack.hub.runtime.hasSession(engineId, false), expected === "hub");
          assert.equal(legacyEngineIds(stack).includes(engineId), false);
          const [me] = await emitWithAck<[{ auth: { userId: string } }]>(socket, "whoami");
          assert.equal(me.auth.userId, userId);
        }
        assert.equal(stack.hub.runtime.sessionCount, 1);
        assert.equal(stack.legacy.io.engine.clientsCount, 1);
      });
    }
  }

  test("the same userId always lands on the same backend, over reconnects and new connections", async () => {
    const users: [string, Backend][] = [
      [HUB_USER, "hub"],
      [HUB_USER_2, "hub"],
      [LEGACY_USER, "legacy"],
      [LEGACY_USER_2, "legacy"],
    ];
    for (const [userId, expected] of users) {
      const socket = createClient("4", stack.switchyard.url, "/", { transport: "websocket", reconnection: true, auth: { userId } });
      sockets.push(socket);
      const manager = socket.io as unknown as { reconnectionDelay(ms: number): unknown; reconnectionDelayMax(ms: number): unknown };
      manager.reconnectionDelay(20);
      manager.reconnectionDelayMax(50);
      let connects = 0;
      socket.on("connect", () => connects++);
      const seen: (Backend | undefined)[] = [];
      for (let round = 1; round <= 3; round++) {
        await eventually(() => connects === round && socket.connected, `${userId}: connection #${round}`);
        seen.push(backendOf(stack, socket));
        // The gateway ends the session (as a drain would); the client reconnects with the same auth.
        if (round < 3) stack.switchyard.gateway.sessions.get(socket.io.engine.id!)!.close("drained");
      }
      const again = await connectedClient("3", stack.switchyard.url, { transport: "polling", auth: { userId } });
      sockets.push(again);
      seen.push(backendOf(stack, again));
      assert.deepStrictEqual(seen, [expected, expected, expected, expected], userId);
    }
  });

  const queuedInOrder =
    "an unrouted session waits for its first CONNECT; queued messages are delivered in order, as the legacy server answers them";
  test(queuedInOrder, async () => {
    const legacyDirect = await queuedConnectExchange(stack.legacy.url, HUB_USER);
    assert.equal(legacyDirect.length, 7);
    assert.match(legacyDirect[0]!, /^0\{"sid":/);
    for (const [userId, expected] of [
      [HUB_USER, "hub"],
      [LEGACY_USER, "legacy"],
    ] as const) {
      let unrouted: unknown;
      const transcript = await queuedConnectExchange(stack.switchyard.url, userId, (session) => {
        const state = stack.switchyard.gateway.sessions.get(session.sid);
        unrouted = { state: state?.state, backend: state?.backend, early: session.early, hubSessions: stack.hub.runtime.sessionCount };
      });
      assert.deepStrictEqual(unrouted, { state: "routing", backend: undefined, early: [], hubSessions: 0 }, `${userId} before its CONNECT`);
      const expectedTranscript = legacyDirect.map((m) => m.replace(HUB_USER, userId));
      assert.deepStrictEqual(transcript, expectedTranscript, `${userId} on the ${expected} route`);
      await eventually(
        () => stack.hub.runtime.sessionCount === 0 && stack.legacy.io.engine.clientsCount === 0,
        "the raw session's upstream to close",
      );
    }
  });

  test("an event queued behind its namespace's CONNECT closes the session, as socket.io closes it (hub route)", async () => {
    // socket.io clients buffer emits until their CONNECT is answered; a raw client that does not is
    // breaking the protocol, and socket.io 4 closes its connection ("invalid state"). The hub route does
    // the same, deterministically: the hub has not answered the CONNECT when the queued event is relayed.
    const session = await RawPolling.open(stack.switchyard.url, 4);
    const logsBefore = stack.logs.length;
    await session.post(`0{"userId":"${HUB_USER}"}`, '21["whoami"]');
    assert.deepStrictEqual(await session.poll(), ["1"]);
    const errors = stack.logs.slice(logsBefore).filter((line) => line.msg === "session error");
    assert.deepStrictEqual(
      errors.map((line) => [line.sid, line.code]),
      [[session.sid, "SWY_ERR_PROTOCOL_INVALID_STATE"]],
    );
  });

  test("sio2 (Engine.IO v3, no auth): routed at the handshake by the next source, then by the address fallback", async () => {
    for (const [userId, expected] of [
      [HUB_USER, "hub"],
      [LEGACY_USER, "legacy"],
    ] as const) {
      // Bound before the client sent anything: the route was decided at the handshake.
      const raw = await RawPolling.open(stack.switchyard.url, 3, `&userId=${userId}`);
      assert.equal(stack.switchyard.gateway.sessions.get(raw.sid)?.backend, expected, `raw ${userId}`);
      await raw.close();

      const socket = await connectedClient("2", stack.switchyard.url, { transport: "websocket", query: { userId } });
      sockets.push(socket);
      assert.equal(backendOf(stack, socket), expected, userId);
      const engineId = socket.io.engine.id!;
      // Upstreams opened at the handshake give the client their engine id (legacy) or adopt the gateway's (hub).
      assert.equal(expected === "legacy" ? legacyEngineIds(stack).includes(engineId) : stack.hub.runtime.hasSession(engineId, false), true);
      // The same key lands on the same side whatever the client generation sends it in.
      const v4 = await connectedClient("4", stack.switchyard.url, { transport: "websocket", query: { userId } });
      sockets.push(v4);
      assert.equal(backendOf(stack, v4), expected, `${userId} as a v4 query`);
    }
    const decided = stack.decisions.length;
    const keyless = await connectedClient("2", stack.switchyard.url, { transport: "polling" });
    sockets.push(keyless);
    const byAddress: Backend = bucketOf(DEFAULT_SALT, "127.0.0.1") < 5000 ? "hub" : "legacy";
    assert.equal(backendOf(stack, keyless), byAddress);
    assert.deepStrictEqual(stack.decisions.slice(decided), [{ backend: byAddress, reason: "fallback" }]);
  });
});

describe("the pending queue is bounded (MAX_PENDING_MESSAGES=2)", () => {
  let stack: Stack;

  before(async () => {
    stack = await startDeferredStack(ROUTING, { MAX_PENDING_MESSAGES: "2" });
  });

  after(async () => {
    await stack.close();
  });

  for (const [userId, backend] of [
    [HUB_USER, "hub"],
    [LEGACY_USER, "legacy"],
  ] as const) {
    test(`${backend} route: two queued messages are fine, a third closes that session with SWY_ERR_QUEUE_OVERFLOW only`, async () => {
      const bystander = await RawPolling.open(stack.switchyard.url, 4);
      const overflowing = await RawPolling.open(stack.switchyard.url, 4);
      const logsBefore = stack.logs.length;
      await bystander.post(`0{"userId":"${userId}"}`, '0/admin,{"role":"admin"}');
      await overflowing.post(`0{"userId":"${userId}"}`, '0/admin,{"role":"admin"}', "0/other,");
      // The overflowing session is closed before anything was answered: its next poll carries the close packet only.
      assert.deepStrictEqual(await overflowing.poll(), ["1"]);
      const errors = stack.logs.slice(logsBefore).filter((line) => line.msg === "session error");
      assert.deepStrictEqual(
        errors.map((line) => [line.sid, line.code]),
        [[overflowing.sid, "SWY_ERR_QUEUE_OVERFLOW"]],
      );
      // The bystander got both answers and works.
      const answers = await bystander.messages(4);
      assert.deepStrictEqual(
        answers.filter((m) => m.startsWith("0")).map((m) => m.replace(/\{.*/, "")),
        ["0", "0/admin,"],
      );
      await bystander.post('21["whoami"]');
      assert.match((await bystander.messages(1))[0]!, /^31\[\{"id":/);
      assert.equal(stack.switchyard.gateway.sessions.get(bystander.sid)?.backend, backend);
      await bystander.close();
      // The upstream the overflowing session's route opened meanwhile was closed again.
      await eventually(
        () =>
          stack.switchyard.gateway.sessions.size === 0 && stack.hub.runtime.sessionCount === 0 && stack.legacy.io.engine.clientsCount === 0,
        "every session, upstreams included, to close",
      );
    });
  }
});

describe("overrides through the gateway: x-switchyard-backend from a trusted network", () => {
  let stack: Stack;
  const sockets: AnySocket[] = [];

  before(async () => {
    stack = await startDeferredStack({ ...ROUTING, overrides: { enabled: true, trustedNetworks: ["127.0.0.0/8"] } });
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  after(async () => {
    await stack.close();
  });

  const forced = async (
    transport: TransportMode,
    userId: string,
    header: string,
  ): Promise<{ backend: Backend | undefined; decisions: RouteDecidedEvent[] }> => {
    const decided = stack.decisions.length;
    const socket = await connectedClient("4", stack.switchyard.url, {
      transport,
      auth: { userId },
      extraHeaders: { "x-switchyard-backend": header },
    });
    sockets.push(socket);
    await emitWithAck(socket, "whoami");
    return { backend: backendOf(stack, socket), decisions: stack.decisions.slice(decided) };
  };

  for (const transport of ["polling", "websocket"] as const) {
    test(`sio4 ${transport}: the header forces the hub (and legacy) against the split`, async () => {
      assert.deepStrictEqual(await forced(transport, LEGACY_USER, "hub"), {
        backend: "hub",
        decisions: [{ backend: "hub", reason: "override" }],
      });
      assert.deepStrictEqual(await forced(transport, HUB_USER, "Legacy"), {
        backend: "legacy",
        decisions: [{ backend: "legacy", reason: "override" }],
      });
    });
  }

  test("from an untrusted network the header is ignored: the userId decides (config changed live)", async () => {
    const current = stack.switchyard.store.current();
    await stack.switchyard.store.update(
      { ...current, overrides: { ...current.overrides, trustedNetworks: ["10.0.0.0/8"] } },
      current.version,
    );
    assert.deepStrictEqual(await forced("websocket", LEGACY_USER, "hub"), {
      backend: "legacy",
      decisions: [{ backend: "legacy", reason: "split" }],
    });
    assert.deepStrictEqual(await forced("polling", HUB_USER, "legacy"), {
      backend: "hub",
      decisions: [{ backend: "hub", reason: "split" }],
    });
  });
});
