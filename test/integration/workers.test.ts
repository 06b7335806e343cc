/**
 * WORKERS=2 (issue 14): one instance of two real worker processes sharing its client port, in front of the sample
 * legacy chat and the sample hub, on the shared Redis. Real clients of every generation over polling, WebSocket and
 * polling → upgrade chat on the hub route, the terminated legacy route and the pipe route, and every message is
 * delivered exactly once, wherever their requests land (a session's requests that reach the other worker are
 * forwarded to its owner's own port). The instance is driven and observed through its primary's ops listener only:
 * a routing PATCH reaches every worker, /metrics is the instance's sum, a killed worker is restarted and counted
 * while the other's clients carry on, SIGTERM drains every worker and exits 0; WORKERS=2 without Redis exits 78.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  connected,
  createClient,
  emitWithAck,
  waitFor,
  type AnySocket,
  type ClientVersion,
  type TransportMode,
} from "../helpers/clients.js";
import {
  deleteKeys,
  SHARED_REDIS_URL,
  startBackends,
  startCluster,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { spawnGateway } from "../helpers/process.js";
import { parseMetrics } from "../helpers/shadow-probe.js";

const VERSIONS: readonly ClientVersion[] = ["2", "3", "4"];
const MODES: readonly TransportMode[] = ["polling", "websocket", "upgrade"];
const MESSAGES_EACH = 3;
const WAIT_MS = 20_000;

interface ChatMessage {
  readonly text: string;
}

/** Opens one client per generation and transport, all in `room`; resolves once each is connected and joined. */
async function openRoom(url: string, label: string, room: string): Promise<AnySocket[]> {
  const combos = VERSIONS.flatMap((version) => MODES.map((mode) => [version, mode] as const));
  const sockets = combos.map(([version, transport], i) =>
    createClient(version, url, "/", { transport, query: { name: `${label}-${i}`, userId: `${label}-${i}` } }),
  );
  await Promise.all(sockets.map((socket) => connected(socket, WAIT_MS)));
  const upgrading = sockets.filter((_, i) => combos[i]![1] === "upgrade");
  await eventually(() => upgrading.every((socket) => socket.io.engine.transport.name === "websocket"), "every upgrade", WAIT_MS);
  for (const socket of sockets) await emitWithAck(socket, "join", room);
  return sockets;
}

/** Every socket says MESSAGES_EACH things in `room`; each socket must receive every message exactly once. */
async function chat(sockets: readonly AnySocket[], room: string, label: string): Promise<void> {
  const received = sockets.map(() => [] as string[]);
  const listeners = sockets.map((socket, i) => {
    const listener = (message: ChatMessage) => received[i]!.push(message.text);
    socket.on("msg", listener);
    return listener;
  });
  const sent: string[] = [];
  for (const [i, socket] of sockets.entries()) {
    for (let k = 0; k < MESSAGES_EACH; k++) {
      const text = `${label} ${i}.${k}`;
      sent.push(text);
      await emitWithAck(socket, "msg", { room, text });
    }
  }
  // A last message after everything: once every socket has it, whatever was sent before has arrived too.
  await emitWithAck(sockets[0]!, "msg", { room, text: `${label} end` });
  await eventually(() => received.every((texts) => texts.includes(`${label} end`)), `${label}: the last message everywhere`, WAIT_MS);
  for (const [i, texts] of received.entries()) {
    assert.deepEqual(
      texts.filter((text) => text !== `${label} end`).sort(),
      [...sent].sort(),
      `${label}: client ${i} received every message exactly once`,
    );
  }
  for (const [i, socket] of sockets.entries()) socket.off("msg", listeners[i]);
}

/** The instance's workers as Redis lists them, with their open sessions. */
async function workerSessions(instance: Instance): Promise<Map<string, number>> {
  const body = await instance.admin.sessions();
  const sessions = new Map<string, number>();
  for (const entry of body.instances as { instanceId: string; sessions: Record<string, Record<string, number>> }[]) {
    if (!entry.instanceId.startsWith(`${instance.id}-w`)) continue;
    const counts = Object.values(entry.sessions).flatMap((byTransport) => Object.values(byTransport));
    sessions.set(
      entry.instanceId,
      counts.reduce((sum, n) => sum + n, 0),
    );
  }
  return sessions;
}

async function spreadOverBothWorkers(instance: Instance): Promise<void> {
  await eventually(
    async () => {
      const sessions = await workerSessions(instance);
      return sessions.size === 2 && [...sessions.values()].every((n) => n > 0);
    },
    "sessions on both workers",
    WAIT_MS,
    200,
  );
}

