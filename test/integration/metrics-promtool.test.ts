/**
 * The real /metrics output of a gateway that has carried traffic (socket.io 2.x and 4.x clients, polling,
 * an upgrade, a disconnect, a protocol error, a pass-through request) is clean for `promtool check metrics`
 * (Prometheus's naming lint), matches the metric catalog (names, types, label names), and has bounded label
 * values: no session, user or socket ids.
 */
import { LIMIT_NAMES } from "../../src/telemetry/events.js";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { collectDefaultMetrics, Registry } from "prom-client";
import WebSocket from "ws";
import { catalogEntryOf, DROPPED_DEFAULT_METRICS, INSTANCE_LABEL } from "../../src/ops/metric-catalog.js";
import { createMetrics } from "../../src/ops/metrics.js";
import { connected, createClient, emitWithAck, waitFor, type AnySocket } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { startStack, type Stack } from "../helpers/stack.js";

const INSTANCE_ID = "promtool-test";

/** What each label may hold. A label not listed here fails the test: ids must never become labels. */
const LABEL_VALUES: Record<string, RegExp> = {
  [INSTANCE_LABEL]: new RegExp(`^${INSTANCE_ID}$`),
  backend: /^(legacy|hub)$/,
  transport: /^(polling|websocket)$/,
  protocol: /^(3|4)$/,
  mode: /^(pipe|terminate)$/,
  shadowed: /^(true|false)$/,
  // Session close reasons, route decision reasons, and why an admin call was refused.
  reason: /^(client closed|upstream closed|error|drained|shutdown|split|override|list|fallback|static|missing|wrong|disabled)$/,
  // The bounds of src/telemetry/events.ts LIMIT_NAMES.
  limit: new RegExp(`^(${LIMIT_NAMES.join("|")})$`),
  store: /^(memory|redis)$/,
  code: /^(SWY_ERR_[A-Z_]+|none)$/,
  role: /^(primary|shadow)$/,
  direction: /^(client_to_server|server_to_client)$/,
  // Pass-through request kinds, shadow overflow kinds, malformed bridge input kinds, and what reached the process handlers.
  kind: /^(http|websocket|pending|queue|buffer|message|request|uncaughtException|unhandledRejection)$/,
  // Room worlds and broadcast sources.
  world: /^(primary|shadow)$/,
  source: /^(hub|gateway|legacy|emitter)$/,
  // Where a failure was contained (src/telemetry/events.ts CONTAINMENT_BOUNDARIES).
  boundary: /^(client|backend|shadow|request|admin|store)$/,
  target: /^(legacy|hub)$/,
  // Shadow comparison results, and rollout check results.
  result: /^(match|mismatch|missing|extra|pass|fail|inconclusive)$/,
  // Rollout phases (src/rollout/decision.ts PHASES), transition triggers, and gate names (a plan's, at most 64 characters).
  phase: /^(progressing|holding|paused|rolling-back|promoted|rolled-back|aborted)$/,
  to: /^(progressing|holding|paused|rolling-back|promoted|rolled-back|aborted)$/,
  trigger: /^(operator|automatic)$/,
  gate: /^.{1,64}$/,
  // Event names are the application's: bounded in number (64, then "_other") and length by EventLabels.
  event: /^.{1,100}$/,
  outcome: /^(forwarded|failed|applied|rejected)$/,
  le: /^([0-9.e+-]+|\+Inf)$/,
  // prom-client defaults: V8 heap space names, libuv handle/request class names, GC kinds, Node versions.
  space: /^[a-z_]+$/,
  type: /^[A-Za-z]+$/,
  version: /^v\d+\.\d+\.\d+$/,
  major: /^\d+$/,
  minor: /^\d+$/,
  patch: /^\d+$/,
};

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith("#") || line.trim() === "") continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A raw Engine.IO v4 WebSocket client that joins "/" and then sends a malformed Socket.IO packet. */
async function sendMalformedPacket(gatewayUrl: string): Promise<void> {
  const ws = new WebSocket(`${gatewayUrl.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  ws.on("message", (data) => {
    const text = String(data);
    if (text.startsWith("0{")) ws.send("40");
    else if (text.startsWith("40")) ws.send('42["msg",{"room":');
    else if (text === "2") ws.send("3");
  });
  await closed;
}

describe("/metrics of a gateway under traffic", () => {
  let stack: Stack;
  const clients: AnySocket[] = [];
  let exposition = "";

  before(async () => {
    stack = await startStack({ mode: "terminate", env: { INSTANCE_ID } });
    const v4 = createClient("4", stack.url, "/", { transport: "websocket", query: { name: "ada" } });
    const v2 = createClient("2", stack.url, "/", { transport: "upgrade", query: { name: "bob" } });
    const leaving = createClient("4", stack.url, "/", { transport: "polling" });
    clients.push(v4, v2, leaving);
    await Promise.all(clients.map((c) => connected(c)));
    await Promise.all([emitWithAck(v4, "join", "lobby"), emitWithAck(v2, "join", "lobby")]);
    const delivered = waitFor(v2, "msg");
    await emitWithAck(v4, "msg", { room: "lobby", text: "hello" });
    await delivered;
    leaving.disconnect();
    await sendMalformedPacket(stack.url);
    const page = await fetch(`${stack.url}/`);
    await page.arrayBuffer();
    const ops = stack.switchyard.opsUrl;
    exposition = await eventually(
      async () => {
        const text = await (await fetch(`${ops}/metrics`)).text();
        // Wait for the close and the upgrade to be counted (both are asynchronous to the client calls).
        const ready =
          /switchyard_sessions_closed_total\{[^}]*reason="client closed"/.test(text) &&
          /switchyard_session_upgrades_total\{backend="legacy"[^}]*\} [1-9]/.test(text);
        return ready ? text : "";
      },
      "the close and the upgrade in /metrics",
      10_000,
    );
  });

  after(async () => {
    for (const client of clients) client.close();
    await stack?.close();
  });

  test("promtool check metrics reports nothing", () => {
    const { status, output } = promtoolCheckMetrics(exposition);
    assert.equal(output.trim(), "", "promtool lint findings");
    assert.equal(status, 0);
  });

  test("promtool does flag prom-client's unfixed default metrics (the check is real)", () => {
    const raw = new Registry();
    collectDefaultMetrics({ register: raw });
    return raw.metrics().then((text) => {
      const { status, output } = promtoolCheckMetrics(text);
      assert.notEqual(status, 0);
      for (const name of DROPPED_DEFAULT_METRICS)
        assert.match(output, new RegExp(`${name} non-counter metrics should not have "_total" suffix`));
      raw.clear();
    });
  });

  test("switchyard_* families match the catalog: name, type and label names", () => {
    const { types, samples } = parseExposition(exposition);
    const families = [...types.keys()].filter((name) => name.startsWith("switchyard_"));
    assert.ok(families.length >= 11, `${families.length} switchyard families`);
    for (const family of families) {
      const entry = catalogEntryOf(family);
      assert.ok(entry, `${family} is not in the metric catalog`);
      assert.equal(entry.name, family);
      assert.equal(types.get(family), entry.type, `${family}: type`);
      assert.equal(family.split("switchyard_").length, 2, `${family}: one switchyard_ prefix`);
      if (entry.type === "counter") assert.match(family, /_total$/);
      else assert.doesNotMatch(family, /_total$/);
    }
    for (const sample of samples.filter((s) => s.name.startsWith("switchyard_"))) {
      const entry = catalogEntryOf(sample.name)!;
      const allowed = new Set([...entry.labels, INSTANCE_LABEL, ...(sample.name.endsWith("_bucket") ? ["le"] : [])]);
      for (const label of Object.keys(sample.labels))
        assert.ok(allowed.has(label), `${sample.name} has label ${label}, not in the catalog`);
      assert.equal(sample.labels[INSTANCE_LABEL], INSTANCE_ID, `${sample.name}: instance_id`);
    }
  });

  test("every label value of every series is from a bounded set (no ids)", () => {
    const { samples } = parseExposition(exposition);
    for (const sample of samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        const pattern = LABEL_VALUES[label];
        assert.ok(pattern, `${sample.name}: label "${label}" has no declared bounded value set`);
        if (label === "kind" && sample.name.startsWith("nodejs_gc")) assert.match(value, /^(major|minor|incremental|weakcb)$/);
        else assert.match(value, pattern, `${sample.name}{${label}="${value}"}`);
      }
    }
  });

  test("the traffic is visible: sessions, packets, connect latency, protocol error, pass-through", () => {
    const { samples } = parseExposition(exposition);
    const value = (name: string, labels: Record<string, string>) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    assert.equal(value("switchyard_sessions_open", { backend: "legacy" }), 2, "two clients still connected");
    assert.equal(value("switchyard_sessions_open", { backend: "hub" }), 0);
    assert.ok(value("switchyard_sessions_opened_total", { backend: "legacy", protocol: "3" }) >= 1, "a 2.x client (EIO 3)");
    assert.ok(value("switchyard_sessions_opened_total", { backend: "legacy", protocol: "4" }) >= 2, "4.x clients (EIO 4)");
    assert.ok(value("switchyard_packets_total", { direction: "client_to_server" }) >= 3);
    assert.ok(value("switchyard_packets_total", { direction: "server_to_client" }) >= 3);
    assert.ok(value("switchyard_upstream_connect_duration_seconds_count", { backend: "legacy", role: "primary" }) >= 3);
    assert.equal(value("switchyard_protocol_errors_total", { code: "SWY_ERR_PROTOCOL_MALFORMED" }), 1);
    assert.ok(value("switchyard_passthrough_requests_total", { kind: "http", outcome: "forwarded" }) >= 1);
    for (const name of DROPPED_DEFAULT_METRICS) assert.equal(samples.filter((s) => s.name === name).length, 0, `${name} is dropped`);
    assert.ok(
      samples.some((s) => s.name === "nodejs_active_handles"),
      "the per-type handle gauge stays",
    );
  });
});

describe("the routing store's gauges (optional metrics sources)", () => {
  const noSessions = () => ({ legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } });

  test("are exported from the sources, read on scrape, and promtool-clean", async () => {
    let routing = { hubPercent: 12.5, version: 7 };
    let connected = false;
    let emit: ((outcome: "applied" | "rejected") => void) | undefined;
    let unsubscribed = false;
    const metrics = createMetrics(
      {
        sessionCounts: noSessions,
        routing: () => routing,
        store: () => ({ kind: "redis", connected }),
        onRoutingConfig: (listener) => {
          emit = listener;
          return () => {
            unsubscribed = true;
          };
        },
      },
      INSTANCE_ID,
    );
    try {
      const value = (text: string, series: string) =>
        Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
      let text = await metrics.render();
      assert.equal(value(text, `switchyard_routing_hub_percent{instance_id="${INSTANCE_ID}"}`), 12.5);
      assert.equal(value(text, `switchyard_routing_config_version{instance_id="${INSTANCE_ID}"}`), 7);
      assert.equal(value(text, `switchyard_store_up{store="redis",instance_id="${INSTANCE_ID}"}`), 0);
      assert.equal(
        value(text, `switchyard_routing_config_reloads_total{outcome="rejected",instance_id="${INSTANCE_ID}"}`),
        0,
        "initialised at 0",
      );
      routing = { hubPercent: 30, version: 8 };
      connected = true;
      emit!("applied");
      emit!("applied");
      text = await metrics.render();
      assert.equal(value(text, `switchyard_routing_hub_percent{instance_id="${INSTANCE_ID}"}`), 30);
      assert.equal(value(text, `switchyard_routing_config_version{instance_id="${INSTANCE_ID}"}`), 8);
      assert.equal(value(text, `switchyard_store_up{store="redis",instance_id="${INSTANCE_ID}"}`), 1);
      assert.equal(value(text, `switchyard_routing_config_reloads_total{outcome="applied",instance_id="${INSTANCE_ID}"}`), 2);
      const { status, output } = promtoolCheckMetrics(text);
      assert.equal(output.trim(), "");
      assert.equal(status, 0);
    } finally {
      metrics.close();
    }
    assert.ok(unsubscribed, "close() unsubscribes from the routing source");
  });

  test("are not exported at all without their sources (no fake zeros)", async () => {
    const metrics = createMetrics({ sessionCounts: noSessions }, INSTANCE_ID);
    try {
      const text = await metrics.render();
      for (const name of [
        "switchyard_routing_hub_percent",
        "switchyard_routing_config_version",
        "switchyard_store_up",
        "switchyard_routing_config_reloads_total",
      ]) {
        assert.doesNotMatch(text, new RegExp(`^# TYPE ${name} `, "m"));
      }
    } finally {
      metrics.close();
    }
  });
});
