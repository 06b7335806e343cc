/**
 * Issues 9 and 11 (item 1): hostile input at volume, on every route at once. Two real gateway processes (pipe and
 * terminate mode, fuzz-rig.ts) carry the pipe route, the terminated legacy route, the hub route and both shadowed
 * routes, while real socket.io clients (2.x, 3.x, 4.x; WebSocket, polling, upgrade) chat on each route. Raw
 * Engine.IO clients (v3 and v4, WebSocket and polling) send mutations of the recorded compat-fixtures/ packets
 * (mutator.ts), many per session, each batch followed by a marker whose ack proves the session still serves.
 *
 * The process stays up and healthy, the healthy clients lose nothing and are never disconnected, no session hangs,
 * no exception reaches a guard or the process, and every close is counted under a coded reason.
 *
 * Seeded: FUZZ_SEED=<n> reproduces a run's cases (each lane's sequence; lanes interleave as the machine schedules
 * them); the seed and the failing lane's last cases are printed on failure. FUZZ_CASES_PER_ROUTE sets the quota
 * (default 10,000 per route, 50,000 per run).
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { degenerate, describeRecent, emptyStats, runLane, type LaneStats } from "../helpers/fuzz/fuzz-lane.js";
import { FUZZ_ROUTES, startFuzzRig, type FuzzRig, type FuzzRoute, type RigGateway } from "../helpers/fuzz/fuzz-rig.js";
import { metricSum } from "../helpers/fuzz/gateway-under-test.js";
import { startHealthyChat, type HealthyChat, type HealthyReport } from "../helpers/fuzz/healthy-chat.js";
import type { FuzzCase } from "../helpers/fuzz/mutator.js";
import { Prng, seedOf } from "../helpers/fuzz/prng.js";
import type { EngineRevision, RawTransport } from "../helpers/fuzz/raw-client.js";
import type { MetricSample } from "../helpers/shadow-probe.js";

const SEED = seedOf(process.env.FUZZ_SEED);
const CASES_PER_ROUTE = Number(process.env.FUZZ_CASES_PER_ROUTE ?? 10_000);
const LANES_PER_ROUTE = 4;
/** A safety net, not a budget: the quotas end the run (the report gives its duration). */
const CAP_MS = 300_000;
const HEALTHY_MIX = [
  ["2", "websocket"],
  ["3", "upgrade"],
  ["4", "polling"],
] as const;

/** Degenerate inputs every route must refuse by closing only that session (and, where the gateway reads them, coded). */
const DEGENERATE: readonly {
  readonly name: string;
  readonly frames: readonly string[];
  readonly v3Body: string;
  readonly v4Body: string;
}[] = [
  { name: "an empty message packet", frames: ["4"], v3Body: "1:4", v4Body: "4" },
  { name: "a CONNECT with garbage", frames: ["40garbage"], v3Body: "9:40garbage", v4Body: "40garbage" },
  { name: "a polling payload with bogus lengths", frames: ["4\u0000"], v3Body: "99:40", v4Body: "4\u001e\u001e" },
  { name: "a polling payload with a length that is no number", frames: ["9"], v3Body: "abc:4", v4Body: "\u001e" },
];

const TERMINATED: readonly FuzzRoute[] = ["terminate", "hub", "shadow-to-hub", "shadow-to-legacy"];

function protocolCloses(samples: readonly MetricSample[]): number {
  return samples
    .filter(
      (s) => s.name === "switchyard_sessions_closed_total" && s.labels.reason === "error" && s.labels.code?.startsWith("SWY_ERR_PROTOCOL"),
    )
    .reduce((sum, s) => sum + s.value, 0);
}

