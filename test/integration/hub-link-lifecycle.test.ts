/**
 * The v2 link's session lifecycle against a scripted hub (docs/hub-protocol.md §11): open refused, timed out
 * or broken; a session's protocol error ends that session only, a link's ends every session on it; the hub's
 * close codes; flow control (pause/resume, HUB_LINK_PAUSED_BYTES); the link's backpressure (drain for every
 * session that wrote); the hub's maxSessions; the link heartbeat.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { afterEach, describe, it } from "node:test";
import { WebSocketServer, type ServerOptions, type WebSocket } from "ws";
import type { ErrorCode } from "../../src/errors.js";
import type { ClientContext } from "../../src/upstream/client-context.js";
import { HubLinks, type HubLinkSettings } from "../../src/upstream/hub-link.js";
import { openHubUpstream, type HubUpstream } from "../../src/upstream/hub-upstream.js";
import { eventually } from "../helpers/eventually.js";
import { RecordingSink } from "../helpers/recording-sink.js";

const CONTEXT: ClientContext = {
  eio: 4,
  query: [["name", "probe"]],
  headers: { cookie: "c=1", "x-forwarded-for": "10.1.2.3", "x-switchyard-shadow": "1" },
  remoteAddress: "10.1.2.3",
};

const SETTINGS: HubLinkSettings = {
  protocol: "v2",
  links: 1,
  maxSessions: 100,
  maxFrameBytes: 1024 * 1024,
  pausedBytes: 4096,
  drainLowWater: 16 * 1024,
  pingIntervalMs: 25_000,
};

type Frame = Record<string, unknown> & { type: string; session?: string };

/** A scripted v2 hub: records every frame; `onFrame` answers (default: `opened` for every `open`). */
class FakeLinkHub {
  readonly frames: Frame[] = [];
  readonly links: WebSocket[] = [];
  readonly closeCodes: number[] = [];
  private wss!: WebSocketServer;
  url = "";

  constructor(
    private readonly onFrame: (ws: WebSocket, frame: Frame) => void = openAll,
    private readonly hello: Record<string, unknown> = {},
    private readonly serverOptions: Partial<ServerOptions> = {},
  ) {}

  async start(): Promise<this> {
    this.wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: () => "switchyard-hub.v2", ...this.serverOptions });
    this.wss.on("connection", (ws) => {
      this.links.push(ws);
      ws.on("close", (code) => this.closeCodes.push(code));
      ws.on("message", (data: Buffer, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse(data.toString()) as Frame;
        this.frames.push(frame);
        this.onFrame(ws, frame);
      });
      ws.send(JSON.stringify({ type: "hello", version: 2, ...this.hello }));
    });
    await new Promise((resolve) => this.wss.once("listening", resolve));
    this.url = `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/`;
    return this;
  }

  framesOf(session: string, type?: string): Frame[] {
    return this.frames.filter((f) => f.session === session && (type === undefined || f.type === type));
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

function openAll(ws: WebSocket, frame: Frame): void {
  if (frame.type === "open") ws.send(JSON.stringify({ type: "opened", session: frame.session }));
}

const send = (ws: WebSocket, frame: object) => ws.send(JSON.stringify(frame));

let hubs: FakeLinkHub[] = [];
let links: HubLinks[] = [];
async function setup(
  onFrame?: (ws: WebSocket, frame: Frame) => void,
  hello: Record<string, unknown> = {},
  settings: Partial<HubLinkSettings> = {},
  serverOptions: Partial<ServerOptions> = {},
): Promise<{ hub: FakeLinkHub; open: (id: string) => Promise<HubUpstream> }> {
  const hub = await new FakeLinkHub(onFrame, hello, serverOptions).start();
  const registry = new HubLinks({ ...SETTINGS, ...settings });
  hubs.push(hub);
  links.push(registry);
  const open = (id: string) =>
    openHubUpstream({
      hubUrl: hub.url,
      sessionId: id,
      context: CONTEXT,
      role: "primary",
      connectTimeoutMs: 500,
      drainLowWater: SETTINGS.drainLowWater,
      links: registry,
    });
  return { hub, open };
}

afterEach(async () => {
  for (const registry of links) registry.close();
  await Promise.all(hubs.map((hub) => hub.close()));
  hubs = [];
  links = [];
});

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode) =>
  assert.rejects(promise, (error: { code?: string }) => error.code === code);

