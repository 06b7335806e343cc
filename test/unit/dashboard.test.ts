/**
 * The Grafana dashboard and the alert rules, statically: every PromQL expression parses (Prometheus's Lezer
 * grammar, and promtool's own parser, which also type-checks), reads only metrics the gateway exports or the
 * catalog promises, and honours the `instance` variable; every panel has a unit and a description.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify as toYaml } from "yaml";
import { catalogEntryOf, CATALOG, DROPPED_DEFAULT_METRICS } from "../../src/ops/metric-catalog.js";
import { createMetrics } from "../../src/ops/metrics.js";
import {
  annotationQueries,
  dataPanels,
  loadAlertRules,
  loadDashboard,
  metricsOf,
  panelQueries,
  parsePromql,
  substituteVariables,
  type NamedQuery,
} from "../helpers/dashboard-queries.js";

const dashboard = loadDashboard();
const alerts = loadAlertRules();
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a template literal
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
/** Series Prometheus itself writes for every target; alerts may use them, panels have no instance_id on them. */
const PROMETHEUS_SERIES = new Set(["up"]);

/** The series names of prom-client's default metrics as this gateway exports them (minus the dropped ones). */
async function defaultSeriesNames(): Promise<Set<string>> {
  const metrics = createMetrics(
    { sessionCounts: () => ({ legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } }) },
    "dashboard-test",
  );
  try {
    const names = new Set<string>();
    for (const metric of await metrics.registry.getMetricsAsJSON()) {
      if (metric.name.startsWith("switchyard_")) continue;
      if (String(metric.type) === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(metric.name + suffix);
      else names.add(metric.name);
    }
    return names;
  } finally {
    metrics.close();
  }
}

function allQueries(): NamedQuery[] {
  return [
    ...panelQueries(dashboard),
    ...annotationQueries(dashboard),
    ...alerts.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
  ];
}

test("the dashboard is a Grafana JSON model with a datasource and a multi-value instance variable", () => {
  assert.equal(dashboard.uid, "switchyard");
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.equal(variables.get("datasource")?.type, "datasource");
  assert.equal(variables.get("datasource")?.query, "prometheus");
  const instance = variables.get("instance");
  assert.ok(instance, "an `instance` template variable");
  assert.equal(instance.type, "query");
  assert.equal(instance.definition, "label_values(switchyard_sessions_open, instance_id)");
  assert.deepEqual((instance.query as { query: string }).query, instance.definition);
  assert.equal(instance.multi, true);
  assert.equal(instance.includeAll, true);
  assert.equal(instance.allValue, ".*", "All must be a regex for the =~ matchers");
});

test("every panel has a title, a description, a unit, the datasource variable and at least one query", () => {
  const panels = dataPanels(dashboard);
  assert.ok(panels.length >= 20, `${panels.length} panels`);
  const ids = new Set<number>();
  for (const panel of panels) {
    const name = `panel "${panel.title}"`;
    assert.ok(!ids.has(panel.id), `${name}: duplicate id ${panel.id}`);
    ids.add(panel.id);
    assert.ok(panel.title.trim().length > 0, "a panel without a title");
    assert.ok((panel.description ?? "").trim().length >= 30, `${name}: needs a description`);
    assert.ok((panel.fieldConfig?.defaults?.unit ?? "").length > 0, `${name}: needs a unit`);
    assert.deepEqual(panel.datasource, DATASOURCE, `${name}: datasource`);
    assert.ok((panel.targets ?? []).length > 0, `${name}: no query`);
    for (const target of panel.targets ?? []) {
      assert.deepEqual(target.datasource, DATASOURCE, `${name} ${target.refId}: datasource`);
      assert.ok((target.expr ?? "").trim().length > 0, `${name} ${target.refId}: empty expr`);
    }
  }
});

