import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { describe, it } from "node:test";
import { routingConfigOrThrow, withHubPercent, type RoutingConfig } from "../../src/config/routing-config.js";
import { bucketOf } from "../../src/routing/hash.js";
import { createRouteDecider, decideRoute, parseCookies } from "../../src/routing/route-decider.js";
import { isDeferred, type Route, type RouteInput, type RouteVerdict } from "../../src/routing/route.js";

const NO_LEGACY_SHADOW = { legacyShadow: false };

function config(document: Record<string, unknown>): RoutingConfig {
  return routingConfigOrThrow({ hubPercent: 0, ...document });
}

function input(
  parts: { query?: Record<string, string>; headers?: IncomingHttpHeaders; address?: string; eio?: 3 | 4; auth?: unknown } = {},
): RouteInput {
  const query = new URLSearchParams({ EIO: String(parts.eio ?? 4), transport: "polling", ...parts.query });
  const base = { query, headers: parts.headers ?? {}, remoteAddress: parts.address ?? "203.0.113.7" };
  return "auth" in parts ? { ...base, auth: parts.auth } : base;
}

function routed(verdict: RouteVerdict): Route {
  assert.ok(!isDeferred(verdict), "expected a route, got a deferred verdict");
  return verdict;
}

function byUser(cfg: RoutingConfig, userId: string): Route {
  return routed(decideRoute(cfg, input({ query: { userId } }), NO_LEGACY_SHADOW, true));
}

function hubShare(cfg: RoutingConfig, keys: readonly string[]): number {
  return (keys.filter((key) => byUser(cfg, key).backend === "hub").length / keys.length) * 100;
}

const NUMERIC_IDS = Array.from({ length: 1000 }, (_, i) => String(i + 1));
const SPLIT = config({ key: { sources: ["query:userId", "header:x-user-id", "cookie:uid", "auth:userId"], fallback: "address" } });

describe("route decider: split", () => {
  it("puts 1,000 distinct keys within ±2 points of the configured share", () => {
    for (const percent of [1, 5, 10, 25, 30, 50, 75, 90, 99]) {
      const share = hubShare(withHubPercent(SPLIT, percent), NUMERIC_IDS);
      assert.ok(Math.abs(share - percent) <= 2, `${percent}%: ${share}% of 1,000 keys on the hub`);
    }
  });

  it("is uniform over many keys (±0.5 points over 100,000 keys)", () => {
    const buckets = Array.from({ length: 100_000 }, (_, i) => bucketOf(SPLIT.key.salt, `user-${i}`));
    for (const percent of [0.5, 10, 33.33, 50, 80]) {
      const share = (buckets.filter((bucket) => bucket < percent * 100).length / buckets.length) * 100;
      assert.ok(Math.abs(share - percent) <= 0.5, `${percent}%: ${share}%`);
    }
  });

  it("is sticky: the same key gets the same route from any decider, any source, any time", () => {
    const cfg = withHubPercent(SPLIT, 37);
    const deciderA = createRouteDecider(() => cfg, NO_LEGACY_SHADOW);
    const deciderB = createRouteDecider(() => routingConfigOrThrow(JSON.parse(JSON.stringify(cfg))), NO_LEGACY_SHADOW);
    for (const key of NUMERIC_IDS.slice(0, 200)) {
      const first = deciderA.decide(input({ query: { userId: key } }));
      for (const again of [
        deciderA.decide(input({ query: { userId: key }, address: "198.51.100.1" })),
        deciderB.decide(input({ headers: { "x-user-id": key } })),
        deciderB.decide(input({ headers: { cookie: `other=1; uid=${key}` } })),
        deciderB.decide(input({ auth: { userId: Number(key) } })),
      ]) {
        assert.equal(again.backend, first.backend);
        assert.equal(again.bucket, first.bucket);
        assert.equal(again.keyHash, first.keyHash);
      }
    }
  });

  it("is monotonic: a ramp 10→50% only ever moves keys from legacy to the hub", () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    const inputs = keys.map((userId) => input({ query: { userId } }));
    const backendsAt = (percent: number) => {
      const cfg = withHubPercent(SPLIT, percent);
      return inputs.map((one) => routed(decideRoute(cfg, one, NO_LEGACY_SHADOW, true)).backend);
    };
    let previous = backendsAt(10);
    let moved = 0;
    for (let percent = 10.25; percent <= 50; percent += 0.25) {
      const current = backendsAt(percent);
      current.forEach((backend, i) => {
        assert.ok(!(previous[i] === "hub" && backend === "legacy"), `${keys[i]} moved hub → legacy at ${percent}%`);
        if (previous[i] === "legacy" && backend === "hub") moved++;
      });
      previous = current;
    }
    assert.ok(moved > 1500, `only ${moved} keys moved to the hub over the ramp`);
  });

  it("routes 0% all to legacy and 100% all to the hub", () => {
    assert.equal(hubShare(withHubPercent(SPLIT, 0), NUMERIC_IDS), 0);
    assert.equal(hubShare(withHubPercent(SPLIT, 100), NUMERIC_IDS), 100);
  });

  it("tries sources in order and reports which one yielded the key, never the key itself", () => {
    const route = routed(
      decideRoute(
        SPLIT,
        input({ query: { userId: "  " }, headers: { "x-user-id": "secret-user-123", cookie: "uid=other" } }),
        NO_LEGACY_SHADOW,
        true,
      ),
    );
    assert.equal(route.keySource, "header:x-user-id");
    assert.equal(route.reason, "split");
    assert.equal(route.bucket, bucketOf(SPLIT.key.salt, "secret-user-123"));
    assert.match(route.keyHash!, /^[0-9a-f]{8}$/);
    assert.ok(!JSON.stringify(route).includes("secret-user-123"));
    assert.equal(route.configVersion, SPLIT.version);
  });

  it("applies the fallback when no source yields a key", () => {
    const byAddress = routed(decideRoute(SPLIT, input({ address: "::ffff:192.0.2.9" }), NO_LEGACY_SHADOW, false));
    assert.equal(byAddress.reason, "fallback");
    assert.equal(byAddress.keySource, "address");
    assert.equal(byAddress.bucket, bucketOf(SPLIT.key.salt, "::ffff:192.0.2.9"));
    for (const fallback of ["legacy", "hub"] as const) {
      const cfg = config({ hubPercent: 50, key: { sources: ["query:userId"], fallback } });
      const route = routed(decideRoute(cfg, input(), NO_LEGACY_SHADOW, true));
      assert.deepEqual([route.backend, route.reason, route.bucket, route.keySource], [fallback, "fallback", undefined, undefined]);
    }
  });
});