/** Joins `/` for a 4.x client: the hub answers with a sid. */
async function joinRoot(hub: FakeLinkHub, upstream: HubUpstream, sink: RecordingSink): Promise<void> {
  upstream.send("0");
  await eventually(() => sink.messages.includes('0{"sid":"s1"}'), "the client's CONNECT answer");
  assert.equal(hub.framesOf(upstream.sessionId, "connect").length, 1);
}

const connectAnswering = (ws: WebSocket, frame: Frame) => {
  openAll(ws, frame);
  if (frame.type === "connect") send(ws, { type: "connect", session: frame.session, nsp: frame.nsp, sid: "s1" });
};

describe("opening a session on a link", () => {
  it("sends what a v1 hub reads from the upgrade in the open frame, without the client's x-switchyard-* headers", async () => {
    const { hub, open } = await setup();
    const upstream = await open("sessionAAAAAAAAAAAAA");
    assert.equal(upstream.protocol, 2);
    assert.deepEqual(hub.framesOf("sessionAAAAAAAAAAAAA", "open"), [
      {
        type: "open",
        session: "sessionAAAAAAAAAAAAA",
        eio: 4,
        query: { name: "probe" },
        headers: { cookie: "c=1", "x-forwarded-for": "10.1.2.3" },
        address: "10.1.2.3",
      },
    ]);
    upstream.close();
  });

  const refusals: [string, (ws: WebSocket, frame: Frame) => void, ErrorCode][] = [
    ["refused with close 1008", (ws, f) => send(ws, { type: "close", session: f.session, code: 1008 }), "SWY_ERR_UPSTREAM_REJECTED"],
    [
      "closed with 1011 before opened",
      (ws, f) => send(ws, { type: "close", session: f.session, code: 1011 }),
      "SWY_ERR_UPSTREAM_HANDSHAKE",
    ],
    [
      "a session frame before opened",
      (ws, f) => send(ws, { type: "event", session: f.session, nsp: "/", data: ["x"] }),
      "SWY_ERR_UPSTREAM_HANDSHAKE",
    ],
    ["no answer", () => undefined, "SWY_ERR_UPSTREAM_TIMEOUT"],
  ];
  for (const [name, answer, code] of refusals) {
    it(`fails the open (${code}) on ${name}; the link stays for the next session`, async () => {
      let first = true;
      const { hub, open } = await setup((ws, frame) => {
        if (frame.type !== "open") return;
        if (first) answer(ws, frame);
        else openAll(ws, frame);
        first = false;
      });
      await rejectsWith(open("refusedAAAAAAAAAAAAA"), code);
      const next = await open("nextAAAAAAAAAAAAAAAA");
      assert.equal(hub.links.length, 1, "one link for both");
      next.close();
    });
  }

  it("takes the hub's maxSessions: a session beyond it finds the link full (SWY_ERR_HUB_LINK_FULL)", async () => {
    const { open } = await setup(undefined, { maxSessions: 1 });
    const first = await open("firstAAAAAAAAAAAAAAA");
    await rejectsWith(open("secondAAAAAAAAAAAAAA"), "SWY_ERR_HUB_LINK_FULL");
    first.close();
  });
});

