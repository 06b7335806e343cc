/**
 * The `switchyard` CLI, run as a child process (through tsx) against a real admin API.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RoutingUpdate } from "../../src/store/routing-store.js";
import { ADMIN_TEST_TOKEN, startAdminHarness, type AdminHarness } from "../helpers/admin-harness.js";
import { runCli as cli } from "../helpers/cli-runner.js";
import { eventually } from "../helpers/eventually.js";
import { freePort as closedPort } from "../helpers/ports.js";

describe("switchyard CLI", () => {
  let h: AdminHarness;
  let env: Record<string, string>;
  before(async () => {
    h = await startAdminHarness(ADMIN_TEST_TOKEN);
    env = { SWITCHYARD_URL: h.url, SWITCHYARD_TOKEN: ADMIN_TEST_TOKEN };
  });
  after(() => h.close());

  it("status shows the routing config and the sessions per instance", async () => {
    h.gateway.add("legacy", "websocket", 3);
    h.gateway.add("hub", "polling", 2);
    const result = await cli(["status"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /routing config v0: 0% of keys on the hub/);
    assert.match(result.stdout, /sessions: legacy 3 \(0 polling, 3 ws\) · hub 2 \(2 polling, 0 ws\)/);
    assert.match(result.stdout, /INSTANCE\s+APPLIED\s+LEGACY poll\/ws\s+HUB poll\/ws/);
    assert.match(result.stdout, /gw-1\s+v0\s+0\/3\s+2\/0\s+connected/);
    const json = await cli(["status", "--json", "--url", h.url], { SWITCHYARD_TOKEN: ADMIN_TEST_TOKEN });
    assert.equal(json.code, 0);
    assert.equal(JSON.parse(json.stdout).routing.version, 0);
  });

  it("split reads the config and writes it back with If-Match", async () => {
    const before = h.store.current().version;
    const result = await cli(["split", "12.5"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`hubPercent 0% → 12.5% \\(config v${before} → v${before + 1}\\)`));
    assert.equal(h.store.current().hubPercent, 12.5);
    const [entry] = await h.store.recentAudit(1);
    assert.match(entry!.actor.identity, /\(switchyard-cli\)$/);
  });

  it("split retries once on a version conflict, and reports a second one", async () => {
    const realUpdate = h.store.update.bind(h.store);
    let interferences = 1;
    // Another operator changes the config between the CLI's GET and each of its PUTs.
    h.store.update = async (document: unknown, expected: number): Promise<RoutingUpdate> => {
      if (interferences-- > 0) await realUpdate({ ...h.store.current(), hubPercent: 1 }, h.store.current().version);
      return realUpdate(document, expected);
    };
    try {
      const retried = await cli(["split", "20"], env);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(h.store.current().hubPercent, 20);
      interferences = 2;
      const conflicted = await cli(["split", "30"], env);
      assert.equal(conflicted.code, 5);
      assert.match(conflicted.stderr, /the routing config was changed by someone else meanwhile \(SWY_ERR_ROUTING_CONFLICT\)/);
      assert.equal(h.store.current().hubPercent, 1);
    } finally {
      h.store.update = realUpdate;
    }
  });

  it("drain and rollback report what they will close", async () => {
    h.gateway.add("hub", "websocket", 18);
    const drain = await cli(["drain", "hub", "--percent", "50"], env);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(
      drain.stdout,
      /draining 50% of hub sessions on 1 instance\(s\): about 10 will be closed, at most 5 every 20 ms per instance/,
    );
    await eventually(() => h.gateway.count("hub") === 10, "the drain to finish");

    const rollback = await cli(["rollback"], env);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, /rolled back: hubPercent 0% \(config v\d+\)/);
    assert.match(rollback.stdout, /about 10 will be closed/);
    await eventually(() => h.gateway.count("hub") === 0, "the hub to be drained");
    assert.equal(h.store.current().hubPercent, 0);
  });

  it("watch refreshes a table per instance", async () => {
    const result = await cli(["watch", "--interval", "0.1", "--count", "2"], env);
    assert.equal(result.code, 0, result.stderr);
    const tables = result.stdout.split("\n").filter((line) => line.startsWith("INSTANCE"));
    assert.equal(tables.length, 2);
    assert.match(result.stdout, new RegExp(`desired v${h.store.current().version} \\(hubPercent 0%\\)  store memory`));
    assert.match(result.stdout, new RegExp(`gw-1\\s+v${h.store.current().version}\\s+0/3`));
  });

  it("gives readable errors with distinct exit codes", async () => {
    const version = h.store.current().version;
    const wrongToken = await cli(["split", "5", "--token", "not-the-token"], { SWITCHYARD_URL: h.url });
    assert.deepEqual(
      [wrongToken.code, wrongToken.stderr.trim()],
      [
        4,
        "switchyard: the token was refused (SWY_ERR_ADMIN_UNAUTHORIZED): check --token or " +
          "SWITCHYARD_TOKEN against the gateway's ADMIN_TOKEN",
      ],
    );
    const noToken = await cli(["rollback"], { SWITCHYARD_URL: h.url });
    assert.equal(noToken.code, 4);
    assert.match(noToken.stderr, /needs the admin token: pass --token or set SWITCHYARD_TOKEN/);

    const port = await closedPort();
    const unreachable = await cli(["status", "--url", `http://127.0.0.1:${port}`], { SWITCHYARD_TOKEN: ADMIN_TEST_TOKEN });
    assert.equal(unreachable.code, 3);
    assert.equal(
      unreachable.stderr.trim(),
      `switchyard: cannot reach the admin API at http://127.0.0.1:${port} ` +
        `(connection refused); check --url or SWITCHYARD_URL (the gateway's OPS_PORT)`,
    );

    for (const args of [
      ["split", "150"],
      ["split", "1.234"],
      ["drain", "somewhere"],
      ["drain", "hub", "--percent", "0"],
      ["frobnicate"],
      ["status", "--bogus"],
      ["status", "--percent", "3"],
      ["rollback", "now"],
      [],
    ]) {
      const usage = await cli(args, env);
      assert.equal(usage.code, 2, `${args.join(" ")}: ${usage.stderr}`);
    }
    assert.equal(h.store.current().version, version, "no failed command changed anything");
  });

  it("lists every command in --help, and prints one command's usage and options with <command> --help", async () => {
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    for (const command of [
      "status",
      "watch",
      "split",
      "drain",
      "rollback",
      "route",
      "shadow",
      "diffs",
      "get",
      "diff",
      "apply",
      "edit",
      "patch",
      "login",
    ])
      assert.match(help.stdout, new RegExp(`^  ${command} `, "m"));
    const drain = await cli(["drain", "--help"]);
    assert.equal(drain.code, 0);
    assert.match(drain.stdout, /^usage: npx switchyard drain <hub\|legacy> \[--percent N\]/);
    assert.match(drain.stdout, /--percent N/);
    assert.doesNotMatch(drain.stdout, /--limit/);
    assert.equal((await cli(["help", "drain"])).stdout, drain.stdout);
  });

  it("explains that admin changes are disabled when the gateway has no ADMIN_TOKEN", async () => {
    const open = await startAdminHarness(undefined);
    try {
      const result = await cli(["split", "10", "--url", open.url, "--token", "anything-at-all"]);
      assert.equal(result.code, 4);
      assert.match(result.stderr, /admin changes are disabled on this gateway \(SWY_ERR_ADMIN_DISABLED\)/);
    } finally {
      await open.close();
    }
  });
});
