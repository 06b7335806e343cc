/**
 * The compat scenarios, written against the sample chat contract (docs/sample-chat.md) only, so that they
 * run unchanged against the legacy server, the gateway in front of it, or the gateway in front of the hub.
 * Every step waits for what it expects before the next one starts: transcripts then depend on behaviour,
 * not on timing. Rooms are named after the scenario, client generation and transport mode, so that
 * scenarios running at the same time against one server never see each other.
 */
import { request } from "node:http";
import WebSocket from "ws";
import type { ScenarioHarness } from "./compat-harness.js";

export interface Scenario {
  readonly name: string;
  /** What the scenario shows, for the fixture README and failure messages. */
  readonly covers: string;
  run(h: ScenarioHarness): Promise<void>;
}

/** Deterministic bytes (no randomness: fixtures must be identical on every recording). */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

/**
 * The largest text the legacy server (maxHttpBufferSize 1e6) accepts in one `echo`: the longest encoding
 * is a 2.x polling POST `<len>:421["echo","..."]`, 22 bytes of framing around the string.
 */
export const NEAR_MAX_PAYLOAD = 999_900;
export const UNKNOWN_SID = "UNKNOWNSIDUNKNOWNSID";

function room(h: ScenarioHarness, scenario: string): string {
  return `${scenario}-v${h.version}-${h.mode}`;
}

const connectWithAuthAndQuery: Scenario = {
  name: "connect-auth-query",
  covers: "handshake with auth (v5) or query (2.x) and extra query parameters; welcome; whoami; socket.id agrees with the server",
  async run(h) {
    const a = await h.client("a", "/", h.options({ token: "t-1", name: "alice" }, { lang: "en", page: "home" }));
    await a.connected();
    const [welcome] = await a.event("welcome");
    const [me] = await a.emitWithAck("whoami");
    a.check("socket.id equals welcome.id", a.socket.id === welcome.id);
    a.check("socket.id equals whoami.id", a.socket.id === me.id);
  },
};

const eventBothWays: Scenario = {
  name: "event-both-ways",
  covers: "a client→server event without ack (msg) and server→client events (welcome, msg broadcast)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "eve" }));
    await a.connected();
    await a.event("welcome");
    const name = room(h, "events");
    await a.emitWithAck("join", name);
    a.emit("msg", { room: name, text: "hello, room" });
    await a.event("msg");
    a.emit("msg", { room: name, text: 7 });
    a.emit("msg", { room: name, text: "second" });
    const [second] = await a.event("msg", 2);
    a.check("the malformed msg was dropped", second.text === "second");
  },
};

const ackBothWays: Scenario = {
  name: "ack-both-ways",
  covers: "client→server ack (echo) and server→client ack (ask → question answered by the client → answer)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "ack" }));
    await a.connected();
    await a.event("welcome");
    await a.emitWithAck("echo", "hello", 42, { nested: { list: [1, "two", null, true] } }, ["x"]);
    await a.emitWithAck("echo");
    a.answerWith((question) => `answer to ${String(question)}`);
    await a.emitWithAck("ask", "meaning of life?");
    await a.event("answer");
  },
};

const binary: Scenario = {
  name: "binary",
  covers: "BINARY_EVENT both ways (upload, uploaded, answer) and BINARY_ACK both ways (echo of bytes, a binary answer to question)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "bin" }));
    await a.connected();
    await a.event("welcome");
    const [receipt] = await a.emitWithAck("upload", { name: "blob.bin" }, bytes(1024, 1));
    const [, echoed] = await a.event("uploaded");
    a.check("uploaded bytes come back equal", Buffer.isBuffer(echoed) && echoed.equals(bytes(1024, 1)));
    a.check("upload receipt size", receipt.size === 1024);
    await a.emitWithAck("echo", "two attachments", bytes(4, 2), { inner: bytes(300, 3), list: [bytes(1, 4)] });
    a.answerWith(() => bytes(64, 5));
    await a.emitWithAck("ask", "send me bytes");
    const [answer] = await a.event("answer");
    a.check("binary answer came back as bytes", Buffer.isBuffer(answer.answer));
  },
};

const customNamespace: Scenario = {
  name: "custom-namespace",
  covers: "/admin with the admin role: CONNECT with auth (v5) or with the query in the namespace (2.x); nsp#id socket ids",
  async run(h) {
    const a = await h.client("a", "/admin", h.options({ role: "admin" }));
    await a.connected();
    const [welcome] = await a.event("welcome");
    const [me] = await a.emitWithAck("whoami");
    a.check("socket.id equals welcome.id", a.socket.id === welcome.id);
    a.check("socket.id equals whoami.id", a.socket.id === me.id);
  },
};