async function metricSum(instance: Instance, name: string): Promise<number> {
  const text = await (await fetch(`${instance.process.opsUrl}/metrics`)).text();
  return parseMetrics(text)
    .filter((sample) => sample.name === name)
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Each worker's WebSocket sessions, once the workers' heartbeats account for `total` of them. */
async function websocketSessions(instance: Instance, total: number): Promise<Map<string, number>> {
  let held = new Map<string, number>();
  await eventually(
    async () => {
      const body = await instance.admin.sessions();
      held = new Map();
      for (const entry of body.instances as { instanceId: string; sessions: { legacy: { websocket: number } } }[]) {
        if (entry.instanceId.startsWith(`${instance.id}-w`)) held.set(entry.instanceId, entry.sessions.legacy.websocket);
      }
      return held.size === 2 && [...held.values()].reduce((sum, n) => sum + n, 0) === total;
    },
    `the workers' heartbeats to count ${total} WebSocket sessions`,
    WAIT_MS,
    200,
  );
  return held;
}

/** The process of worker `number` (its last start), from its "listening" log line. */
function workerPid(instance: Instance, number: number): number {
  const entry = instance.process.logs.findLast((line) => line.msg === "switchyard worker listening" && line.worker === number);
  assert.ok(typeof entry?.pid === "number", `worker ${number} logged its pid`);
  return entry.pid;
}

/** The worker processes under the instance's primary. */
function workerPids(instance: Instance): number[] {
  const pid = instance.process.child.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).map(Number);
  return children.filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, "utf8").includes("src/main.ts");
    } catch {
      return false;
    }
  });
}

function closeAll(sockets: readonly AnySocket[]): void {
  for (const socket of sockets) socket.close();
}

