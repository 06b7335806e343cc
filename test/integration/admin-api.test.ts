/**
 * The admin API on a real ops server, with the memory routing store and a fake gateway (sessions are
 * plain records; closing one removes it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN_TEST_TOKEN as TOKEN, startAdminHarness as startHarness, type AdminHarness as Harness } from "../helpers/admin-harness.js";
import { eventually } from "../helpers/eventually.js";

async function call(
  h: Harness,
  method: string,
  path: string,
  options: { token?: string | null; ifMatch?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
  if (options.ifMatch !== undefined) headers["if-match"] = options.ifMatch;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await fetch(`${h.url}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text === "" ? undefined : JSON.parse(text)) as Record<string, any> };
}

describe("admin API", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(TOKEN);
  });
  after(() => h.close());

  it("GET /admin/routing returns the document with its version as ETag", async () => {
    const { status, headers, body } = await call(h, "GET", "/admin/routing", { token: null });
    assert.equal(status, 200);
    assert.equal(headers.get("etag"), '"0"');
    assert.equal(headers.get("x-switchyard-store"), "connected");
    assert.deepEqual(body, JSON.parse(JSON.stringify(h.store.current())));
  });

  it("refuses mutations without a valid Bearer token", async () => {
    const missing = await call(h, "PUT", "/admin/routing", { token: null, ifMatch: "0", body: { hubPercent: 5 } });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, "SWY_ERR_ADMIN_UNAUTHORIZED");
    assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer/);
    for (const token of ["wrong", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const refused = await call(h, "POST", "/admin/drain", { token, body: { backend: "hub" } });
      assert.deepEqual(
        [refused.status, refused.body.code, refused.body.message],
        [401, "SWY_ERR_ADMIN_UNAUTHORIZED", "the admin request lacks a valid token: the token was refused"],
      );
    }
    const basic = await call(h, "POST", "/admin/rollback", {
      token: null,
      headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` },
    });
    assert.equal(basic.status, 401);
    assert.equal(h.store.current().version, 0, "nothing changed");
  });

  it("PUT needs If-Match (428), a version in it (400), and JSON (400)", async () => {
    assert.deepEqual(Object.values(await call(h, "PUT", "/admin/routing", { body: { hubPercent: 5 } })).slice(0, 1), [428]);
    const badMatch = await call(h, "PUT", "/admin/routing", { ifMatch: "*", body: { hubPercent: 5 } });
    assert.deepEqual([badMatch.status, badMatch.body.code], [400, "SWY_ERR_ADMIN_BAD_REQUEST"]);
    const notJson = await call(h, "PUT", "/admin/routing", { ifMatch: "0", rawBody: "{hubPercent: 5" });
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.message, /the body is not valid JSON/);
    const tooBig = await call(h, "PUT", "/admin/routing", {
      ifMatch: "0",
      rawBody: JSON.stringify({ hubPercent: 5, lists: { alwaysHub: Array.from({ length: 10_000 }, (_, i) => `key-${i}`) } }),
    });
    assert.equal(tooBig.status, 413);
    const tooDeep = await call(h, "PATCH", "/admin/routing", { rawBody: `${"[".repeat(5000)}${"]".repeat(5000)}` });
    assert.deepEqual([tooDeep.status, tooDeep.body.code], [400, "SWY_ERR_ADMIN_BAD_REQUEST"]);
    assert.match(tooDeep.body.message, /nested deeper than 16 levels/);
    assert.equal(h.store.current().version, 0);
  });

  it("PUT refuses an invalid document naming every problem, applying nothing", async () => {
    const { status, body } = await call(h, "PUT", "/admin/routing", {
      ifMatch: "0",
      body: { hubPercent: 30.123, key: { sources: ["query:userId", "nowhere"] }, extra: true },
    });
    assert.equal(status, 400);
    assert.equal(body.code, "SWY_ERR_ROUTING_INVALID");
    assert.deepEqual(
      body.problems.map((p: string) => p.slice(0, p.indexOf(":"))),
      ["extra", "hubPercent", "key.sources[1]"],
    );
    assert.ok(body.problems.includes("hubPercent: must be a number 0-100 with at most two decimals (got 30.123)"));
    assert.equal(h.store.current().version, 0);
    assert.equal(h.store.current().hubPercent, 0);
  });

  it("PUT applies a valid document as the next version, 409 for a stale one, and audits it", async () => {
    const current = (await call(h, "GET", "/admin/routing")).body;
    const ok = await call(h, "PUT", "/admin/routing", {
      ifMatch: `"${current.version}"`,
      body: { ...current, hubPercent: 25 },
      headers: { "user-agent": "test-suite" },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.version, current.version + 1);
    assert.equal(ok.headers.get("etag"), `"${current.version + 1}"`);
    assert.equal(h.store.current().hubPercent, 25);

    const stale = await call(h, "PUT", "/admin/routing", { ifMatch: String(current.version), body: { ...current, hubPercent: 50 } });
    assert.deepEqual([stale.status, stale.body.code, stale.body.currentVersion], [409, "SWY_ERR_ROUTING_CONFLICT", current.version + 1]);
    assert.equal(h.store.current().hubPercent, 25);

    const [entry] = (await call(h, "GET", "/admin/audit?limit=1")).body.entries;
    assert.equal(entry.action, "routing.update");
    assert.deepEqual(entry.changes, [`hubPercent: ${current.hubPercent} → 25`]);
    assert.equal(entry.version, current.version + 1);
    assert.match(entry.actor.address, /127\.0\.0\.1/);
    assert.match(entry.actor.identity, /^token:[0-9a-f]{8} \(test-suite\)$/);
    assert.ok(!JSON.stringify(entry).includes(TOKEN), "the token never reaches the audit log");
  });

  it("PATCH (JSON Merge Patch) changes only the fields it names, keeps every other, and audits it", async () => {
    const start = (await call(h, "GET", "/admin/routing")).body;
    const put = await call(h, "PUT", "/admin/routing", { ifMatch: String(start.version), body: { ...start, hubPercent: 33 } });
    assert.equal(put.status, 200);
    const patched = await call(h, "PATCH", "/admin/routing", {
      body: { shadow: { percent: 100, rules: [{ event: "msg", ignore: ["ts"] }] } },
      headers: { "content-type": "application/merge-patch+json" },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.version, put.body.version + 1);
    assert.equal(patched.headers.get("etag"), `"${put.body.version + 1}"`);
    assert.equal(patched.body.hubPercent, 33, "a shadow change never resets the split");
    assert.deepEqual(patched.body.key, start.key);
    assert.equal(patched.body.shadow.percent, 100);
    assert.equal(patched.body.shadow.windowMs, start.shadow.windowMs, "unnamed shadow fields keep their values");
    assert.deepEqual(
      h.store.current().shadow.rules.map((rule) => [rule.event, rule.ignore]),
      [["msg", ["ts"]]],
    );
    const [entry] = (await call(h, "GET", "/admin/audit?limit=1")).body.entries;
    assert.equal(entry.action, "routing.patch");
    assert.equal(entry.changes.length, 2, JSON.stringify(entry.changes));
    assert.equal(entry.changes[0], "shadow.percent: 0 → 100");
    assert.match(entry.changes[1], /^shadow\.rules: \[\] → \[\{"event":"msg","ignore":\["ts"\]/);

    // null removes a field: it takes its default again.
    const reset = await call(h, "PATCH", "/admin/routing", { body: { shadow: { rules: null, percent: null } } });
    assert.equal(reset.status, 200);
    assert.deepEqual([reset.body.shadow.rules, reset.body.shadow.percent, reset.body.hubPercent], [[], 0, 33]);
  });

  it("PATCH honours If-Match when given, re-applies itself over a concurrent change when not, and validates the result", async () => {
    const current = (await call(h, "GET", "/admin/routing")).body;
    const stale = await call(h, "PATCH", "/admin/routing", { ifMatch: String(current.version - 1), body: { hubPercent: 1 } });
    assert.deepEqual([stale.status, stale.body.code, stale.body.currentVersion], [409, "SWY_ERR_ROUTING_CONFLICT", current.version]);
    const matching = await call(h, "PATCH", "/admin/routing", { ifMatch: `"${current.version}"`, body: { hubPercent: 2 } });
    assert.deepEqual([matching.status, matching.body.hubPercent], [200, 2]);

    const realUpdate = h.store.update.bind(h.store);
    let interferences = 1;
    // Another operator changes the split between this PATCH's read and its write.
    h.store.update = async (document, expected) => {
      if (interferences-- > 0) await realUpdate({ ...h.store.current(), hubPercent: 7 }, h.store.current().version);
      return realUpdate(document, expected);
    };
    try {
      const concurrent = await call(h, "PATCH", "/admin/routing", { body: { lists: { alwaysHub: ["qa-1"] } } });
      assert.equal(concurrent.status, 200, JSON.stringify(concurrent.body));
      assert.deepEqual([concurrent.body.hubPercent, concurrent.body.lists.alwaysHub], [7, ["qa-1"]], "both changes are kept");
    } finally {
      h.store.update = realUpdate;
    }

    const before = h.store.current();
    const invalid = await call(h, "PATCH", "/admin/routing", { body: { hubPercent: 101, shadow: { windowMs: 0 } } });
    assert.deepEqual([invalid.status, invalid.body.code], [400, "SWY_ERR_ROUTING_INVALID"]);
    assert.ok(invalid.body.problems.some((p: string) => p.startsWith("hubPercent:")));
    assert.ok(invalid.body.problems.some((p: string) => p.startsWith("shadow.windowMs:")));
    const notObject = await call(h, "PATCH", "/admin/routing", { body: [1] });
    assert.deepEqual([notObject.status, notObject.body.code], [400, "SWY_ERR_ADMIN_BAD_REQUEST"]);
    const anonymous = await call(h, "PATCH", "/admin/routing", { token: null, body: { hubPercent: 3 } });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(h.store.current(), before, "refused patches change nothing");
  });

  it("POST /admin/drain closes the share it announces, paced in steps", async () => {
    h.gateway.add("hub", "websocket", 40);
    h.gateway.add("hub", "polling", 5);
    h.gateway.add("legacy", "websocket", 10);
    h.gateway.closeCalls.length = 0;
    const { status, body } = await call(h, "POST", "/admin/drain", { body: { backend: "hub", percent: 50 } });
    assert.equal(status, 202);
    assert.deepEqual([body.backend, body.percent, body.scope, body.willClose], ["hub", 50, "cluster", 23]);
    assert.deepEqual(body.instances, [{ instanceId: "gw-1", sessions: 45, willClose: 23 }]);
    await eventually(() => h.api.drains.progressOf(body.id)?.done, "the drain to finish");
    assert.equal(h.gateway.count("hub"), 22);
    assert.equal(h.gateway.count("legacy"), 10);
    assert.deepEqual(
      h.gateway.closeCalls.map((c) => c.closed),
      [5, 5, 5, 5, 3],
      "at most STEP_SIZE per step",
    );
    const audit = (await call(h, "GET", "/admin/audit?limit=1")).body.entries[0];
    assert.deepEqual([audit.action, audit.changes], ["drain", ["drain hub 50% (cluster, ~23 sessions)"]]);
  });

  it("POST /admin/drain validates its body", async () => {
    for (const [body, pattern] of [
      [{ backend: "elsewhere" }, /backend: must be "hub" or "legacy"/],
      [{ backend: "hub", percent: 0 }, /percent: must be a number greater than 0/],
      [{ backend: "hub", percent: 101 }, /percent:/],
      [{ backend: "hub", share: 5 }, /unknown key share/],
      [[1, 2], /send \{"backend"/],
    ] as const) {
      const answer = await call(h, "POST", "/admin/drain", { body });
      assert.equal(answer.status, 400);
      assert.match(answer.body.message, pattern);
    }
  });

  it("GET /admin/sessions counts per backend, transport and instance", async () => {
    const { body } = await call(h, "GET", "/admin/sessions");
    assert.deepEqual(body.totals, { legacy: { polling: 0, websocket: 10 }, hub: { polling: 5, websocket: 17 } });
    assert.equal(body.instances.length, 1);
    assert.deepEqual(
      [body.instances[0].instanceId, body.instances[0].internalUrl, body.instances[0].appliedVersion, body.instances[0].stale],
      ["gw-1", "http://gw-1:3000", body.desiredVersion, false],
    );
    assert.equal(body.store.kind, "memory");
  });

  it("reads that reveal user data or operators' activity need the token; refusals are counted and logged without it", async () => {
    const refusals = async () => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const count = (reason: string) =>
        Number(new RegExp(`switchyard_admin_refused_total{reason="${reason}"[^}]*} (\\d+)`).exec(text)?.[1]);
      return { missing: count("missing"), wrong: count("wrong") };
    };
    const before = await refusals();
    const wrongToken = "not-the-admin-token-but-long";
    for (const path of ["/admin/sessions", "/admin/audit", "/admin/shadow/diffs"]) {
      const missing = await call(h, "GET", path, { token: null });
      assert.equal(missing.status, 401, path);
      assert.equal(missing.body.code, "SWY_ERR_ADMIN_UNAUTHORIZED");
      assert.equal((await call(h, "GET", path, { token: wrongToken })).status, 401, path);
      assert.equal((await call(h, "GET", path)).status, 200, path);
    }
    assert.equal((await call(h, "GET", "/admin/routing", { token: null })).status, 200, "the routing document stays readable");
    assert.deepEqual(await refusals(), { missing: before.missing + 3, wrong: before.wrong + 3 });
    const logged = h.logs.filter((line) => line.msg === "admin call refused");
    assert.ok(logged.length >= 6);
    assert.deepEqual(
      logged.slice(-2).map((line) => [line.code, line.reason, line.method, line.path]),
      [
        ["SWY_ERR_ADMIN_UNAUTHORIZED", "missing", "GET", "/admin/shadow/diffs"],
        ["SWY_ERR_ADMIN_UNAUTHORIZED", "wrong", "GET", "/admin/shadow/diffs"],
      ],
    );
    const everything = JSON.stringify(h.logs);
    assert.ok(!everything.includes(wrongToken) && !everything.includes(TOKEN), "no token is ever logged");
  });

  it("POST /admin/rollback sets hubPercent 0 and drains the hub in one audited call", async () => {
    const before = h.store.current();
    assert.ok(before.hubPercent > 0);
    const { status, body } = await call(h, "POST", "/admin/rollback");
    assert.equal(status, 200);
    assert.deepEqual([body.config.hubPercent, body.config.version], [0, before.version + 1]);
    assert.deepEqual([body.drain.backend, body.drain.percent, body.drain.willClose], ["hub", 100, 22]);
    await eventually(() => h.gateway.count("hub") === 0, "every hub session to be closed");
    assert.equal(h.gateway.count("legacy"), 10);
    const entries = (await call(h, "GET", "/admin/audit?limit=5")).body.entries;
    assert.equal(entries[0].action, "rollback");
    assert.deepEqual(entries[0].changes, [`hubPercent: ${before.hubPercent} → 0`, "drain hub 100% (cluster, ~22 sessions)"]);
    assert.notEqual(entries[1].action, "routing.update", "one audit entry, not one per step");
  });

  it("reports the store in /readyz and answers unknown methods with 405", async () => {
    const ready = await call(h, "GET", "/readyz", { token: null });
    const check = ready.body.checks.find((c: { name: string }) => c.name === "routing store");
    assert.deepEqual([check.ok, check.detail], [true, `memory: connected, routing config v${h.store.current().version}`]);
    assert.equal((await call(h, "DELETE", "/admin/routing")).status, 405);
  });
});

describe("admin API without ADMIN_TOKEN", () => {
  it("refuses every mutation with SWY_ERR_ADMIN_DISABLED but still serves reads", async () => {
    const h = await startHarness(undefined);
    try {
      for (const [method, path] of [
        ["PUT", "/admin/routing"],
        ["POST", "/admin/drain"],
        ["POST", "/admin/rollback"],
      ] as const) {
        const answer = await call(h, method, path, { ifMatch: "0", body: { hubPercent: 1, backend: "hub" } });
        assert.deepEqual([answer.status, answer.body.code], [403, "SWY_ERR_ADMIN_DISABLED"], `${method} ${path}`);
      }
      assert.equal((await call(h, "GET", "/admin/routing")).status, 200);
      assert.equal(h.store.current().version, 0);
    } finally {
      await h.close();
    }
  });
});
