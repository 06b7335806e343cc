/**
 * The limits a hostile client probes, on a real gateway in front of a real socket.io server: a client that
 * stops reading, slowloris on the handshake and on the upgrade, oversized headers, the session caps (per
 * instance, per address, behind a trusted proxy) and the handshake rate. Each refusal carries its code,
 * and each bound reached is counted in switchyard_limit_hits_total.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { subscribe, type SessionClosedEvent } from "../../src/telemetry/events.js";
import { eventually } from "../helpers/eventually.js";
import { metricValue, scrapeMetrics } from "../helpers/shadow-probe.js";
import { shortenPollingCloseTimeout } from "../helpers/polling-close.js";
import { startStack as startAnyStack, type Stack, type StackOptions } from "../helpers/stack.js";

/** A stack whose engine.io servers do not keep the process alive 30 s for polling sessions they closed. */
async function startStack(options: StackOptions): Promise<Stack> {
  const stack = await startAnyStack(options);
  shortenPollingCloseTimeout(stack.switchyard.gateway.engine);
  shortenPollingCloseTimeout(stack.legacy.io.engine);
  return stack;
}

const MIB = 1024 * 1024;

/** A raw Engine.IO v4 WebSocket client connected to namespace "/"; resolves once the CONNECT is answered. */
async function rawClient(url: string, query = ""): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket${query}`);
  const connected = new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0")) ws.send("40");
      else if (text.startsWith("40")) resolve();
      else if (text === "2") ws.send("3");
    });
    ws.once("error", reject);
  });
  await connected;
  return ws;
}

/** Sends raw bytes and resolves with everything the server wrote before closing the connection. */
function rawExchange(url: string, write: (socket: Socket) => void): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let answer = "";
  socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
  socket.on("connect", () => write(socket));
  socket.on("error", () => {});
  return once(socket, "close").then(() => answer);
}

async function limitHits(stack: Stack, limit: string): Promise<number> {
  return metricValue(await scrapeMetrics(stack.switchyard.opsUrl), "switchyard_limit_hits_total", { limit }) ?? Number.NaN;
}

describe("limits a hostile client probes", () => {
  let stack: Stack;
  const closed: SessionClosedEvent[] = [];
  const unsubscribe = subscribe("switchyard:session:closed", (e) => closed.push(e));

  before(async () => {
    stack = await startStack({
      env: { CLIENT_BUFFER_LIMIT_BYTES: String(MIB), HEADERS_TIMEOUT_MS: "300", REQUEST_TIMEOUT_MS: "600", MAX_HEADER_BYTES: "4096" },
    });
    // A backend that writes as fast as its client's gateway session takes it, without buffering much itself.
    stack.legacy.io.on("connection", (socket) => {
      socket.on("flood", (bytes: number, size: number) => {
        const chunk = "x".repeat(size);
        let sent = 0;
        const next = () => {
          if (!socket.connected || sent >= bytes) return;
          socket.emit("chunk", chunk);
          sent += size;
          setImmediate(next);
        };
        next();
      });
    });
  });
  after(async () => {
    unsubscribe();
    await stack.close();
  });

  it("closes a client that stops reading once 1 MiB waits for it (SWY_ERR_CLIENT_TOO_SLOW), holding at most that", async (t) => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => rawClient(stack.url)));
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.external - before.heapUsed - before.external);
    }, 5);
    for (const ws of clients) {
      (ws as unknown as { _socket: Socket })._socket.pause();
      ws.send(`42${JSON.stringify(["flood", 32 * MIB, 64 * 1024])}`);
    }
    await eventually(() => closed.filter((e) => e.code === "SWY_ERR_CLIENT_TOO_SLOW").length === clients.length, "all stalled", 20_000);
    clearInterval(sampler);
    t.diagnostic(`peak gateway+backend memory growth: ${Math.round(peak / 1024 / clients.length)} KiB per stalled client`);
    assert.ok(closed.every((e) => e.reason === "error" && e.mode === "terminate"));
    assert.equal(stack.switchyard.gateway.sessions.size, 0);
    assert.ok((await limitHits(stack, "client_buffer")) >= clients.length);
    // What the gateway held is bounded by the limit (plus what is in flight), never by what the backend sent.
    assert.ok(peak / clients.length < 8 * MIB, `${peak} bytes for ${clients.length} stalled clients`);
    for (const ws of clients) ws.terminate();
  });

  it("closes a client that stops reading with no traffic for it at the heartbeat (SWY_ERR_CLIENT_PING_TIMEOUT)", async () => {
    const quick = await startStack({ env: { PING_INTERVAL_MS: "200", PING_TIMEOUT_MS: "200" } });
    const seen: SessionClosedEvent[] = [];
    const stop = subscribe("switchyard:session:closed", (e) => seen.push(e));
    try {
      const ws = await rawClient(quick.url);
      (ws as unknown as { _socket: Socket })._socket.pause();
      await eventually(() => seen.length === 1, "the stalled session to close", 5000);
      assert.deepEqual([seen[0]?.reason, seen[0]?.code], ["client closed", "SWY_ERR_CLIENT_PING_TIMEOUT"]);
      ws.terminate();
    } finally {
      stop();
      await quick.close();
    }
  });

  it("answers a handshake whose headers never finish (slowloris) with 408 and closes it: polling, upgrade, silent, ops", async () => {
    const slow = (upgrade: boolean) =>
      rawExchange(stack.url, (socket) => {
        socket.write(`GET /socket.io/?EIO=4&transport=${upgrade ? "websocket" : "polling"} HTTP/1.1\r\nhost: x\r\n`);
        if (upgrade) socket.write("upgrade: websocket\r\nconnection: Upgrade\r\n");
        socket.write("x-slow: 1\r\n"); // …and never the blank line
      });
    const before = await limitHits(stack, "request_timeout");
    const silent = rawExchange(stack.url, () => {}); // a connection that never sends a byte
    const ops = rawExchange(stack.switchyard.opsUrl, (socket) => socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\n"));
    const [polling, upgrade, idle, admin] = await Promise.all([slow(false), slow(true), silent, ops]);
    assert.match(polling, /^HTTP\/1\.1 408 /);
    assert.match(upgrade, /^HTTP\/1\.1 408 /);
    assert.match(idle, /^HTTP\/1\.1 408 /);
    assert.match(admin, /^HTTP\/1\.1 408 /, "the operations listener has the same bounds");
    assert.equal(await limitHits(stack, "request_timeout"), before + 4);
  });

  it("answers a polling body that never finishes with 408", async () => {
    const opened = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await opened.text()).slice(1)).sid as string;
    const answer = await rawExchange(stack.url, (socket) =>
      socket.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n4only part`),
    );
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it("refuses a polling body over maxPayload (the legacy server's, learned) with 413", async () => {
    const opened = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await opened.text()).slice(1)).sid as string;
    const tooLarge = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: `4${"x".repeat(1_100_000)}`,
    });
    assert.equal(tooLarge.status, 413);
  });

  it("answers oversized headers with 431", async () => {
    const answer = await rawExchange(stack.url, (socket) =>
      socket.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\nx-big: ${"y".repeat(8192)}\r\n\r\n`),
    );
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.ok((await limitHits(stack, "header_size")) >= 1);
  });

  it("closes a WebSocket whose Engine.IO upgrade never completes after UPGRADE_TIMEOUT_MS", async () => {
    const tight = await startStack({ env: { UPGRADE_TIMEOUT_MS: "300" } });
    try {
      const handshake = await fetch(`${tight.url}/socket.io/?EIO=4&transport=polling`);
      const sid = JSON.parse((await handshake.text()).slice(1)).sid as string;
      const ws = new WebSocket(`${tight.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
      await once(ws, "open");
      const [code] = (await once(ws, "close")) as [number];
      assert.ok(code === 1005 || code === 1006, `closed without the probe (${code})`);
    } finally {
      await tight.close();
    }
  });
});

