/**
 * What the gateway reads back from Redis is untrusted (a shared Redis, operators with redis-cli, other
 * versions): every entry kind (session registry, drain channel, audit list, instance statuses, routing
 * config, shadow evidence) is planted malformed in the real Redis, and each one is treated as absent,
 * counted (switchyard_contained_errors_total{boundary="store",code="SWY_ERR_STORE_MALFORMED"}) and never
 * thrown; the requests that read them are answered. Then the un-awaited promises of request dispatch (owner
 * look-up, handshake registration) are made to reject, a fault the store's contract rules out and real
 * Redis cannot produce: each request is answered 500 SWY_ERR_INTERNAL, counted, and the gateway serves on.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { connected, createClient, emitWithAck } from "../helpers/clients.js";
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { metricSum, parseMetrics } from "../helpers/fuzz/gateway-under-test.js";
import { startStack, type Stack } from "../helpers/stack.js";

const TOKEN = "untrusted-store-admin-token-0123";

describe("malformed entries in Redis", () => {
  const prefix = uniquePrefix("untrusted");
  let stack: Stack;
  let redis: Redis;

  const malformedCount = async () =>
    metricSum(parseMetrics(await stack.switchyard.metrics.render()), "switchyard_contained_errors_total", {
      boundary: "store",
      code: "SWY_ERR_STORE_MALFORMED",
    });
  const internalCount = async () =>
    metricSum(parseMetrics(await stack.switchyard.metrics.render()), "switchyard_contained_errors_total", { code: "SWY_ERR_INTERNAL" });
  const admin = (path: string) => fetch(`${stack.switchyard.opsUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

  before(async () => {
    stack = await startStack({ env: { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: prefix, ADMIN_TOKEN: TOKEN } });
    redis = new Redis(SHARED_REDIS_URL);
    await eventually(() => stack.switchyard.store.health().state === "connected", "the store to connect");
  });
  after(async () => {
    await stack.close();
    await deleteKeys(SHARED_REDIS_URL, prefix);
    redis.disconnect();
  });

  it("a malformed session registry entry is an unknown session (engine.io's answer), counted", async () => {
    const entries = [
      "garbage",
      "null",
      "[]",
      '{"i":"other"}',
      '{"i":"other","u":"not a url"}',
      '{"i":"other","u":"ws://other:3000"}',
      '{"i":"other","u":"file:///etc/passwd"}',
      '{"i":"","u":"http://other:3000"}',
    ];
    const before = await malformedCount();
    for (const [index, value] of entries.entries()) {
      const sid = `malformed-registry-entry-${index}`;
      await redis.set(`${prefix}session:${sid}`, value, "PX", 60_000);
      const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(response.status, 400, value);
      assert.deepEqual(await response.json(), { code: 1, message: "Session ID unknown" }, value);
    }
    assert.equal((await malformedCount()) - before, entries.length);
  });

  it("a malformed drain command is ignored and counted; a valid one still drains", async () => {
    const messages = ["null", "5", "[]", "{}", "not json", '{"id":"a","backend":"hub","percent":"all","origin":"other"}'];
    const before = await malformedCount();
    for (const message of messages) await redis.publish(`${prefix}commands`, message);
    await eventually(async () => (await malformedCount()) - before === messages.length, "every malformed drain command counted");
    const valid = { id: "valid-drain-after-garbage", backend: "hub", percent: 100, origin: "other", at: Date.now() };
    await redis.publish(`${prefix}commands`, JSON.stringify(valid));
    await eventually(() => stack.switchyard.admin.drains.list().some((d) => d.id === valid.id), "the valid drain applied");
  });

  it("malformed audit entries, instance statuses and shadow evidence are left out of the admin answers", async () => {
    const before = await malformedCount();
    await redis.lpush(`${prefix}audit`, "garbage", "null", '{"action":"x"}');
    await redis.set(`${prefix}instance:evil`, '{"instanceId":"evil","lastSeen":1}', "PX", 60_000);
    await redis.set(`${prefix}instance:evil2`, "garbage", "PX", 60_000);
    await redis.zadd(`${prefix}instances`, Date.now(), "evil", Date.now(), "evil2");
    await redis.xadd(`${prefix}shadow:diffs`, "*", "entry", "garbage");
    await redis.xadd(`${prefix}shadow:diffs`, "*", "entry", '{"at":"now"}');

    const audit = await admin("/admin/audit");
    assert.equal(audit.status, 200);
    const entries = ((await audit.json()) as { entries: { action: unknown }[] }).entries;
    assert.ok(entries.every((entry) => typeof entry.action === "string" && entry.action !== "x"));

    const sessions = await admin("/admin/sessions");
    assert.equal(sessions.status, 200);
    const instances = ((await sessions.json()) as { instances: { instanceId: string }[] }).instances.map((i) => i.instanceId);
    assert.deepEqual(instances, [stack.switchyard.store.instanceId]);

    const diffs = await admin("/admin/shadow/diffs");
    assert.equal(diffs.status, 200);
    assert.deepEqual(((await diffs.json()) as { entries: unknown[] }).entries, []);

    assert.equal((await malformedCount()) - before, 3 + 2 + 2);
  });

  it("a malformed stored routing config degrades the store (routing on the last good config), counted", async () => {
    const healthyVersion = stack.switchyard.store.current().version;
    const before = await malformedCount();
    await redis.hset(`${prefix}routing`, "version", "not-a-version");
    await redis.publish(`${prefix}routing:changed`, "999");
    await eventually(() => /is not a version/.test(stack.switchyard.store.health().reason ?? ""), "the store degraded");
    await redis.hset(`${prefix}routing`, "version", "42", "config", "garbage");
    await redis.publish(`${prefix}routing:changed`, "42");
    await eventually(() => /v42 is invalid/.test(stack.switchyard.store.health().reason ?? ""), "the invalid document reported");
    assert.ok((await malformedCount()) - before >= 2);
    assert.equal(stack.switchyard.store.current().version, healthyVersion, "routing stays on the last good config");
    const client = createClient("4", stack.url);
    await connected(client);
    assert.ok(await emitWithAck(client, "whoami"));
    client.disconnect();
    assert.equal(await internalCount(), 0, "nothing reached a guard");
  });
});

/** Sends a raw HTTP/1.1 request (an upgrade when `upgrade`) and returns the status line. */
function statusLine(url: string, path: string, upgrade: boolean): Promise<string> {
  const { hostname, port } = new URL(url);
  const headers = upgrade
    ? "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n"
    : "connection: close\r\n";
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n${headers}\r\n`));
    let response = "";
    socket.on("data", (chunk) => {
      response += chunk.toString();
      if (response.includes("\r\n\r\n") && upgrade) socket.destroy();
    });
    socket.on("close", () => resolve(response.split("\r\n")[0] ?? ""));
    socket.on("error", reject);
  });
}

describe("request dispatch promises that reject", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ mode: "terminate" });
  });
  after(() => stack.close());

  const internal = async () =>
    metricSum(parseMetrics(await stack.switchyard.metrics.render()), "switchyard_contained_errors_total", {
      boundary: "request",
      code: "SWY_ERR_INTERNAL",
    });

  it("an owner look-up that rejects answers 500 SWY_ERR_INTERNAL (request and upgrade), counted", async () => {
    const store = stack.switchyard.store;
    const original = store.sessionOwner;
    store.sessionOwner = () => Promise.reject(new Error("injected: the registry look-up failed"));
    try {
      const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling&sid=owner-lookup-fails`);
      assert.equal(response.status, 500);
      assert.equal(((await response.json()) as { code: string }).code, "SWY_ERR_INTERNAL");
      assert.match(await statusLine(stack.url, "/socket.io/?EIO=4&transport=websocket&sid=owner-lookup-fails-2", true), /^HTTP\/1\.1 500 /);
    } finally {
      store.sessionOwner = original;
    }
    assert.equal(await internal(), 2);
  });

  it("a handshake whose registration rejects answers 500 SWY_ERR_INTERNAL; the next handshake works", async () => {
    const store = stack.switchyard.store;
    const original = store.registerSession;
    store.registerSession = () => Promise.reject(new Error("injected: the registration failed"));
    try {
      const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(response.status, 500);
      assert.equal(((await response.json()) as { code: string }).code, "SWY_ERR_INTERNAL");
      assert.match(await statusLine(stack.url, "/socket.io/?EIO=4&transport=websocket", true), /^HTTP\/1\.1 500 /);
    } finally {
      store.registerSession = original;
    }
    assert.equal(await internal(), 4);
    const client = createClient("4", stack.url);
    await connected(client);
    client.disconnect();
  });
});
