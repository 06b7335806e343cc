import assert from "node:assert/strict";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { SwitchyardError } from "../../src/errors.js";
import { type DispatchTargets, type HandshakeRequest, RequestDispatcher } from "../../src/downstream/request-dispatch.js";
import { FORWARDED_HEADER } from "../../src/downstream/gateway-headers.js";

/** Which collaborator got a request, and with what. */
type Call = readonly [target: string, ...details: unknown[]];

function request(url: string, method = "GET", headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.url = url;
  req.method = method;
  req.headers = headers;
  return req;
}

function dispatcher(
  world: {
    engineSids?: string[];
    pipeSids?: string[];
    owners?: Record<string, string>;
    /** Faults a collaborator's contract rules out, to show they are still contained. */
    failHandshake?: boolean;
    failOwnerLookup?: boolean;
    legacyThrows?: boolean;
  } = {},
): {
  dispatcher: RequestDispatcher;
  calls: Call[];
  handshakes: HandshakeRequest[];
  lookups: string[];
} {
  const calls: Call[] = [];
  const handshakes: HandshakeRequest[] = [];
  const lookups: string[] = [];
  const targets: DispatchTargets = {
    socketIoPath: "/socket.io/",
    legacy: {
      web: () => {
        if (world.legacyThrows === true) throw new Error("proxy threw");
        calls.push(["legacy.web"]);
      },
      ws: () => calls.push(["legacy.ws"]),
    },
    engine: {
      hasSession: (sid) => world.engineSids?.includes(sid) ?? false,
      handleRequest: () => calls.push(["engine.request"]),
      handleUpgrade: () => calls.push(["engine.upgrade"]),
    },
    pipes: {
      has: (sid) => world.pipeSids?.includes(sid) ?? false,
      request: (_req, _res, sid) => calls.push(["pipes.request", sid]),
      upgrade: (_req, _socket, _head, sid) => calls.push(["pipes.upgrade", sid]),
      handshakeHttp: () => calls.push(["pipes.handshakeHttp"]),
      handshakeWs: () => calls.push(["pipes.handshakeWs"]),
    },
    owners: {
      staysHere: (req, sid) => req.headers[FORWARDED_HEADER] !== undefined || sid === "known-local",
      ownerUrl: async (sid) => {
        lookups.push(sid);
        if (world.failOwnerLookup === true) throw new Error("registry down");
        return world.owners?.[sid];
      },
    },
    forwarder: {
      web: (_req, _res, url) => calls.push(["forward.web", url]),
      ws: (_req, _socket, _head, url) => calls.push(["forward.ws", url]),
    },
    handshake: async (handshake) => {
      handshakes.push(handshake);
      if (world.failHandshake === true) throw new Error("handshake failed");
    },
    fail: (_target, error, what) => calls.push(["fail", what, (error as Error).message]),
  };
  return { dispatcher: new RequestDispatcher(targets), calls, handshakes, lookups };
}