describe("an open session on a link", () => {
  it("a session's protocol error ends that session (close 4400), not the other one", async () => {
    const { hub, open } = await setup(connectAnswering);
    const [a, b] = await Promise.all([open("aAAAAAAAAAAAAAAAAAAA"), open("bAAAAAAAAAAAAAAAAAAA")]);
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    a.attach(sinkA);
    b.attach(sinkB);
    // A connect answer for a namespace nobody asked for breaks the protocol (§2.4).
    send(hub.links[0]!, { type: "connect", session: a.sessionId, nsp: "/nobody", sid: "x" });
    await eventually(() => sinkA.closed !== undefined, "a to end");
    assert.equal(sinkA.closed!.code, "SWY_ERR_UPSTREAM_PROTOCOL");
    await eventually(() => hub.framesOf(a.sessionId, "close").length === 1, "a's close frame");
    assert.equal(hub.framesOf(a.sessionId, "close")[0]!.code, 4400);
    await joinRoot(hub, b, sinkB);
    assert.equal(sinkB.closed, undefined);
    b.close();
  });

  it("the hub's close frame ends the session: 1000 orderly, another code SWY_ERR_UPSTREAM_CLOSED", async () => {
    const { hub, open } = await setup();
    const [a, b] = await Promise.all([open("aAAAAAAAAAAAAAAAAAAA"), open("bAAAAAAAAAAAAAAAAAAA")]);
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    a.attach(sinkA);
    b.attach(sinkB);
    send(hub.links[0]!, { type: "close", session: a.sessionId, code: 1000, reason: "bye" });
    send(hub.links[0]!, { type: "close", session: b.sessionId, code: 1011, reason: "oops" });
    await eventually(() => sinkA.closed !== undefined && sinkB.closed !== undefined, "both to end");
    assert.equal(sinkA.closed!.code, undefined);
    assert.equal(sinkB.closed!.code, "SWY_ERR_UPSTREAM_CLOSED");
    // Not answered: the hub ended them.
    assert.equal(hub.framesOf(a.sessionId, "close").length + hub.framesOf(b.sessionId, "close").length, 0);
  });

  it("a frame that breaks the link closes it with 4400 and ends every session on it (SWY_ERR_HUB_LINK_LOST)", async () => {
    const { hub, open } = await setup();
    const [a, b] = await Promise.all([open("aAAAAAAAAAAAAAAAAAAA"), open("bAAAAAAAAAAAAAAAAAAA")]);
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    a.attach(sinkA);
    b.attach(sinkB);
    send(hub.links[0]!, { type: "event", nsp: "/", data: ["no session"] });
    await eventually(() => sinkA.closed !== undefined && sinkB.closed !== undefined, "both to end");
    assert.deepEqual([sinkA.closed!.code, sinkB.closed!.code], ["SWY_ERR_HUB_LINK_LOST", "SWY_ERR_HUB_LINK_LOST"]);
    await eventually(() => hub.closeCodes.includes(4400), "the link to close with 4400");
  });

  it("a link whose hub stops answering pings is lost", async () => {
    const { open } = await setup(undefined, {}, { pingIntervalMs: 50 }, { autoPong: false });
    const a = await open("aAAAAAAAAAAAAAAAAAAA");
    const sink = new RecordingSink();
    a.attach(sink);
    await eventually(() => sink.closed !== undefined, "the session to end");
    assert.equal(sink.closed!.code, "SWY_ERR_HUB_LINK_LOST");
    assert.match(sink.closed!.detail ?? "", /ping/);
  });

  it("pause and resume are sent for the session; past HUB_LINK_PAUSED_BYTES it ends (SWY_ERR_HUB_LINK_OVERFLOW, close 1008)", async () => {
    const { hub, open } = await setup(connectAnswering);
    const a = await open("aAAAAAAAAAAAAAAAAAAA");
    const sink = new RecordingSink();
    a.attach(sink);
    await joinRoot(hub, a, sink);
    a.pause();
    a.resume();
    await eventually(() => hub.framesOf(a.sessionId, "resume").length === 1, "pause and resume frames");
    assert.equal(hub.framesOf(a.sessionId, "pause").length, 1);
    a.pause();
    const event = { type: "event", session: a.sessionId, nsp: "/", data: ["big", "x".repeat(3000)] };
    send(hub.links[0]!, event);
    send(hub.links[0]!, event);
    await eventually(() => sink.closed !== undefined, "the session to end");
    assert.equal(sink.closed!.code, "SWY_ERR_HUB_LINK_OVERFLOW");
    await eventually(() => hub.framesOf(a.sessionId, "close")[0]?.code === 1008, "its close frame with 1008");
  });

  it("backpressure is the link's: every session that wrote while the link was behind gets drained once it caught up", async () => {
    const { hub, open } = await setup(connectAnswering);
    const [a, b] = await Promise.all([open("aAAAAAAAAAAAAAAAAAAA"), open("bAAAAAAAAAAAAAAAAAAA")]);
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    a.attach(sinkA);
    b.attach(sinkB);
    await joinRoot(hub, a, sinkA);
    await joinRoot(hub, b, sinkB);
    // The hub stops reading: the link's backlog grows on the gateway's side.
    hub.links[0]!.pause();
    const payload = `2["bulk","${"y".repeat(64 * 1024)}"]`;
    for (let i = 0; i < 200 && a.bufferedAmount <= SETTINGS.drainLowWater; i++) a.send(payload);
    b.send(payload);
    assert.ok(b.bufferedAmount > SETTINGS.drainLowWater, "both see the link's backlog");
    assert.equal(sinkA.drains + sinkB.drains, 0);
    hub.links[0]!.resume();
    await eventually(() => sinkA.drains === 1 && sinkB.drains === 1, "both sessions to be drained", 10_000);
    a.close();
    b.close();
  });
});