describe("fuzzing every route while healthy clients chat", () => {
  let rig: FuzzRig;
  const chats = new Map<FuzzRoute, HealthyChat>();
  before(async () => {
    rig = await startFuzzRig();
    for (const route of FUZZ_ROUTES) {
      const { url, key } = rig.target(route);
      chats.set(
        route,
        await startHealthyChat(url, `healthy-${route}`, HEALTHY_MIX, { query: { userId: key }, intervalMs: 150, ackTimeoutMs: 30_000 }),
      );
    }
  });
  after(async () => {
    for (const chat of chats.values()) await chat.stop().catch(() => undefined);
    await rig?.stop();
  });

  it("degenerate packets close only their own session, on every route, v3 and v4, WebSocket and polling", async (t) => {
    const before = new Map<RigGateway, number>();
    for (const gateway of Object.values(rig.gateways)) before.set(gateway, protocolCloses(await gateway.metrics()));
    const outcomes: string[] = [];
    let terminatedCloses = 0;
    // One session per input, the routes in parallel.
    await Promise.all(
      FUZZ_ROUTES.map(async (route) => {
        const { url, key } = rig.target(route);
        for (const revision of [3, 4] as EngineRevision[]) {
          for (const transport of ["websocket", "polling"] as RawTransport[]) {
            for (const input of DEGENERATE) {
              const body = revision === 3 ? input.v3Body : input.v4Body;
              const outcome = await degenerate({ url, key, rng: new Prng(SEED) }, revision, transport, { frames: input.frames, body });
              if (outcome !== "closed") outcomes.push(`${route} v${revision} ${transport}: ${input.name} → ${outcome}`);
              if (TERMINATED.includes(route)) terminatedCloses++;
            }
          }
        }
      }),
    );
    assert.deepEqual(outcomes, [], "every degenerate input closed its session");
    // Where the gateway terminates the session, each close is a protocol error with its code (the shadowed legacy
    // route's primary is the legacy server's to refuse when the gateway lets the packet through; none here is).
    let coded = 0;
    for (const gateway of Object.values(rig.gateways)) coded += protocolCloses(await gateway.metrics()) - before.get(gateway)!;
    assert.equal(coded, terminatedCloses, "each terminated route's close counted under a SWY_ERR_PROTOCOL_* code");
    t.diagnostic(`degenerate inputs: ${DEGENERATE.length} × 2 revisions × 2 transports × ${FUZZ_ROUTES.length} routes, all closed`);
  });

  const title = `mutated packets, ≥ ${CASES_PER_ROUTE} cases per route: the processes stay up, no healthy loss, closes coded`;
  it(title, async (t) => {
    const started = Date.now();
    const stats = new Map<FuzzRoute, LaneStats>();
    const recent = new Map<string, (string | FuzzCase)[]>();
    const lanes: Promise<void>[] = [];
    FUZZ_ROUTES.forEach((route, r) => {
      const { url, key } = rig.target(route);
      const routeStats = emptyStats();
      stats.set(route, routeStats);
      for (let lane = 0; lane < LANES_PER_ROUTE; lane++) {
        const lines: (string | FuzzCase)[] = [];
        recent.set(`${route}#${lane}`, lines);
        const running = () => routeStats.cases < CASES_PER_ROUTE && Date.now() - started < CAP_MS && rig.gateways.pipe.alive;
        lanes.push(runLane({ url, key, rng: new Prng(SEED + r * 1000 + lane), stats: routeStats, running, recent: lines }));
      }
    });
    await Promise.all(lanes);
    const seconds = (Date.now() - started) / 1000;

    const reports = new Map<FuzzRoute, HealthyReport>();
    for (const [route, chat] of chats) reports.set(route, await chat.stop());
    chats.clear();
    const summary = report(stats, reports, seconds);
    t.diagnostic(summary);
    try {
      await check(t, rig, stats, reports);
    } catch (error) {
      const lastCases = [...recent].map(([lane, lines]) => `--- ${lane}\n${describeRecent(lines.slice(-12)).join("\n")}`).join("\n");
      const errors = Object.values(rig.gateways)
        .flatMap((gateway) => gateway.process.logs.map((entry) => `${gateway.name}: ${JSON.stringify(entry).slice(0, 800)}`))
        .slice(-20);
      process.stderr.write(
        `\nFUZZ FAILURE: reproduce with FUZZ_SEED=${SEED}\n${summary}\nlast cases per lane:\n${lastCases}\n` +
          `gateway errors:\n${errors.join("\n")}\n`,
      );
      throw error;
    }
  });
});

function report(stats: Map<FuzzRoute, LaneStats>, reports: Map<FuzzRoute, HealthyReport>, seconds: number): string {
  let total = 0;
  const lines = [`FUZZ_SEED=${SEED}: ${seconds.toFixed(1)} s`];
  for (const [route, s] of stats) {
    total += s.cases;
    const healthy = reports.get(route);
    lines.push(
      `${route}: ${s.cases} cases (${s.payloadCases} payload framings), ${s.batches} batches, ${s.sessions} sessions ` +
        `(${s.serverClosed} closed by the server, ${s.answered} markers answered), mix ${JSON.stringify(s.mix)}, ` +
        `handshake cases ${JSON.stringify(s.handshakes)}; healthy: ${healthy?.sent} sent, ${healthy?.delivered} delivered`,
    );
  }
  const ops: Record<string, number> = {};
  for (const s of stats.values()) for (const [op, n] of Object.entries(s.ops)) ops[op] = (ops[op] ?? 0) + n;
  lines.push(`total: ${total} cases; by operator ${JSON.stringify(ops)}`);
  return lines.join("\n");
}

