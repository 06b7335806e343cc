/**
 * The README's "Your first migration", run as a new operator runs it: every shell block of the section, in
 * order, verbatim, each in a fresh `bash -e` in a fresh copy of the checkout; the first one (`npm start`)
 * in the background as "the first terminal". Real Chromium pages play the two browser windows the text
 * asks for (alice and carol) at the moments it asks. What the text promises is checked after each block.
 *
 * The test's environment differs from a reader's in what must not collide with other runs on this
 * machine: PORT/OPS_PORT 0 (free ports; the CLI finds the gateway through the context `npm start` saves),
 * its own CLI config folder and npm cache, and random Redis key prefixes and adapter keys.
 *
 * Screenshots of the pages and of `watch` are taken from this run; `npm run docs:screenshots` writes them
 * into docs/images/ (SCREENSHOTS_DIR), otherwise they go to a temporary folder.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { Browser } from "playwright-core";
import { parse as parseYaml } from "yaml";
import { launchChromium, openPage, waitInPage, type TestPage } from "../helpers/browser.js";
import { copyCheckout, processesIn, REPO_ROOT, type Checkout } from "../helpers/checkout.js";
import { eventually } from "../helpers/eventually.js";
import { reapOnExit } from "../helpers/reap.js";
import { renderTerminal } from "../helpers/terminal-shot.js";

const SECTION = "## Your first migration";
const REDIS_URL = "redis://127.0.0.1:6379";

/** The shell blocks of the README's walkthrough section, in order. */
export function walkthroughBlocks(readme: string): string[] {
  const start = readme.indexOf(SECTION);
  assert.ok(start >= 0, `README.md has a "${SECTION}" section`);
  const next = readme.indexOf("\n## ", start + SECTION.length);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!.trim());
}

