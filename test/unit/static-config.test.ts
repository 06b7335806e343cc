import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SETTINGS } from "../../src/config/settings.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { SwitchyardError } from "../../src/errors.js";
import { CONFIG_PAGE, renderConfigTable, tableIn } from "../../scripts/config-table.js";

function problemsOf(env: Record<string, string>): string {
  try {
    loadStaticConfig(env);
  } catch (error) {
    assert.ok(error instanceof SwitchyardError);
    assert.equal(error.code, "SWY_ERR_CONFIG_INVALID");
    return error.message;
  }
  assert.fail("expected the configuration to be rejected");
}

describe("static configuration", () => {
  it("applies the named defaults when nothing is set", () => {
    const config = loadStaticConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.opsPort, 9464);
    assert.equal(config.legacyUrl, undefined);
    assert.equal(config.logLevel, "info");
    assert.equal(config.socketIoPath, "/socket.io/");
    assert.equal(config.legacyMode, "pipe");
    assert.equal(config.handshake.pingIntervalMs, undefined);
    assert.equal(config.cors, undefined);
    assert.equal(config.cookie, undefined);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.limits));
  });

  it("parses every kind of value", () => {
    const config = loadStaticConfig({
      PORT: "8080",
      LEGACY_URL: "http://legacy:4000/",
      HUB_URL: "ws://hub:4100/ws",
      REDIS_URL: "redis://redis:6379",
      ADMIN_TOKEN: "0123456789abcdef0123",
      LOG_LEVEL: "debug",
      PING_INTERVAL_MS: "1000",
      CORS_ORIGIN: "https://a.example, https://b.example",
      CORS_CREDENTIALS: "yes",
      COOKIE_NAME: "io",
      TRUST_PROXY: "true",
      FORWARD_HEADERS: "X-Request-Id,x-tenant",
      LEGACY_MODE: "terminate",
    });
    assert.equal(config.port, 8080);
    assert.equal(config.legacyUrl, "http://legacy:4000", "a trailing slash is dropped");
    assert.equal(config.hubUrl, "ws://hub:4100/ws");
    assert.equal(config.handshake.pingIntervalMs, 1000);
    assert.deepEqual(config.cors, { origin: ["https://a.example", "https://b.example"], credentials: true });
    assert.deepEqual(config.cookie, { name: "io", path: "/", sameSite: "lax", secure: false });
    assert.deepEqual(config.forwardHeaders, ["x-request-id", "x-tenant"]);
    assert.equal(config.legacyMode, "terminate");
    assert.equal(config.trustProxy, true);
  });

  it("names every bad setting in one error", () => {
    const message = problemsOf({ PORT: "abc", LEGACY_URL: "ftp://x", LOG_LEVEL: "loud", ADMIN_TOKEN: "short", PING_TIMEOUT_MS: "-5" });
    assert.match(message, /PORT must be an integer between 0 and 65535 \(got "abc"\)/);
    assert.match(message, /LEGACY_URL must use http or https/);
    assert.match(message, /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
    assert.match(message, /ADMIN_TOKEN must be at least 16 characters long/);
    assert.match(message, /PING_TIMEOUT_MS must be an integer/);
  });

  it("rejects inconsistent settings", () => {
    assert.match(problemsOf({ PORT: "9000", OPS_PORT: "9000" }), /OPS_PORT must differ from PORT/);
    assert.match(problemsOf({ CLIENT_BUFFER_HIGH_WATER: "100", CLIENT_BUFFER_LIMIT: "10" }), /CLIENT_BUFFER_HIGH_WATER must not exceed/);
    assert.match(problemsOf({ SOCKETIO_PATH: "socket.io" }), /SOCKETIO_PATH must be an absolute path/);
  });

  it("reads WORKERS as a count or auto, and refuses more than one without REDIS_URL", () => {
    assert.equal(loadStaticConfig({}).workers, 1);
    assert.equal(loadStaticConfig({ WORKERS: "3", REDIS_URL: "redis://127.0.0.1:6379" }).workers, 3);
    assert.equal(loadStaticConfig({ WORKERS: "auto", REDIS_URL: "redis://127.0.0.1:6379" }).workers, availableParallelism());
    assert.match(problemsOf({ WORKERS: "0" }), /WORKERS must be an integer between 1 and 1024/);
    assert.match(problemsOf({ WORKERS: "two" }), /WORKERS must be an integer/);
    assert.match(problemsOf({ WORKERS: "2" }), /WORKERS=2 needs REDIS_URL/);
  });

  it("reads a JSON or YAML file, with the environment winning", () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-config-"));
    const json = join(dir, "switchyard.json");
    writeFileSync(json, JSON.stringify({ PORT: 4001, LOG_LEVEL: "warn", FORWARD_HEADERS: ["x-a", "x-b"] }));
    const fromJson = loadStaticConfig({ SWITCHYARD_CONFIG: json, LOG_LEVEL: "error" });
    assert.equal(fromJson.port, 4001);
    assert.equal(fromJson.logLevel, "error");
    assert.deepEqual(fromJson.forwardHeaders, ["x-a", "x-b"]);
    const yaml = join(dir, "switchyard.yaml");
    writeFileSync(yaml, "PORT: 4002\nTRUST_PROXY: true\n");
    const fromYaml = loadStaticConfig({ SWITCHYARD_CONFIG: yaml });
    assert.equal(fromYaml.port, 4002);
    assert.equal(fromYaml.trustProxy, true);
  });

  it("reports unknown keys and unreadable files", () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-config-"));
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ PORTT: 1 }));
    assert.match(problemsOf({ SWITCHYARD_CONFIG: file }), /PORTT: unknown setting/);
    writeFileSync(file, "{not json");
    assert.match(problemsOf({ SWITCHYARD_CONFIG: file }), /is not valid JSON/);
    assert.match(problemsOf({ SWITCHYARD_CONFIG: join(dir, "missing.json") }), /cannot read/);
  });

  it("documents every setting in docs/configuration.md, exactly as settings.ts declares it", () => {
    const page = readFileSync(CONFIG_PAGE, "utf8");
    const table = tableIn(page);
    assert.ok(table !== undefined, "docs/configuration.md keeps the generated table between its markers");
    for (const name of Object.keys(SETTINGS)) {
      assert.match(
        table,
        new RegExp(`^\\| \`${name}\` \\|`, "m"),
        `docs/configuration.md lacks a row for ${name}: run \`npm run docs:config\``,
      );
    }
    assert.equal(table, renderConfigTable(), "docs/configuration.md is out of date with src/config/settings.ts: run `npm run docs:config`");
  });
});