const unknownNamespace: Scenario = {
  name: "unknown-namespace",
  covers: "CONNECT to a namespace the server does not have: Invalid namespace",
  async run(h) {
    const a = await h.client("a", "/nope", h.options({ name: "lost" }));
    await a.refused();
  },
};

const middlewareRejection: Scenario = {
  name: "middleware-reject",
  covers: "middleware refusals with data: token=reject on / (E_AUTH), a non-admin role on /admin (E_ROLE)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ token: "reject", name: "mallory" }));
    await a.refused();
    const b = await h.client("b", "/admin", h.options({ role: "user" }));
    await b.refused();
  },
};

const serverDisconnect: Scenario = {
  name: "server-disconnect",
  covers: "kick: the server emits bye then disconnects the socket (io server disconnect)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "kicked" }));
    await a.connected();
    await a.event("welcome");
    a.emit("kick");
    await a.event("bye");
    await a.disconnected();
  },
};

const clientDisconnect: Scenario = {
  name: "client-disconnect",
  covers: "the client disconnects (io client disconnect)",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "leaver" }));
    await a.connected();
    await a.event("welcome");
    a.socket.disconnect();
    await a.disconnected();
  },
};

const roomBroadcast: Scenario = {
  name: "room-broadcast",
  covers: "two clients in a room: joined, typing, msg to everyone (sender included) with ack, leave/left",
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "alice" }));
    const b = await h.client("b", "/", h.options({ name: "bob" }));
    await a.connected();
    await b.connected();
    await a.event("welcome");
    await b.event("welcome");
    const name = room(h, "room");
    await a.emitWithAck("join", name);
    await b.emitWithAck("join", name);
    const [joined] = await a.event("joined");
    a.check("joined.id is bob's socket.id", joined.id === b.socket.id);
    b.emit("typing", { room: name, typing: true });
    await a.event("typing");
    await b.emitWithAck("msg", { room: name, text: "hi all" });
    await b.event("msg");
    await a.event("msg");
    await a.emitWithAck("history", name);
    await a.emitWithAck("leave", name);
    await b.event("left");
  },
};

const nearMaxPayload: Scenario = {
  name: "max-payload",
  covers: `an echo of a ${NEAR_MAX_PAYLOAD}-character string, just under maxHttpBufferSize (1e6) in every encoding`,
  async run(h) {
    const a = await h.client("a", "/", h.options({ name: "big" }));
    await a.connected();
    await a.event("welcome");
    const text = "abcdefghij".repeat(NEAR_MAX_PAYLOAD / 10);
    const [reply] = await a.emitWithAck("echo", text);
    a.check("the echo is the same string", reply === text);
  },
};

/** Requests for a session that does not exist: Engine.IO's 400 "Session ID unknown". */
const unknownSid: Scenario = {
  name: "unknown-sid",
  covers: "a request with an unknown sid (GET poll, POST, or WebSocket upgrade by transport mode): 400 Session ID unknown",
  async run(h) {
    const { tap, log } = await h.rawTap("a");
    const transport = h.mode === "websocket" ? "websocket" : "polling";
    const path = `/socket.io/?EIO=${h.eio}&transport=${transport}&sid=${UNKNOWN_SID}`;
    if (h.mode === "websocket") {
      const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const ws = new WebSocket(tap.url.replace("http:", "ws:") + path);
        ws.once("unexpected-response", (_req, res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.once("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        ws.once("open", () => {
          ws.terminate();
          resolve({ status: 101, body: "" });
        });
        ws.once("error", (error) => reject(error));
      });
      log.push({ type: "http", ...status });
      return;
    }
    // A noop packet as the POST body: it means nothing, so only the session lookup can fail.
    const method = h.mode === "polling" ? "GET" : "POST";
    const body = method === "POST" ? (h.eio === 4 ? "6" : "1:6") : undefined;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(tap.url + path, { method, headers: body ? { "content-type": "text/plain;charset=UTF-8" } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.once("error", reject);
      req.end(body);
    });
    log.push({ type: "http", ...answer });
  },
};

export const SCENARIOS: readonly Scenario[] = [
  connectWithAuthAndQuery,
  eventBothWays,
  ackBothWays,
  binary,
  customNamespace,
  unknownNamespace,
  middlewareRejection,
  serverDisconnect,
  clientDisconnect,
  roomBroadcast,
  nearMaxPayload,
  unknownSid,
];