interface Shell {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe("the README walkthrough, pasted block by block", { timeout: 600_000 }, () => {
  const blocks = walkthroughBlocks(readFileSync(join(REPO_ROOT, "README.md"), "utf8"));
  const prefix = `swy-readme-${randomUUID().slice(0, 8)}:`;
  const home = mkdtempSync(join(tmpdir(), "swy-readme-"));
  const shots = process.env.SCREENSHOTS_DIR === undefined ? join(home, "shots") : resolveFromRepo(process.env.SCREENSHOTS_DIR);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    OPS_PORT: "0",
    LOG_LEVEL: "info",
    XDG_CONFIG_HOME: join(home, "config"),
    npm_config_cache: join(home, "npm-cache"),
    REDIS_KEY_PREFIX: prefix,
    ADAPTER_KEY: `${prefix}adapter`,
    SHADOW_ADAPTER_KEY: `${prefix}shadow-adapter`,
    DRAIN_TIMEOUT_MS: "4000",
  };
  let checkout: Checkout;
  let browser: Browser;
  let gateway: ChildProcess | undefined;
  let gatewayExit: Promise<unknown> | undefined;
  let url = "";
  let opsUrl = "";
  const users: Record<"alice" | "carol", TestPage | undefined> = { alice: undefined, carol: undefined };

  function resolveFromRepo(path: string): string {
    return isAbsolute(path) ? path : join(REPO_ROOT, path);
  }

  async function shell(block: string): Promise<Shell> {
    const child = spawn("bash", ["-e", "-o", "pipefail", "-c", block], { cwd: checkout.dir, env, stdio: ["ignore", "pipe", "pipe"] });
    reapOnExit(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    return { code, stdout, stderr };
  }

  /** Runs block `index`, which must contain `marker`, and requires it to succeed. */
  async function run(index: number, marker: string): Promise<string> {
    const block = blocks[index] ?? "";
    assert.ok(block.includes(marker), `block ${index + 1} of the walkthrough is the one with "${marker}": ${block}`);
    const result = await shell(block);
    assert.equal(result.code, 0, `block ${index + 1} failed:\n${block}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    return result.stdout;
  }

  async function admin<T>(path: string): Promise<T> {
    const config = parseYaml(readFileSync(join(home, "config", "switchyard", "config.yaml"), "utf8")) as {
      contexts: Record<string, { token: string }>;
    };
    const response = await fetch(`${opsUrl}${path}`, { headers: { authorization: `Bearer ${config.contexts.local!.token}` } });
    assert.equal(response.status, 200, path);
    return (await response.json()) as T;
  }

  async function metricTotal(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${opsUrl}/metrics`)).text();
    return text
      .split("\n")
      .filter((line) => line.startsWith(`${name}{`) && labels.split(",").every((label) => line.includes(label)))
      .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
  }

  async function openUser(name: "alice" | "carol"): Promise<TestPage> {
    const user = await openPage(browser, name);
    await user.page.setViewportSize({ width: 720, height: 280 });
    await user.page.goto(`${url}/?user=${name}`);
    users[name] = user;
    return user;
  }

  const badge = (user: TestPage, backend: string) =>
    waitInPage(user, `the badge "backend: ${backend}"`, `document.getElementById("backend").textContent === "backend: ${backend}"`);

  async function joinRoom(user: TestPage): Promise<void> {
    if (await user.page.evaluate("document.body.dataset.room === 'lobby'")) return;
    await user.page.click("#join");
    await waitInPage(user, "the join ack", `document.body.dataset.room === "lobby" && !document.getElementById("text").disabled`);
  }

  async function joinAndSay(user: TestPage, text: string): Promise<void> {
    await joinRoom(user);
    await user.page.fill("#text", text);
    await user.page.click("#send");
    await waitInPage(user, "the msg ack", `document.getElementById("text").value === ""`);
  }

  async function reload(user: TestPage, backend: string): Promise<void> {
    await user.page.reload();
    await badge(user, backend);
  }

  before(async () => {
    checkout = copyCheckout();
    browser = await launchChromium();
  });

  after(async () => {
    for (const user of Object.values(users)) await user?.context.close();
    await browser?.close();
    if (gateway?.exitCode === null) gateway.kill("SIGKILL");
    for (const leftover of checkout === undefined ? [] : processesIn(checkout.dir)) process.kill(leftover.pid, "SIGKILL");
    checkout?.remove();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(home, { recursive: true, force: true });
  });

  it("1. Start: npm start (with Redis) serves both users on legacy and configures the CLI", async () => {
    assert.ok(blocks.length >= 8, `the walkthrough has its blocks (found ${blocks.length})`);
    assert.match(blocks[0]!, /npm start/);
    // The first terminal: the block runs until stopped, in its own process group like a terminal's job.
    gateway = spawn("bash", ["-e", "-c", blocks[0]!], { cwd: checkout.dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    reapOnExit(gateway);
    gatewayExit = once(gateway, "exit");
    let banner = "";
    gateway.stderr!.on("data", (chunk: Buffer) => (banner += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      void gatewayExit!.then(() => reject(new Error(`npm start exited:\n${banner}`)));
      createInterface({ input: gateway!.stdout! }).on("line", (line) => {
        if (!line.startsWith("{")) return;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg !== "switchyard listening") return;
        url = String(entry.url);
        opsUrl = String(entry.ops);
        resolve();
      });
    });
    await eventually(() => banner.includes("npx switchyard split 50"), "the start-up banner");
    assert.match(banner, new RegExp(`${url.replace(/\./g, "\\.")}/\\?user=alice`));
    assert.match(banner, /The CLI talks to this gateway \(context "local" saved in /);
    assert.match(banner, /At 50%, alice is on the hub and carol on legacy\./);

    const alice = await openUser("alice");
    const carol = await openUser("carol");
    await Promise.all([badge(alice, "legacy"), badge(carol, "legacy")]);
    await joinAndSay(alice, "hello from alice");
    await joinAndSay(carol, "hi alice, carol here");
  });

  it("2. Look: status and route", async () => {
    const out = await run(1, "npx switchyard route alice carol");
    assert.match(out, /^Status: ✔ Healthy/m);
    assert.match(out, /routing config v\d+: 0% of keys on the hub/);
    assert.match(out, /sessions: legacy 2 /);
    assert.match(out, /^alice\s+814\s+legacy/m);
    assert.match(out, /^carol\s+9210\s+legacy/m);
  });

  it("3. Shadow: the diffs show the expected differences, and the sample's noise rules silence them", async () => {
    await run(2, "npx switchyard shadow on");
    // "reload both pages and say something"
    await reload(users.alice!, "legacy");
    await reload(users.carol!, "legacy");
    await joinRoom(users.carol!);
    await joinAndSay(users.alice!, "shadowed now");
    await eventually(
      async () =>
        (await admin<{ entries: { event: string }[] }>("/admin/shadow/diffs?limit=100")).entries.some((e) => e.event === "backend"),
      "the backend answers to be compared",
      20_000,
    );
    const out = await run(3, "npx switchyard diffs");
    assert.match(out, /compared: +\d+ deliveries, match \d+\.\d% · mismatch [1-9]/);
    assert.match(out, /ack \d+ of backend on \//);
    assert.ok(out.includes('$[0].backend: primary "legacy"  shadow "hub"'), out);

    const rules = await run(4, "npx switchyard patch -f examples/shadow-rules.yaml");
    assert.match(rules, /^backend\s+\(any\)\s+backend/m);
    assert.match(rules, /^history\s+\(any\)\s+\*\.ts, \*\.id/m);
    assert.match(rules, /^join\s+\(any\)\s+members/m);
    const before = (await admin<{ entries: unknown[] }>("/admin/shadow/diffs?limit=1000")).entries.length;
    const matched = await metricTotal("switchyard_shadow_comparisons_total", 'result="match",event="msg"');
    await reload(users.alice!, "legacy");
    await reload(users.carol!, "legacy");
    await joinRoom(users.alice!);
    await joinAndSay(users.carol!, "all quiet now");
    // The message reaches both users; both comparisons match (each session's earlier events were compared first).
    await eventually(
      async () => (await metricTotal("switchyard_shadow_comparisons_total", 'result="match",event="msg"')) >= matched + 2,
      "the new message to match on both sessions",
      20_000,
    );
    const afterRules = (await admin<{ entries: unknown[] }>("/admin/shadow/diffs?limit=1000")).entries;
    assert.equal(
      afterRules.length,
      before,
      `no new mismatch once the rules are in: ${JSON.stringify(afterRules.slice(0, afterRules.length - before))}`,
    );
  });

  it("4. Split, declaratively: get | sed > routing.yaml, apply --dry-run, apply", async () => {
    const out = await run(5, "npx switchyard apply -f routing.yaml");
    assert.match(out, /^-hubPercent: 0\n\+hubPercent: 50$/m);
    assert.match(out, /dry run: nothing applied; applying would store v\d+/);
    assert.match(out, /applied: routing config v\d+ → v\d+ \(routing\.yaml now says version: \d+\)/);
    assert.equal((parseYaml(readFileSync(join(checkout.dir, "routing.yaml"), "utf8")) as { hubPercent: number }).hubPercent, 50);
  });

  it("5. Drain and watch: alice's page moves to the hub, carol's stays on legacy", async () => {
    const out = await run(6, "npx switchyard watch --count 3");
    assert.match(out, /draining 100% of legacy sessions/);
    assert.equal(out.split("\n").filter((line) => line.startsWith("INSTANCE  APPLIED")).length, 3, "three refreshes of the table");
    await badge(users.alice!, "hub");
    await badge(users.carol!, "legacy");
    await joinAndSay(users.alice!, "said on the hub");
    // "still chat live in one room": each hears the other as it happens, across the two backends.
    await joinAndSay(users.carol!, "heard you on legacy");
    const shows = (text: string) => `[...document.querySelectorAll("#messages .text")].some((e) => e.textContent === "${text}")`;
    await waitInPage(users.carol!, "alice's hub message, live", shows("said on the hub"));
    await waitInPage(users.alice!, "carol's legacy message, live", shows("heard you on legacy"));

    mkdirSync(shots, { recursive: true });
    await users.alice!.page.screenshot({ path: join(shots, "chat-alice-hub.png") });
    await users.carol!.page.screenshot({ path: join(shots, "chat-carol-legacy.png") });
    const frame = await shell("npx switchyard watch --count 1");
    assert.equal(frame.code, 0, frame.stderr);
    assert.match(frame.stdout, /^\S+\s+v\d+\s+\d+\/\d+\s+\d+\/[1-9]/m, `one session on the hub:\n${frame.stdout}`);
    await renderTerminal(browser, "npx switchyard watch", frame.stdout, join(shots, "cli-watch.png"));
    for (const name of ["chat-alice-hub.png", "chat-carol-legacy.png", "cli-watch.png"])
      assert.ok(statSync(join(shots, name)).size > 5_000, `${name} is a real picture`);
  });

  it("6. Roll back: alice is back on legacy and what she said on the hub is still there", async () => {
    const out = await run(7, "npx switchyard rollback");
    assert.match(out, /rolled back: hubPercent 0%/);
    assert.match(out, /routing config v\d+: 0% of keys on the hub/);
    await badge(users.alice!, "legacy");
    // The page joins its room again on reconnecting, and shows the room's history.
    await waitInPage(
      users.alice!,
      "her hub message in the history",
      `[...document.querySelectorAll("#messages .text")].some((e) => e.textContent === "said on the hub")`,
    );
    assert.equal(blocks.length, 8, "every block of the walkthrough was run");
  });

  it("Ctrl-C in the first terminal stops everything", async () => {
    assert.ok(gateway !== undefined && gatewayExit !== undefined);
    process.kill(-gateway.pid!, "SIGINT");
    const [code] = (await gatewayExit) as [number | null];
    assert.equal(code, 0);
    await eventually(() => processesIn(checkout.dir).length === 0, "nothing of the checkout left running", 10_000);
  });
});