describe("route decider: auth source", () => {
  const authFirst = config({ hubPercent: 50, key: { sources: ["auth:user.id", "query:userId"], fallback: "legacy" } });
  const queryFirst = config({ hubPercent: 50, key: { sources: ["query:userId", "auth:user.id"], fallback: "legacy" } });

  it("defers an EIO4 handshake when an auth source comes before any key", () => {
    const verdict = decideRoute(authFirst, input({ query: { userId: "q" } }), NO_LEGACY_SHADOW, true);
    assert.deepEqual(verdict, { deferred: true, awaiting: "auth:user.id", configVersion: 0 });
    assert.ok(isDeferred(decideRoute(queryFirst, input(), NO_LEGACY_SHADOW, true)));
    assert.ok(!isDeferred(decideRoute(queryFirst, input({ query: { userId: "q" } }), NO_LEGACY_SHADOW, true)));
  });

  it("decides at the first CONNECT from the auth payload, or the next sources without one", () => {
    const decider = createRouteDecider(() => authFirst, NO_LEGACY_SHADOW);
    const withAuth = decider.decide(input({ query: { userId: "q" }, auth: { user: { id: "u-7" } } }));
    assert.equal(withAuth.keySource, "auth:user.id");
    assert.equal(withAuth.bucket, bucketOf(authFirst.key.salt, "u-7"));
    assert.equal(decider.decide(input({ query: { userId: "q" }, auth: { user: { id: ["not", "a", "key"] } } })).keySource, "query:userId");
    assert.equal(decider.decide(input({ query: { userId: "q" } })).keySource, "query:userId");
    assert.equal(decider.decide(input({ auth: null })).reason, "fallback");
  });

  it("skips auth sources for EIO3 clients (no auth in Socket.IO v4), never deferring them", () => {
    const decider = createRouteDecider(() => authFirst, NO_LEGACY_SHADOW);
    const verdict = decider.decideAtHandshake(input({ eio: 3, query: { userId: "q" } }));
    assert.equal(routed(verdict).keySource, "query:userId");
    const fromQueryParam = decider.decideAtHandshake({
      ...input({ query: { userId: "q" } }),
      query: new URLSearchParams({ EIO: "3", userId: "q" }),
    });
    assert.equal(routed(fromQueryParam).keySource, "query:userId");
  });
});

