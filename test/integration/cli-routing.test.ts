/**
 * The CLI over the whole routing document, run as a child process against a real admin API: the
 * declarative loop (get, diff, apply with If-Match from the file, dry run, edit through $EDITOR, patch),
 * partial changes that never move other fields (shadow, lists, overrides), route explanations, and the
 * saved contexts (login, context) that spare --url and --token.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { ADMIN_TEST_TOKEN, startAdminHarness, type AdminHarness } from "../helpers/admin-harness.js";
import { runCli } from "../helpers/cli-runner.js";

describe("switchyard CLI over the routing document", () => {
  let h: AdminHarness;
  let dir: string;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });
  const setRouting = async (document: Record<string, unknown>) => {
    const current = h.store.current();
    await h.store.update({ ...current, ...document }, current.version);
  };

  before(async () => {
    h = await startAdminHarness(ADMIN_TEST_TOKEN);
    dir = mkdtempSync(join(tmpdir(), "swy-cli-"));
    // Its own config folder: the CLI never reads or writes the user's saved contexts here.
    env = { SWITCHYARD_URL: h.url, SWITCHYARD_TOKEN: ADMIN_TEST_TOKEN, XDG_CONFIG_HOME: join(dir, "config") };
  });
  after(() => h.close());
  beforeEach(() => setRouting({ hubPercent: 30, shadow: { percent: 0, rules: [] }, lists: { alwaysHub: [], neverHub: [] } }));

  it("get routing prints the document as YAML (default) or JSON, with its version", async () => {
    const yaml = await cli(["get", "routing"]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^# The routing document of http:\/\/127\.0\.0\.1:\d+\. Edit it, then: npx switchyard apply -f/);
    assert.deepEqual(parseYaml(yaml.stdout), h.store.current());
    const json = await cli(["get", "routing", "-o", "json"]);
    assert.deepEqual(JSON.parse(json.stdout), h.store.current());
    assert.equal((await cli(["get", "sessions"])).code, 2);
    assert.equal((await cli(["get", "routing", "-o", "xml"])).code, 2);
  });

  it("diff and apply -f: a diff first, If-Match from the file's version, the file's version updated, dry run, conflicts", async () => {
    const file = join(dir, "routing.yaml");
    writeFileSync(file, (await cli(["get", "routing"])).stdout.replace(/^hubPercent: 30$/m, "hubPercent: 45"));
    const read = h.store.current().version;

    const diff = await cli(["diff", "-f", file]);
    assert.equal(diff.code, 1, "diff exits 1 when there are differences");
    assert.match(diff.stdout, /^-hubPercent: 30\n\+hubPercent: 45$/m);
    assert.match(diff.stdout, /^--- http:\/\/127\.0\.0\.1:\d+ \(v\d+\)\n\+\+\+ .*routing\.yaml\n@@ -1,\d+ \+1,\d+ @@/);

    const dryRun = await cli(["apply", "-f", file, "--dry-run"]);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /-hubPercent: 30\n\+hubPercent: 45/);
    assert.match(dryRun.stdout, new RegExp(`dry run: nothing applied; applying would store v${read + 1}`));
    assert.equal(h.store.current().version, read, "a dry run changes nothing");

    const applied = await cli(["apply", "-f", file]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /\+hubPercent: 45/);
    assert.match(
      applied.stdout,
      new RegExp(`applied: routing config v${read} → v${read + 1} \\(.*routing\\.yaml now says version: ${read + 1}\\)`),
    );
    assert.equal(h.store.current().hubPercent, 45);
    assert.match(readFileSync(file, "utf8"), /^# The routing document/, "the file keeps its comments");
    assert.equal((parseYaml(readFileSync(file, "utf8")) as { version: number }).version, read + 1);
    assert.equal((await cli(["diff", "-f", file])).code, 0, "no differences after the apply");
    const again = await cli(["apply", "-f", file]);
    assert.match(again.stdout, /^unchanged: /);

    // Someone else changes the split; applying the file's older view is refused, nothing is overwritten.
    await setRouting({ hubPercent: 5 });
    writeFileSync(file, readFileSync(file, "utf8").replace(/^hubPercent: 45$/m, "hubPercent: 50"));
    const conflict = await cli(["apply", "-f", file]);
    assert.equal(conflict.code, 5, conflict.stderr);
    assert.match(conflict.stderr, /SWY_ERR_ROUTING_CONFLICT/);
    assert.match(conflict.stderr, /is based on v\d+; see what changed with `npx switchyard diff -f /);
    assert.equal(h.store.current().hubPercent, 5);
    const forced = await cli(["apply", "-f", file, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(h.store.current().hubPercent, 50);
  });

  it("apply refuses a file it cannot use before sending anything", async () => {
    const version = h.store.current().version;
    const invalid = join(dir, "invalid.json");
    writeFileSync(invalid, JSON.stringify({ version, hubPercent: 120, shadow: { windowMs: 0 }, colour: "blue" }));
    const refused = await cli(["apply", "-f", invalid]);
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /hubPercent: must be a number 0-100/);
    assert.match(refused.stderr, /shadow\.windowMs:/);
    assert.match(refused.stderr, /colour: unknown key/);
    const unversioned = join(dir, "unversioned.yaml");
    writeFileSync(unversioned, "hubPercent: 10\n");
    const noVersion = await cli(["apply", "-f", unversioned]);
    assert.equal(noVersion.code, 2);
    assert.match(noVersion.stderr, /has no version/);
    assert.equal((await cli(["apply", "-f", join(dir, "missing.yaml")])).code, 6);
    assert.equal(h.store.current().version, version, "nothing was applied");
  });

  it("edit opens $EDITOR, applies a change with If-Match, and cancels when nothing changed", async () => {
    const version = h.store.current().version;
    const edited = await cli(["edit"], { EDITOR: "sed -i 's/^hubPercent: 30$/hubPercent: 35/'" });
    assert.equal(edited.code, 0, edited.stderr);
    assert.match(edited.stdout, /-hubPercent: 30\n\+hubPercent: 35/);
    assert.match(edited.stdout, new RegExp(`applied: routing config v${version} → v${version + 1}`));
    assert.equal(h.store.current().hubPercent, 35);

    const cancelled = await cli(["edit"], { EDITOR: "true" });
    assert.deepEqual([cancelled.code, cancelled.stdout.trim()], [0, "edit cancelled, no changes made"]);
    const invalid = await cli(["edit"], { EDITOR: "sed -i 's/^hubPercent: 35$/hubPercent: 350/'" });
    assert.equal(invalid.code, 6);
    const kept = /your edit is kept in (\S+routing\.yaml)/.exec(invalid.stderr)?.[1];
    assert.ok(kept !== undefined && readFileSync(kept, "utf8").includes("hubPercent: 350"), invalid.stderr);
    assert.equal(h.store.current().version, version + 1);
  });

  it("shadow, lists, overrides and patch change only their fields (a shadow change never resets the split)", async () => {
    await setRouting({ hubPercent: 25 });
    const on = await cli(["shadow", "on"]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^ {2}shadow\.percent: 0 → 100$/m);
    const rule = await cli(["shadow", "rule", "add", "msg", "--ignore", "ts,id"]);
    assert.equal(rule.code, 0, rule.stderr);
    await cli(["shadow", "rule", "add", "backend", "--ignore", "backend"]);
    // Adding a rule for the same event replaces it.
    await cli(["shadow", "rule", "add", "msg", "--ignore", "ts", "--tolerance", "0.5"]);
    let config = h.store.current();
    assert.equal(config.hubPercent, 25, "the split is untouched by shadow changes");
    assert.equal(config.shadow.percent, 100);
    assert.deepEqual(
      config.shadow.rules.map((r) => [r.event, r.ignore, r.tolerance]),
      [
        ["backend", ["backend"], 0],
        ["msg", ["ts"], 0.5],
      ],
    );
    const listed = await cli(["shadow"]);
    assert.match(listed.stdout, /^shadow: 100% of sessions/);
    assert.match(listed.stdout, /^backend\s+\(any\)\s+backend\s+0/m);
    await cli(["shadow", "rule", "remove", "backend"]);
    await cli(["shadow", "percent", "12.5"]);
    const unchanged = await cli(["shadow", "percent", "12.5"]);
    assert.match(unchanged.stdout, /^unchanged: /);

    assert.equal((await cli(["lists", "add", "always-hub", "qa-1", "qa-2"])).code, 0);
    assert.equal((await cli(["lists", "remove", "always-hub", "qa-1"])).code, 0);
    assert.equal((await cli(["overrides", "on"])).code, 0);
    const patched = await cli(["patch", '{"key": {"fallback": "legacy"}}']);
    assert.equal(patched.code, 0, patched.stderr);
    assert.match(patched.stdout, /key\.fallback: "address" → "legacy"/);
    config = h.store.current();
    assert.deepEqual(
      [
        config.hubPercent,
        config.shadow.percent,
        config.shadow.rules.length,
        config.lists.alwaysHub,
        config.overrides.enabled,
        config.key.fallback,
      ],
      [25, 12.5, 1, ["qa-2"], true, "legacy"],
    );
    const [entry] = await h.store.recentAudit(1);
    assert.equal(entry!.action, "routing.patch");
    assert.equal((await cli(["patch", "[1]"])).code, 2);
    assert.equal((await cli(["shadow", "sideways"])).code, 2);
  });

  it("route explains where keys go: alice on the hub and carol on legacy at 50 %, lists first", async () => {
    await setRouting({ hubPercent: 50, lists: { alwaysHub: [], neverHub: ["alice"] } });
    const result = await cli(["route", "alice", "carol"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^alice\s+814\s+legacy\s+lists\.neverHub/m);
    assert.match(result.stdout, /^carol\s+9210\s+legacy\s+bucket 9210 ≥ 5000 \(50%\)/m);
    await setRouting({ lists: { alwaysHub: [], neverHub: [] } });
    assert.match((await cli(["route", "alice"])).stdout, /^alice\s+814\s+hub\s+bucket 814 < 5000 \(50%\)/m);
  });

  it("login saves the gateway as a context, so that commands need neither --url nor --token", async () => {
    const own = { XDG_CONFIG_HOME: join(dir, "login-config") };
    const bare = (args: string[]) => runCli(args, own);
    const wrong = await bare(["login", "--url", h.url, "--token", "not-the-token"]);
    assert.equal(wrong.code, 4, "a refused token is not saved");
    const login = await bare(["login", "--url", h.url, "--token", ADMIN_TEST_TOKEN, "--context", "lab"]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /saved as context "lab"/);
    const file = join(dir, "login-config", "switchyard", "config.yaml");
    assert.equal(statSync(file).mode & 0o777, 0o600, "the file holding tokens is private");

    const split = await bare(["split", "20"]);
    assert.equal(split.code, 0, split.stderr);
    assert.equal(h.store.current().hubPercent, 20);
    const contexts = await bare(["context"]);
    assert.match(contexts.stdout, /^\*\s+lab\s+http:\/\/127\.0\.0\.1:\d+\s+saved$/m);
    // The saved token goes only to its own gateway: another URL gets no token.
    const elsewhere = await runCli(["rollback"], { ...own, SWITCHYARD_URL: "http://127.0.0.1:9" });
    assert.equal(elsewhere.code, 4);
    assert.match(elsewhere.stderr, /needs the admin token/);
    assert.equal((await bare(["context", "nowhere"])).code, 2);
  });
});