function web(d: RequestDispatcher, req: IncomingMessage): ServerResponse {
  const res = new ServerResponse(req);
  d.onRequest(req, res);
  return res;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("request dispatch", () => {
  it("sends everything outside the exact Socket.IO path to the legacy app", () => {
    const { dispatcher: d, calls } = dispatcher();
    for (const url of ["/", "/api/x?sid=abc", "/socket.io/socket.io.js", "/socket.iox/?EIO=4", "/socket.io"]) web(d, request(url));
    d.onUpgrade(request("/live"), new PassThrough(), Buffer.alloc(0));
    assert.deepEqual(calls, [["legacy.web"], ["legacy.web"], ["legacy.web"], ["legacy.web"], ["legacy.web"], ["legacy.ws"]]);
  });

  it("hands a request of a session engine.io knows to engine.io", () => {
    const { dispatcher: d, calls, lookups } = dispatcher({ engineSids: ["e1"] });
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=e1"));
    d.onUpgrade(request("/socket.io/?EIO=4&transport=websocket&sid=e1"), new PassThrough(), Buffer.alloc(0));
    assert.deepEqual(calls, [["engine.request"], ["engine.upgrade"]]);
    assert.deepEqual(lookups, []);
  });

  it("reads the sid as engine.io does: the last value of a repeated key, and sets _query", () => {
    const { dispatcher: d, calls } = dispatcher({ engineSids: ["second"] });
    const req = request("/socket.io/?EIO=4&transport=polling&sid=first&sid=second");
    web(d, req);
    assert.deepEqual(calls, [["engine.request"]]);
    assert.deepEqual((req as IncomingMessage & { _query?: unknown })._query, { EIO: "4", transport: "polling", sid: "second" });
  });

  it("pipes pipe sessions and sids that stay here without asking the registry", () => {
    const { dispatcher: d, calls, lookups } = dispatcher({ pipeSids: ["p1"] });
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=p1"));
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=known-local"));
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=x9", "GET", { [FORWARDED_HEADER]: "gw-2" }));
    d.onUpgrade(request("/socket.io/?EIO=4&transport=websocket&sid=p1"), new PassThrough(), Buffer.alloc(0));
    assert.deepEqual(calls, [
      ["pipes.request", "p1"],
      ["pipes.request", "known-local"],
      ["pipes.request", "x9"],
      ["pipes.upgrade", "p1"],
    ]);
    assert.deepEqual(lookups, []);
  });

  it("forwards a sid another instance owns, and pipes one nobody owns", async () => {
    const { dispatcher: d, calls, lookups } = dispatcher({ owners: { elsewhere: "http://gw-2:3000" } });
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=elsewhere"));
    d.onUpgrade(request("/socket.io/?EIO=4&transport=websocket&sid=elsewhere"), new PassThrough(), Buffer.alloc(0));
    web(d, request("/socket.io/?EIO=4&transport=polling&sid=nobody"));
    await settle();
    assert.deepEqual(lookups, ["elsewhere", "elsewhere", "nobody"]);
    assert.deepEqual(calls, [
      ["forward.web", "http://gw-2:3000"],
      ["forward.ws", "http://gw-2:3000"],
      ["pipes.request", "nobody"],
    ]);
  });

  it("starts a handshake for a request without a sid, with the transport it came by", () => {
    const { dispatcher: d, handshakes, calls } = dispatcher();
    web(d, request("/socket.io/?EIO=4&transport=polling&userId=a&userId=b"));
    d.onUpgrade(request("/socket.io/?EIO=3&transport=websocket"), new PassThrough(), Buffer.alloc(0));
    assert.deepEqual(calls, []);
    assert.deepEqual(
      handshakes.map((h) => [h.transport, h.query]),
      [
        ["polling", { EIO: "4", transport: "polling", userId: "b" }],
        ["websocket", { EIO: "3", transport: "websocket" }],
      ],
    );
    assert.deepEqual(handshakes[0]!.search.getAll("userId"), ["a", "b"]);
  });

  it("binds each handshake's answers to its own response or socket", () => {
    const { dispatcher: d, handshakes, calls } = dispatcher();
    const res = web(d, request("/socket.io/?EIO=4&transport=polling"));
    const socket = new PassThrough();
    const written: string[] = [];
    socket.on("data", (chunk: Buffer) => written.push(chunk.toString()));
    d.onUpgrade(request("/socket.io/?EIO=4&transport=websocket"), socket, Buffer.alloc(0));
    const [http, upgrade] = handshakes;
    http!.io.pipe();
    http!.io.engine();
    upgrade!.io.pipe();
    upgrade!.io.engine();
    assert.deepEqual(calls, [["pipes.handshakeHttp"], ["engine.request"], ["pipes.handshakeWs"], ["engine.upgrade"]]);
    assert.equal(http!.io.gone(), false);
    http!.io.refuse(503, new SwitchyardError("SWY_ERR_DRAINING"));
    assert.equal(res.statusCode, 503);
    upgrade!.io.refuse(504, new SwitchyardError("SWY_ERR_UPSTREAM_TIMEOUT"));
    assert.match(written.join(""), /^HTTP\/1\.1 504 Gateway Timeout\r\n[\s\S]*SWY_ERR_UPSTREAM_TIMEOUT/);
    assert.equal(upgrade!.io.gone(), false);
    socket.destroy();
    assert.equal(upgrade!.io.gone(), true);
  });

  it("ends a handshake or owner look-up that rejects, and a handler that throws, in fail (never an unhandled rejection)", async () => {
    const { dispatcher: d, calls } = dispatcher({ failHandshake: true });
    web(d, request("/socket.io/?EIO=4&transport=polling"));
    d.onUpgrade(request("/socket.io/?EIO=4&transport=websocket"), new PassThrough(), Buffer.alloc(0));
    await settle();
    assert.deepEqual(calls, [
      ["fail", "a polling handshake", "handshake failed"],
      ["fail", "a websocket handshake", "handshake failed"],
    ]);

    const failing = dispatcher({ failOwnerLookup: true });
    web(failing.dispatcher, request("/socket.io/?EIO=4&transport=polling&sid=elsewhere"));
    await settle();
    assert.deepEqual(failing.calls, [["fail", "routing a request to its session's owner", "registry down"]]);

    const throwing = dispatcher({ legacyThrows: true });
    web(throwing.dispatcher, request("/page"));
    assert.deepEqual(throwing.calls, [["fail", "a client request", "proxy threw"]]);
  });
});
