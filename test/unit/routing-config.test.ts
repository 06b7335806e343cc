import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_ROUTING_CONFIG,
  RoutingConfigError,
  diffRoutingConfigs,
  hubThresholdOf,
  parseRoutingConfig,
  validateRoutingConfig,
  withHubPercent,
  type RoutingConfig,
} from "../../src/config/routing-config.js";
import { shadowRuleFor } from "../../src/config/shadow-config.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { SwitchyardError } from "../../src/errors.js";

const ISSUE_EXAMPLE = {
  version: 7,
  hubPercent: 30,
  key: { sources: ["query:userId", "header:x-user-id", "cookie:uid", "auth:userId"], fallback: "address" },
  overrides: {
    enabled: true,
    sources: ["header:x-switchyard-backend"],
    trustedNetworks: ["10.0.0.0/8", "::ffff:192.168.0.0/112", "fd00::/8"],
  },
  shadow: { percent: 100, rules: [{ event: "msg", ignore: ["ts"] }] },
};

function problemsOf(input: unknown): readonly string[] {
  const result = validateRoutingConfig(input);
  assert.equal(result.ok, false, "expected the document to be refused");
  return result.ok ? [] : result.problems;
}

function valid(input: unknown): RoutingConfig {
  const result = validateRoutingConfig(input);
  assert.ok(result.ok, `expected a valid document, got ${result.ok ? "" : result.problems.join("; ")}`);
  return result.config;
}

describe("routing config validation", () => {
  it("accepts the issue's document and fills defaults for omitted sections", () => {
    const config = valid(ISSUE_EXAMPLE);
    assert.equal(config.version, 7);
    assert.equal(config.hubPercent, 30);
    assert.deepEqual(config.key.sources, ISSUE_EXAMPLE.key.sources);
    assert.equal(config.key.salt, DEFAULT_ROUTING_CONFIG.key.salt);
    assert.deepEqual(config.lists, { alwaysHub: [], neverHub: [] });
    assert.deepEqual(config.shadow, {
      percent: 100,
      windowMs: 5000,
      maxPending: 10_000,
      rules: [{ event: "msg", ignore: ["ts"], tolerance: 0, unordered: false }],
    });
  });

  it("returns a deep-frozen copy that shares nothing with the input", () => {
    const input = structuredClone(ISSUE_EXAMPLE);
    const config = valid(input);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.key.sources) && Object.isFrozen(config.shadow.rules[0]));
    input.key.sources.push("address");
    assert.equal(config.key.sources.length, 4);
    assert.throws(() => (config.key.sources as string[]).push("x"), TypeError);
  });

  it("validates hubPercent: 0-100, at most two decimals, required", () => {
    for (const ok of [0, 0.01, 12.5, 33.33, 99.99, 100, 0.29]) assert.equal(valid({ hubPercent: ok }).hubPercent, ok);
    for (const bad of [-1, 100.01, 12.345, "30", null, Number.NaN]) {
      assert.deepEqual(problemsOf({ hubPercent: bad }), [
        `hubPercent: must be a number 0-100 with at most two decimals (got ${bad === "30" ? '"30"' : String(bad)})`,
      ]);
    }
    assert.match(problemsOf({})[0]!, /^hubPercent: is required/);
    assert.equal(hubThresholdOf(valid({ hubPercent: 0.29 })), 29);
    assert.equal(hubThresholdOf(valid({ hubPercent: 57.7 })), 5770);
  });

  it("refuses unknown keys at every level, naming their path", () => {
    const problems = problemsOf({ hubPercent: 1, hubPercentage: 2, key: { source: [] }, shadow: { rules: [{ event: "x", ignor: [] }] } });
    assert.ok(problems.some((p) => p.startsWith("hubPercentage: unknown key")));
    assert.ok(problems.some((p) => p.startsWith("key.source: unknown key")));
    assert.ok(problems.some((p) => p.startsWith("shadow.rules[0].ignor: unknown key")));
  });

  it("reports every problem at once with its JSON path", () => {
    const problems = problemsOf({
      version: -1,
      hubPercent: 30,
      key: { sources: ["query:userId", "body:x", "header:bad header", "query:userId", "auth:a..b"], fallback: "random" },
      overrides: { enabled: "yes", sources: ["auth:userId"], trustedNetworks: ["10.0.0.1/8", "300.1.1.1", "::1/129", 5] },
      lists: { alwaysHub: ["alice", ""], neverHub: ["alice"] },
      shadow: {
        percent: 101,
        windowMs: 0,
        maxPending: 1.5,
        rules: [{ event: "" }, { event: "m", ignore: ["a..b"], tolerance: -1, unordered: "members" }, { event: "n", namespace: "chat" }],
      },
    });
    const paths = problems.map((p) => p.slice(0, p.indexOf(":")));
    assert.deepEqual(paths, [
      "version",
      "key.sources[1]",
      "key.sources[2]",
      "key.sources[4]",
      "key.sources[3]",
      "key.fallback",
      "overrides.enabled",
      "overrides.sources[0]",
      "overrides.trustedNetworks[0]",
      "overrides.trustedNetworks[1]",
      "overrides.trustedNetworks[2]",
      "overrides.trustedNetworks[3]",
      "lists.alwaysHub[1]",
      "lists.neverHub[0]",
      "shadow.percent",
      "shadow.windowMs",
      "shadow.maxPending",
      "shadow.rules[0].event",
      "shadow.rules[1].ignore[0]",
      "shadow.rules[1].tolerance",
      "shadow.rules[1].unordered",
      "shadow.rules[2].namespace",
    ]);
    assert.ok(problems.includes("key.sources[3]: duplicate of key.sources[0]"));
    assert.ok(problems.some((p) => p.startsWith("overrides.trustedNetworks[0]: ") && p.includes("host bits")));
    assert.ok(problems.includes('lists.neverHub[0]: "alice" is also in lists.alwaysHub'));
  });

  it("accepts the documented shadow rule forms", () => {
    const config = valid({
      hubPercent: 0,
      shadow: {
        percent: 12.5,
        windowMs: 2000,
        maxPending: 50,
        rules: [
          { event: "msg", namespace: "/chat", ignore: ["user.lastSeen", "items.*.id"], tolerance: 0.001, unordered: ["members"] },
          { event: "msg", unordered: true },
          { event: "*", ignore: ["ts"] },
        ],
      },
    });
    assert.equal(shadowRuleFor(config.shadow, "/chat", "msg")?.namespace, "/chat");
    assert.equal(shadowRuleFor(config.shadow, "/", "msg")?.unordered, true);
    assert.deepEqual(shadowRuleFor(config.shadow, "/", "other")?.ignore, ["ts"]);
    assert.match(
      problemsOf({ hubPercent: 0, shadow: { rules: [{ event: "a" }, { event: "a" }] } })[0]!,
      /^shadow\.rules\[1\]: duplicate of shadow\.rules\[0\]/,
    );
  });

  it("parses JSON text, refusing non-JSON and non-objects", () => {
    assert.equal(parseRoutingConfig('{"hubPercent": 5}').ok, true);
    const notJson = parseRoutingConfig("{hubPercent: 5}");
    assert.ok(!notJson.ok && notJson.problems[0]!.startsWith("(document): not valid JSON"));
    assert.deepEqual(problemsOf([]), ["(document): must be an object (got an array)"]);
  });

  it("withHubPercent validates and keeps everything else", () => {
    const config = valid(ISSUE_EXAMPLE);
    const next = withHubPercent(config, 55.5);
    assert.equal(next.hubPercent, 55.5);
    assert.deepEqual({ ...next, hubPercent: 30 }, config);
    assert.throws(
      () => withHubPercent(config, 101),
      (error: unknown) =>
        error instanceof RoutingConfigError && error.code === "SWY_ERR_ROUTING_INVALID" && error.problems[0]!.startsWith("hubPercent:"),
    );
  });

  it("describes changes leaf by leaf, ignoring the version", () => {
    const before = valid(ISSUE_EXAMPLE);
    const after = valid({ ...ISSUE_EXAMPLE, version: 8, hubPercent: 50, lists: { alwaysHub: ["x"] } });
    assert.deepEqual(diffRoutingConfigs(before, after), ["hubPercent: 30 → 50", 'lists.alwaysHub: [] → ["x"]']);
    const many = valid({ hubPercent: 0, lists: { neverHub: Array.from({ length: 20 }, (_, i) => `k${i}`) } });
    assert.deepEqual(diffRoutingConfigs(DEFAULT_ROUTING_CONFIG, many), ["lists.neverHub: 0 → 20 entries (+20 −0)"]);
  });
});