test("panels fit the 24-column grid without overlapping", () => {
  const cells = new Map<string, string>();
  for (const panel of dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel "${panel.title}" is outside the grid`);
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const key = `${col},${row}`;
        assert.ok(!cells.has(key), `panels "${cells.get(key)}" and "${panel.title}" overlap at ${key}`);
        cells.set(key, panel.title);
      }
    }
  }
});

test("every panel, annotation and alert expression parses with the Prometheus Lezer grammar", () => {
  const queries = allQueries();
  assert.ok(queries.length >= 40, `${queries.length} queries`);
  for (const { where, expr } of queries) {
    const parsed = parsePromql(substituteVariables(expr, "1m"));
    assert.deepEqual(parsed.errors, [], `${where}: ${expr}`);
    assert.ok(parsed.selectors.length > 0, `${where}: reads no metric`);
  }
});

test("the Lezer check can fail: a broken expression is reported", () => {
  assert.notDeepEqual(parsePromql("sum(rate(switchyard_packets_total[1m])").errors, []);
  assert.notDeepEqual(parsePromql("rate(switchyard_packets_total[$__rate_interval])").errors, []);
});

test("every expression passes promtool's parser and type checks (Prometheus 2.42)", () => {
  const dir = mkdtempSync(join(tmpdir(), "swy-dashboard-"));
  try {
    const rules = allQueries().map((query, i) => ({ record: `dashboard:query_${i}`, expr: substituteVariables(query.expr, "1m") }));
    writeFileSync(join(dir, "rules.yml"), toYaml({ groups: [{ name: "dashboard", rules }] }));
    const result = spawnSync("promtool", ["check", "rules", join(dir, "rules.yml")], { encoding: "utf8" });
    assert.equal(result.status, 0, `promtool check rules:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("queries read only catalog metrics or the gateway's own process/nodejs metrics", async () => {
  const defaults = await defaultSeriesNames();
  assert.ok(
    defaults.has("process_cpu_seconds_total") && defaults.has("nodejs_eventloop_lag_p99_seconds"),
    "the default metrics are exported",
  );
  for (const dropped of DROPPED_DEFAULT_METRICS) assert.ok(!defaults.has(dropped), `${dropped} is dropped`);
  for (const { where, expr } of allQueries()) {
    const isAlert = where.startsWith("alert ");
    for (const metric of metricsOf(expr)) {
      const known = catalogEntryOf(metric) !== undefined || defaults.has(metric) || (isAlert && PROMETHEUS_SERIES.has(metric));
      assert.ok(known, `${where} reads ${metric}, which the gateway does not export and the catalog does not list`);
    }
  }
});

test("histograms are read through their series (_bucket/_sum/_count), never by their base name", () => {
  for (const { where, expr } of allQueries()) {
    for (const metric of metricsOf(expr)) {
      const entry = catalogEntryOf(metric);
      if (entry?.type === "histogram") assert.notEqual(metric, entry.name, `${where}: ${metric} has no series of that name`);
    }
  }
});

test("every panel and annotation selector is filtered by the instance variable", () => {
  for (const { where, expr } of [...panelQueries(dashboard), ...annotationQueries(dashboard)]) {
    for (const selector of parsePromql(expr).selectors) {
      const filtered = selector.matchers.some((m) => m.label === "instance_id" && m.op === "=~" && m.value === "$instance");
      assert.ok(filtered, `${where}: ${selector.metric} lacks instance_id=~"$instance"`);
    }
  }
});

test("every catalog metric is on the dashboard or in an alert, and the cutover essentials have panels", () => {
  const used = new Set(
    allQueries()
      .flatMap((q) => metricsOf(q.expr))
      .map((series) => catalogEntryOf(series)?.name ?? series),
  );
  for (const entry of CATALOG) assert.ok(used.has(entry.name), `${entry.name} is neither charted nor alerted on`);
  const panelMetrics = new Set(panelQueries(dashboard).flatMap((q) => metricsOf(q.expr)));
  for (const essential of [
    "switchyard_routing_hub_percent",
    "switchyard_sessions_open",
    "switchyard_packets_total",
    "switchyard_upstream_errors_total",
    "switchyard_upstream_connect_duration_seconds_bucket",
    "switchyard_shadow_comparisons_total",
    "switchyard_shadow_delay_seconds_bucket",
    "switchyard_routing_config_version",
    "nodejs_eventloop_lag_p99_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
  ]) {
    assert.ok(panelMetrics.has(essential), `no panel shows ${essential}`);
  }
});

test("alerts carry a severity, a summary, a description and a documented threshold", () => {
  const names = alerts.map((rule) => rule.alert).sort();
  assert.deepEqual(names, [
    "SwitchyardAtCapacity",
    "SwitchyardConfigDrift",
    "SwitchyardInstanceDown",
    "SwitchyardLegacyPassthroughFailing",
    "SwitchyardRedisUnreachable",
    "SwitchyardRolloutRolledBack",
    "SwitchyardRoomBridgeDown",
    "SwitchyardShadowMismatchRateHigh",
    "SwitchyardUpstreamErrorRateHigh",
  ]);
  for (const rule of alerts) {
    assert.match(rule.labels?.severity ?? "", /^(warning|critical)$/, `${rule.alert}: severity`);
    for (const key of ["summary", "description", "threshold"])
      assert.ok((rule.annotations?.[key] ?? "").length > 0, `${rule.alert}: annotation ${key}`);
    assert.match(rule.for ?? "", /^\d+m$/, `${rule.alert}: a for duration`);
  }
});