describe("WORKERS=2: one instance, two worker processes", () => {
  let backends: Backends;
  const prefixes: string[] = [];
  const start = (name: string, mode: "pipe" | "terminate"): Promise<Cluster> => {
    const prefix = uniquePrefix(`workers-${name}`);
    prefixes.push(prefix);
    return startCluster({
      backends,
      redisUrl: SHARED_REDIS_URL,
      prefix,
      ids: [`wk-${name}-${process.pid}`],
      mode,
      routing: { hubPercent: 0 },
      env: { WORKERS: "2" },
      // Three processes start (the primary, then both workers): slower than one on a busy host.
      startTimeoutMs: 60_000,
    });
  };
  before(async () => {
    backends = await startBackends();
  });
  after(async () => {
    await backends.close();
    for (const prefix of prefixes) await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it("refuses WORKERS=2 without REDIS_URL: exit 78, with the reason", async () => {
    const child = spawnGateway({ WORKERS: "2", LEGACY_URL: backends.legacy.url, HUB_URL: backends.hub.url });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number];
    assert.equal(code, 78);
    assert.match(stderr, /SWY_ERR_CONFIG_INVALID/);
    assert.match(stderr, /WORKERS=2 needs REDIS_URL/);
  });

  describe("terminated sessions: the legacy route, then the hub route after a PATCH", () => {
    let cluster: Cluster;
    let instance: Instance;
    before(async () => {
      cluster = await start("t", "terminate");
      instance = cluster.instances[0]!;
    });
    after(async () => {
      await cluster.stop();
    });

    it("every generation and transport chats on the terminated legacy route; sessions are on both workers", async () => {
      const sockets = await openRoom(instance.url, "legacy", "room-legacy");
      try {
        assert.deepEqual(new Set(sockets.map((socket) => backends.backendOf(socket.io.engine.id))), new Set(["legacy"]));
        await spreadOverBothWorkers(instance);
        await chat(sockets, "room-legacy", "legacy");
      } finally {
        closeAll(sockets);
      }
    });

    it("a routing PATCH through the primary applies in every worker; then every client chats on the hub route", async () => {
      const patched = await instance.admin.call("PATCH", "/admin/routing", { body: { hubPercent: 100 } });
      assert.equal(patched.status, 200);
      const version = patched.body.version as number;
      // The worker that answered audited the caller's address, passed on by the primary.
      const audited = (await instance.admin.audit()).find((entry) => entry.action === "routing.patch");
      assert.match(String(audited?.actor?.address), /x-forwarded-for: 127\.0\.0\.1/);
      await eventually(
        async () => {
          const body = await instance.admin.sessions();
          const workers = (body.instances as { instanceId: string; appliedVersion: number }[]).filter((entry) =>
            entry.instanceId.startsWith(`${instance.id}-w`),
          );
          return workers.length === 2 && workers.every((entry) => entry.appliedVersion === version);
        },
        "both workers to apply the PATCH",
        WAIT_MS,
        200,
      );
      const sockets = await openRoom(instance.url, "hub", "room-hub");
      try {
        assert.deepEqual(new Set(sockets.map((socket) => backends.backendOf(socket.io.engine.id))), new Set(["hub"]));
        await spreadOverBothWorkers(instance);
        await chat(sockets, "room-hub", "hub");
      } finally {
        closeAll(sockets);
      }
    });

    it("/metrics is the instance's: sessions opened add up over the workers to the clients that connected", async () => {
      const clients = 2 * VERSIONS.length * MODES.length;
      assert.equal(await metricSum(instance, "switchyard_sessions_opened_total"), clients);
      assert.equal(await metricSum(instance, "switchyard_worker_restarts_total"), 0);
      const ready = await instance.admin.readyz();
      assert.equal(ready.status, 200);
      assert.deepEqual(
        ready.body.checks.map((check) => check.name),
        ["worker w1", "worker w2"],
      );
    });
  });

  describe("pipe sessions, a killed worker, SIGTERM", () => {
    let cluster: Cluster;
    let instance: Instance;
    before(async () => {
      cluster = await start("p", "pipe");
      instance = cluster.instances[0]!;
    });
    after(async () => {
      await cluster.stop();
    });

    it("every generation and transport chats on the pipe route; sessions are on both workers", async () => {
      const sockets = await openRoom(instance.url, "pipe", "room-pipe");
      try {
        await spreadOverBothWorkers(instance);
        await chat(sockets, "room-pipe", "pipe");
        assert.equal(await metricSum(instance, "switchyard_sessions_opened_total"), sockets.length);
      } finally {
        closeAll(sockets);
      }
    });

    it("a SIGKILLed worker is restarted and counted; the other worker's clients are unaffected", async () => {
      const sockets: AnySocket[] = [];
      const open = async (count: number) => {
        const more = Array.from({ length: count }, (_, i) =>
          createClient("4", instance.url, "/", { transport: "websocket", reconnection: true, query: { name: `k${sockets.length + i}` } }),
        );
        sockets.push(...more);
        await Promise.all(more.map((socket) => connected(socket, WAIT_MS)));
      };
      try {
        // The primary hands connections out round-robin, but a busy worker may take fewer: open clients until both
        // hold some (their WebSocket sessions, as the workers' heartbeats report them).
        await open(8);
        let held = await websocketSessions(instance, sockets.length);
        while ([...held.values()].some((n) => n === 0) && sockets.length < 32) {
          await open(4);
          held = await websocketSessions(instance, sockets.length);
        }
        const [victimName, victimHeld] = [...held.entries()].find(([, n]) => n > 0)!;
        const victim = workerPid(instance, Number(victimName.slice(victimName.lastIndexOf("-w") + 2)));
        const dropped = new Set<number>();
        for (const [i, socket] of sockets.entries()) socket.on("disconnect", () => dropped.add(i));
        process.kill(victim, "SIGKILL");
        // Not ready while the worker restarts, ready again once it is back.
        await eventually(async () => (await instance.admin.readyz()).status === 503, "the instance unready", WAIT_MS);
        await eventually(async () => (await instance.admin.readyz()).status === 200, "the instance ready again", 60_000, 200);
        assert.equal(await metricSum(instance, "switchyard_worker_restarts_total"), 1);
        assert.ok(instance.process.logs.some((entry) => entry.code === "SWY_ERR_WORKER_EXITED"));
        // Exactly the killed worker's clients were dropped; they reconnected (to either worker), and everybody chats.
        assert.equal(dropped.size, victimHeld, `the killed worker held ${victimHeld} of ${sockets.length} clients`);
        await eventually(() => sockets.every((socket) => socket.connected), "every client connected", WAIT_MS);
        for (const socket of sockets) await emitWithAck(socket, "join", "room-after");
        await chat(sockets, "room-after", "after");
        assert.equal(workerPids(instance).length, 2);
      } finally {
        closeAll(sockets);
      }
    });

    it("SIGTERM drains every worker: clients are disconnected reconnectably and the instance exits 0", async () => {
      const sockets = ["websocket", "polling", "websocket", "polling"].map((transport, i) =>
        createClient("4", instance.url, "/", { transport: transport as TransportMode, query: { name: `t${i}` } }),
      );
      try {
        await Promise.all(sockets.map((socket) => connected(socket, WAIT_MS)));
        const reasons = sockets.map((socket) => waitFor<string>(socket, "disconnect", WAIT_MS));
        instance.process.child.kill("SIGTERM");
        assert.deepEqual(await Promise.all(reasons), ["transport close", "transport close", "transport close", "transport close"]);
        assert.equal(await instance.process.exited, 0);
        assert.equal(instance.process.logs.filter((entry) => entry.msg === "drained; bye").length, 3, "two workers and the primary");
      } finally {
        closeAll(sockets);
      }
    });
  });
});