async function check(
  t: TestContext,
  rig: FuzzRig,
  stats: Map<FuzzRoute, LaneStats>,
  reports: Map<FuzzRoute, HealthyReport>,
): Promise<void> {
  for (const gateway of Object.values(rig.gateways)) {
    assert.ok(gateway.alive, `the ${gateway.name} gateway is running (stderr: ${gateway.stderr.slice(0, 2000)})`);
    assert.ok(await gateway.healthy(), `the ${gateway.name} gateway's /healthz answers`);
  }
  for (const [route, s] of stats) {
    assert.deepEqual(s.hangs, [], `${route}: no session hangs`);
    assert.ok(s.cases >= CASES_PER_ROUTE, `${route}: ${s.cases} cases, at least ${CASES_PER_ROUTE}`);
    const healthy = reports.get(route)!;
    assert.deepEqual(healthy.failures, [], `${route}: no healthy client was disconnected or refused`);
    assert.deepEqual(healthy.lost, [], `${route}: no healthy client lost a message`);
    assert.ok(healthy.sent > 0);
    assert.equal(healthy.delivered, healthy.sent * HEALTHY_MIX.length, `${route}: every healthy message delivered to every member`);
  }
  for (const gateway of Object.values(rig.gateways)) {
    const metrics = await gateway.metrics();
    const sum = (name: string, labels: Record<string, string> = {}) => metricSum(metrics, name, labels);
    assert.equal(
      sum("switchyard_contained_errors_total", { code: "SWY_ERR_INTERNAL" }),
      0,
      `${gateway.name}: no exception reached a guard`,
    );
    assert.equal(sum("switchyard_uncaught_errors_total"), 0, `${gateway.name}: nothing reached the process`);
    // Every session is accounted for: opened = closed + open, in one scrape. (A pipe polling session that the legacy
    // server ended is counted closed when the idle sweep finds it, pingInterval + pingTimeout later: still open here.)
    assert.equal(
      sum("switchyard_sessions_opened_total"),
      sum("switchyard_sessions_closed_total") + sum("switchyard_sessions_open"),
      `${gateway.name}: every session counted`,
    );
    assert.equal(
      sum("switchyard_sessions_closed_total", { reason: "error", code: "none" }),
      0,
      `${gateway.name}: every error close has a code`,
    );
    assert.equal(
      sum("switchyard_protocol_errors_total"),
      protocolCloses(metrics),
      `${gateway.name}: protocol errors = coded protocol closes`,
    );
    // Handshake cases, each refused and counted: without EIO as engine.io refuses an unsupported revision; without
    // a transport or with an unknown one by engine.io itself.
    const answered = (...answers: string[]) =>
      [...stats]
        .filter(([route]) => rig.target(route).gateway === gateway)
        .reduce((n, [, s]) => n + answers.reduce((m, answer) => m + (s.handshakes[answer] ?? 0), 0), 0);
    const refused = (code: string) => sum("switchyard_handshakes_refused_total", { code });
    assert.equal(refused("SWY_ERR_UNSUPPORTED_PROTOCOL"), answered("no-eio 400 5", "no-eio-ws 400"), `${gateway.name}: missing EIO`);
    // (At least: a request of a session that just ended may also meet engine.io's "Session ID unknown".)
    const engineRefused = answered("no-transport 400 0", "bad-transport 400 0");
    assert.ok(refused("SWY_ERR_ENGINE_REFUSED") >= engineRefused, `${gateway.name}: engine.io refused ${engineRefused}, counted`);
    t.diagnostic(
      `${gateway.name}: closed ${JSON.stringify(
        metrics
          .filter((s) => s.name === "switchyard_sessions_closed_total" && s.value > 0)
          .map((s) => `${s.labels.backend} ${s.labels.reason} ${s.labels.code}=${s.value}`),
      )}`,
    );
  }
  for (const [route, s] of stats) {
    for (const [answer, n] of Object.entries(s.handshakes)) {
      if (answer.startsWith("no-eio")) assert.match(answer, /^no-eio(-ws)? 400( 5)?$/, `${route}: ${answer} (${n})`);
    }
  }
}
