/**
 * `npm start` behaves as a process, in a fresh checkout built once: a signal to npm reaches the gateway
 * (which drains and exits), Ctrl-C in a terminal (SIGINT to the whole process group, which npm forwards a
 * second time) drains once, the gateway's exit code is npm's, and nothing started from the checkout keeps
 * running afterwards (no orphan `node dist/src/main.js`, no sample backend).
 */
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { connected, createClient, waitFor } from "../helpers/clients.js";
import { copyCheckout, processesIn, spawnNpmGroup, type Checkout } from "../helpers/checkout.js";
import { eventually } from "../helpers/eventually.js";

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly opsUrl: string;
  /** What it printed on stderr (the start-up banner) until it was listening. */
  readonly banner: () => string;
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Folders of this test's own: the demo saves its CLI context there, and npx keeps its cache there, not in the user's. */
const OWN_HOME = mkdtempSync(join(tmpdir(), "swy-npm-start-"));

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // PORT/OPS_PORT 0: never the fixed ports other people's `npm start` may use on this machine.
  return {
    ...process.env,
    XDG_CONFIG_HOME: join(OWN_HOME, "config"),
    npm_config_cache: join(OWN_HOME, "npm-cache"),
    PORT: "0",
    OPS_PORT: "0",
    HOST: "127.0.0.1",
    OPS_HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    DRAIN_TIMEOUT_MS: "4000",
    ...extra,
  };
}

/** `npm start` without its build step (the checkout was built once in before()), up to "switchyard listening". */
async function npmStart(checkout: Checkout): Promise<Started> {
  const child = spawnNpmGroup(checkout, ["start", "--ignore-scripts"], env());
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    void exited.then(({ code }) => reject(new Error(`npm start exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === "switchyard listening") resolve(entry);
    });
  });
  return { child, url: String(listening.url), opsUrl: String(listening.ops), banner: () => stderr, logs, exited };
}

describe("npm start as a process", { timeout: 300_000 }, () => {
  let checkout: Checkout;
  before(async () => {
    checkout = copyCheckout();
    const build = await checkout.npm(["run", "build"]);
    assert.equal(build.code, 0, build.output);
  });
  after(() => {
    // A failed test may leave what it started running: end those processes (by id) before removing the folder.
    for (const leftover of checkout === undefined ? [] : processesIn(checkout.dir)) process.kill(leftover.pid, "SIGKILL");
    checkout?.remove();
    rmSync(OWN_HOME, { recursive: true, force: true });
  });

  it("SIGTERM to npm reaches the gateway: its clients are drained, it exits 0, and nothing is left running", async () => {
    const started = await npmStart(checkout);
    const running = processesIn(checkout.dir).map((p) => p.args);
    assert.ok(
      running.some((args) => args.includes("dist/src/main.js")),
      `the gateway runs from the checkout: ${running.join(" | ")}`,
    );
    assert.equal(running.filter((args) => args.includes("dist/examples/")).length, 2, "and the two sample backends");
    const client = createClient("4", started.url, "/", { transport: "websocket" });
    try {
      await connected(client);
      const disconnected = waitFor<string>(client, "disconnect", 10_000);
      started.child.kill("SIGTERM");
      assert.equal(await disconnected, "transport close", "the client was drained (a reconnectable close)");
      assert.deepEqual(await started.exited, { code: 0, signal: null });
      assert.ok(started.logs.some((entry) => entry.msg === "drained; bye"));
      await eventually(() => processesIn(checkout.dir).length === 0, "no process of the checkout left", 10_000);
    } finally {
      client.close();
    }
  });

  it("Ctrl-C (SIGINT to the process group, and again from npm) drains once and exits 0", async () => {
    const started = await npmStart(checkout);
    process.kill(-started.child.pid!, "SIGINT");
    assert.deepEqual(await started.exited, { code: 0, signal: null });
    assert.equal(started.logs.filter((entry) => entry.msg === "draining").length, 1);
    assert.ok(
      started.logs.some((entry) => entry.msg === "drained; bye"),
      "it finished its drain instead of dying on the second SIGINT",
    );
    await eventually(() => processesIn(checkout.dir).length === 0, "no process of the checkout left", 10_000);
  });

  it("prints a start-up banner whose commands work as printed, in another shell, with no token or URL to add", async () => {
    const started = await npmStart(checkout);
    try {
      await eventually(() => started.banner().includes("Stop with Ctrl-C"), "the banner");
      const commands = started
        .banner()
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line.startsWith("npx switchyard "));
      assert.deepEqual(commands, ["npx switchyard status", "npx switchyard split 50"]);
      for (const command of commands) {
        const shell = spawnSync("bash", ["-e", "-c", command], { cwd: checkout.dir, env: env(), encoding: "utf8", timeout: 60_000 });
        assert.equal(shell.status, 0, `${command}:\n${shell.stdout}${shell.stderr}`);
      }
      const routing = (await (await fetch(`${started.opsUrl}/admin/routing`)).json()) as { hubPercent: number };
      assert.equal(routing.hubPercent, 50, "the banner's split 50 was applied");
    } finally {
      started.child.kill("SIGTERM");
      await started.exited;
    }
  });

  it("passes the gateway's exit code through: an invalid setting exits npm start with 78", async () => {
    const result = await checkout.npm(["start", "--ignore-scripts"], env({ PORT: "not-a-port" }));
    assert.equal(result.code, 78, result.output);
    assert.match(result.output, /PORT must be an integer between 0 and 65535 \(got "not-a-port"\)/);
  });
});