describe("session caps and the handshake rate", () => {
  const handshake = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers });

  it("caps sessions per client address, piped and terminated alike, and frees the place when one ends", async () => {
    for (const mode of ["pipe", "terminate"] as const) {
      const stack = await startStack({ mode, env: { MAX_SESSIONS_PER_ADDRESS: "2" } });
      try {
        const first = await rawClient(stack.url);
        const second = await rawClient(stack.url);
        const refused = await handshake(stack.url);
        assert.equal(refused.status, 429, mode);
        assert.equal(refused.headers.get("retry-after"), "5");
        assert.equal(((await refused.json()) as { code: string }).code, "SWY_ERR_ADDRESS_LIMIT");
        first.close();
        await eventually(async () => (await handshake(stack.url)).status === 200, `${mode}: a place is free again`);
        second.close();
      } finally {
        await stack.close();
      }
    }
  });

  it("with TRUSTED_PROXIES, believes X-Forwarded-For only from those proxies", async () => {
    const behind = await startStack({ env: { MAX_SESSIONS_PER_ADDRESS: "1", TRUSTED_PROXIES: "127.0.0.0/8, 10.0.0.0/8" } });
    try {
      // The peer (127.0.0.1) and 10.1.2.3 are trusted proxies: the client is the nearest address before them.
      const via = (chain: string) => handshake(behind.url, { "x-forwarded-for": chain });
      assert.equal((await via("203.0.113.1, 10.1.2.3")).status, 200);
      assert.equal((await via("198.51.100.9, 203.0.113.1")).status, 429, "the same client, whatever came before it");
      assert.equal((await via("203.0.113.2, 10.1.2.3")).status, 200);
    } finally {
      await behind.close();
    }
    const direct = await startStack({ env: { MAX_SESSIONS_PER_ADDRESS: "1", TRUSTED_PROXIES: "10.0.0.0/8" } });
    try {
      // The peer is no trusted proxy: what it writes in X-Forwarded-For changes nothing.
      assert.equal((await handshake(direct.url, { "x-forwarded-for": "203.0.113.1" })).status, 200);
      assert.equal((await handshake(direct.url, { "x-forwarded-for": "203.0.113.2" })).status, 429);
    } finally {
      await direct.close();
    }
  });

  it("counts the address the trusted load balancer appended, not the peer's", async () => {
    const stack = await startStack({ env: { MAX_SESSIONS_PER_ADDRESS: "1", TRUST_PROXY: "true" } });
    try {
      const viaProxy = (client: string) => handshake(stack.url, { "x-forwarded-for": `198.51.100.7, ${client}` });
      assert.equal((await viaProxy("203.0.113.1")).status, 200);
      assert.equal((await viaProxy("203.0.113.1")).status, 429, "the same client behind the balancer");
      assert.equal((await viaProxy("203.0.113.2")).status, 200, "another client behind the same balancer");
    } finally {
      await stack.close();
    }
  });

  it("refuses handshakes with 503 and Retry-After when the instance is full, or over its handshake rate", async () => {
    const full = await startStack({ mode: "terminate", env: { MAX_SESSIONS: "1" } });
    try {
      const held = await rawClient(full.url);
      const refused = await handshake(full.url);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("retry-after"), "5");
      assert.equal(((await refused.json()) as { code: string }).code, "SWY_ERR_SESSION_LIMIT");
      held.close();
    } finally {
      await full.close();
    }
    const limited = await startStack({ env: { HANDSHAKE_RATE: "1", HANDSHAKE_BURST: "2" } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await handshake(limited.url)).status);
      assert.deepEqual(statuses, [200, 200, 503]);
      const refused = await handshake(limited.url);
      assert.equal(((await refused.json()) as { code: string }).code, "SWY_ERR_RATE_LIMITED");
      assert.ok(Number(refused.headers.get("retry-after")) >= 1);
      const metrics = await scrapeMetrics(limited.switchyard.opsUrl);
      assert.ok((metricValue(metrics, "switchyard_handshakes_refused_total", { code: "SWY_ERR_RATE_LIMITED" }) ?? 0) >= 2);
    } finally {
      await limited.close();
    }
  });
});
