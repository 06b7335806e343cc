/** The rooms settings: BRIDGE follows REDIS_URL, adapter keys are channel prefixes that never overlap. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { SwitchyardError } from "../../src/errors.js";

function problems(env: Record<string, string>): string {
  try {
    loadStaticConfig(env);
  } catch (error) {
    assert.ok(error instanceof SwitchyardError && error.code === "SWY_ERR_CONFIG_INVALID");
    return error.message;
  }
  return assert.fail("expected the configuration to be rejected");
}

describe("rooms settings", () => {
  it("bridges only with REDIS_URL, unless BRIDGE=off", () => {
    assert.equal(loadStaticConfig({}).rooms.bridge, false);
    assert.equal(loadStaticConfig({ REDIS_URL: "redis://r:6379" }).rooms.bridge, true);
    assert.equal(loadStaticConfig({ REDIS_URL: "redis://r:6379", BRIDGE: "off" }).rooms.bridge, false);
    assert.deepEqual(loadStaticConfig({}).rooms, {
      bridge: false,
      adapterKey: "socket.io",
      shadowAdapterKey: "switchyard-shadow",
      maxRooms: 100,
      maxRoomLength: 256,
    });
  });

  it("refuses adapter keys that are not channel prefixes, or that overlap", () => {
    assert.match(problems({ ADAPTER_KEY: "a#b" }), /ADAPTER_KEY must be a non-empty channel prefix/);
    assert.match(problems({ SHADOW_ADAPTER_KEY: "s*" }), /SHADOW_ADAPTER_KEY must be/);
    // A legacy node subscribes to `socket.io-request#…`: a shadow key "socket.io-request" would be heard.
    assert.match(problems({ SHADOW_ADAPTER_KEY: "socket.io-request" }), /must not overlap/);
    assert.match(problems({ ADAPTER_KEY: "app", SHADOW_ADAPTER_KEY: "app" }), /must not overlap/);
    assert.match(problems({ ROOMS_PER_FRAME_LIMIT: "0" }), /ROOMS_PER_FRAME_LIMIT/);
    assert.equal(
      loadStaticConfig({ ADAPTER_KEY: "chat", SHADOW_ADAPTER_KEY: "chat-shadow-x".replace("chat-", "dark-") }).rooms.shadowAdapterKey,
      "dark-shadow-x",
    );
  });
});