describe("ROUTING_CONFIG setting", () => {
  const env = { LEGACY_URL: "http://127.0.0.1:1" };

  it("takes an inline document, validated", () => {
    const config = loadStaticConfig({ ...env, ROUTING_CONFIG: JSON.stringify(ISSUE_EXAMPLE), REDIS_KEY_PREFIX: "swy:{t}:" });
    assert.equal(config.routingConfig?.hubPercent, 30);
    assert.equal(config.redisKeyPrefix, "swy:{t}:");
    assert.equal(loadStaticConfig(env).routingConfig, undefined);
    assert.equal(loadStaticConfig(env).redisKeyPrefix, "switchyard:");
  });

  it("names the routing problem in the configuration error", () => {
    assert.throws(
      () => loadStaticConfig({ ...env, ROUTING_CONFIG: '{"hubPercent": 250}' }),
      (error: unknown) =>
        error instanceof SwitchyardError &&
        error.code === "SWY_ERR_CONFIG_INVALID" &&
        /ROUTING_CONFIG is not a valid routing config: hubPercent: must be a number 0-100/.test(error.message),
    );
    assert.throws(
      () => loadStaticConfig({ ...env, ROUTING_CONFIG: "/nonexistent/routing.json" }),
      /ROUTING_CONFIG must be a JSON document or the path of one/,
    );
  });

  it("validates the shadow URLs", () => {
    const config = loadStaticConfig({ ...env, LEGACY_SHADOW_URL: "http://dark-legacy:3000/", HUB_SHADOW_URL: "ws://hub-shadow:4000" });
    assert.equal(config.legacyShadowUrl, "http://dark-legacy:3000");
    assert.equal(config.hubShadowUrl, "ws://hub-shadow:4000");
    assert.throws(() => loadStaticConfig({ ...env, LEGACY_SHADOW_URL: "ws://x" }), /LEGACY_SHADOW_URL must use http or https/);
  });
});