describe("route decider: overrides and lists", () => {
  const overridable = config({
    hubPercent: 0,
    key: { sources: ["query:userId"], fallback: "address" },
    overrides: {
      enabled: true,
      sources: ["header:x-switchyard-backend", "cookie:swy", "query:swy"],
      trustedNetworks: ["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"],
    },
  });

  it("honours a forced backend only from trusted networks", () => {
    const forced = (address: string, parts: Parameters<typeof input>[0] = { headers: { "x-switchyard-backend": "HUB" } }) =>
      routed(decideRoute(overridable, input({ ...parts, address }), NO_LEGACY_SHADOW, true));
    for (const trusted of ["10.1.2.3", "::ffff:10.9.9.9", "127.0.0.1", "::ffff:127.0.0.1", "2001:db8::42"]) {
      const route = forced(trusted);
      assert.deepEqual([route.backend, route.reason], ["hub", "override"], trusted);
    }
    for (const untrusted of ["11.0.0.1", "127.0.0.2", "::1", "2001:db9::1", "not-an-ip", ""]) {
      assert.notEqual(forced(untrusted).reason, "override", untrusted);
    }
    assert.equal(forced("10.0.0.1", { headers: { cookie: "swy=hub" } }).reason, "override");
    assert.equal(forced("10.0.0.1", { query: { swy: "hub" } }).reason, "override");
    assert.equal(forced("10.0.0.1", { headers: { "x-switchyard-backend": "elsewhere" } }).reason, "fallback");
    assert.equal(forced("10.0.0.1", { headers: { "x-switchyard-backend": "elsewhere" } }).backend, "legacy");
  });

  it("ignores overrides when disabled", () => {
    const disabled = config({ key: overridable.key, overrides: { ...overridable.overrides, enabled: false } });
    const route = routed(
      decideRoute(disabled, input({ address: "10.0.0.1", headers: { "x-switchyard-backend": "hub" } }), NO_LEGACY_SHADOW, true),
    );
    assert.equal(route.backend, "legacy");
    assert.notEqual(route.reason, "override");
  });

  it("can force legacy against the split, and wins over a deferred auth source", () => {
    const cfg = config({ ...overridable, hubPercent: 100, key: { sources: ["auth:userId"], fallback: "hub" } });
    const verdict = decideRoute(cfg, input({ address: "10.0.0.1", query: { swy: "legacy" } }), NO_LEGACY_SHADOW, true);
    assert.deepEqual([routed(verdict).backend, routed(verdict).reason], ["legacy", "override"]);
  });

  it("pins listed keys regardless of the split", () => {
    const cfg = config({ hubPercent: 0, lists: { alwaysHub: ["vip"], neverHub: ["fragile"] } });
    assert.deepEqual([byUser(cfg, "vip").backend, byUser(cfg, "vip").reason], ["hub", "list"]);
    const full = withHubPercent(cfg, 100);
    assert.deepEqual([byUser(full, "fragile").backend, byUser(full, "fragile").reason], ["legacy", "list"]);
    assert.equal(byUser(full, "anyone").reason, "split");
  });
});

describe("route decider: shadow target", () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  it("shadows legacy-route sessions to the hub, hub-route ones to dark legacy only when enabled", () => {
    const cfg = config({ hubPercent: 50, shadow: { percent: 100 } });
    const legacyKey = keys.find((key) => byUser(cfg, key).backend === "legacy")!;
    const hubKey = keys.find((key) => byUser(cfg, key).backend === "hub")!;
    assert.equal(byUser(cfg, legacyKey).shadow, "hub");
    assert.equal(byUser(cfg, hubKey).shadow, undefined);
    const withDarkLegacy = routed(decideRoute(cfg, input({ query: { userId: hubKey } }), { legacyShadow: true }, true));
    assert.equal(withDarkLegacy.shadow, "legacy");
    const noHubShadow = routed(decideRoute(cfg, input({ query: { userId: legacyKey } }), { legacyShadow: true, hubShadow: false }, true));
    assert.equal(noHubShadow.shadow, undefined);
    assert.equal(byUser(config({ hubPercent: 50 }), legacyKey).shadow, undefined);
  });

  it("samples a sticky share, independent of the split", () => {
    const cfg = config({ hubPercent: 30, shadow: { percent: 20 } });
    const routes = keys.map((key) => byUser(cfg, key));
    const legacy = routes.filter((route) => route.backend === "legacy");
    const shadowed = legacy.filter((route) => route.shadow === "hub").length;
    const share = (shadowed / legacy.length) * 100;
    assert.ok(Math.abs(share - 20) <= 2, `${share}% of legacy sessions shadowed`);
    for (const [i, key] of keys.slice(0, 300).entries()) assert.equal(byUser(cfg, key).shadow, routes[i]!.shadow);
  });
});

describe("cookies", () => {
  it("parses cookies: first occurrence wins, quotes and percent-encoding removed", () => {
    const cookies = parseCookies('a=1; uid="user%20one"; uid=second; bad; =x; pct=%E0%A4%A');
    assert.deepEqual(
      [...cookies],
      [
        ["a", "1"],
        ["uid", "user one"],
        ["pct", "%E0%A4%A"],
      ],
    );
    assert.equal(parseCookies(undefined).size, 0);
  });
});
