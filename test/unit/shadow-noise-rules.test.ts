import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ShadowConfig } from "../../src/config/shadow-config.js";
import { NO_RULE, ruleFor } from "../../src/shadow/noise-rules.js";

describe("shadow noise: rules", () => {
  const config: ShadowConfig = {
    percent: 100,
    windowMs: 5000,
    maxPending: 100,
    rules: [
      { event: "msg", ignore: ["ts"], tolerance: 0, unordered: false },
      { event: "msg", namespace: "/chat", ignore: ["id"], tolerance: 0, unordered: false },
      { event: "*", ignore: ["ts", "id"], tolerance: 0, unordered: false },
    ],
  };

  it("picks the namespace rule, then the any-namespace rule, then *", () => {
    assert.equal(ruleFor(config, "/chat", "msg").source, config.rules[1]);
    assert.equal(ruleFor(config, "/", "msg").source, config.rules[0]);
    assert.equal(ruleFor(config, "/", "typing").source, config.rules[2]);
    assert.equal(ruleFor(config, "/", "typing"), ruleFor(config, "/", "typing"), "cached");
  });

  it("never applies * to the lifecycle pseudo-events", () => {
    assert.equal(ruleFor(config, "/", "$connect_error"), NO_RULE);
    const named: ShadowConfig = {
      ...config,
      rules: [...config.rules, { event: "$connect_error", ignore: ["data"], tolerance: 0, unordered: false }],
    };
    assert.equal(ruleFor(named, "/", "$connect_error").source?.event, "$connect_error");
  });
});
