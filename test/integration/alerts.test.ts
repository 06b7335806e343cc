/**
 * The alert rules with the real promtool (Debian's prometheus package): they load, the compose Prometheus
 * config that references them is valid, and the rule unit tests in prometheus/alerts.test.yml pass. Then
 * each alert is mutated (a looser threshold or a shorter `for`) in a temporary copy, and the unit tests
 * must catch it: they pin each threshold, not just "some alert fires".
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { REPO_ROOT } from "../helpers/dashboard-queries.js";

const PROMETHEUS_DIR = join(REPO_ROOT, "prometheus");

function promtool(args: string[], cwd = PROMETHEUS_DIR): { status: number | null; output: string } {
  const result = spawnSync("promtool", args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test("promtool check rules: prometheus/alerts.yml loads", () => {
  const { status, output } = promtool(["check", "rules", "alerts.yml"]);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS: 9 rules found/);
});

test("promtool check config: the compose Prometheus config and its rule file are valid", () => {
  const { status, output } = promtool(["check", "config", "prometheus.yml"]);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS: 1 rule files found/);
});

test("promtool test rules: every alert fires above its threshold and stays quiet below it", () => {
  const { status, output } = promtool(["test", "rules", "alerts.test.yml"]);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS/);
  // Each alert has at least one case where it must fire and one where it must not.
  const cases = parseYaml(readFileSync(join(PROMETHEUS_DIR, "alerts.test.yml"), "utf8")) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const checks = cases.tests.flatMap((t) => t.alert_rule_test);
  const rules = (
    parseYaml(readFileSync(join(PROMETHEUS_DIR, "alerts.yml"), "utf8")) as { groups: { rules: { alert: string }[] }[] }
  ).groups.flatMap((g) => g.rules);
  for (const { alert } of rules) {
    assert.ok(
      checks.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
      `${alert}: no case where it fires`,
    );
    assert.ok(
      checks.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
      `${alert}: no case where it stays quiet`,
    );
  }
});

const scratch = mkdtempSync(join(tmpdir(), "swy-alerts-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Mutation {
  readonly alert: string;
  readonly what: string;
  apply(rule: { expr: string; for?: string }): void;
}

const MUTATIONS: readonly Mutation[] = [
  {
    alert: "SwitchyardShadowMismatchRateHigh",
    what: "threshold 1% → 0.1%",
    apply: (r) => {
      r.expr = r.expr.replace(") > 0.01", ") > 0.001");
    },
  },
  {
    alert: "SwitchyardShadowMismatchRateHigh",
    what: "traffic floor 0.1/s → 0.01/s",
    apply: (r) => {
      r.expr = r.expr.replace(">= 0.1", ">= 0.01");
    },
  },
  {
    alert: "SwitchyardUpstreamErrorRateHigh",
    what: "threshold 5% → 20%",
    apply: (r) => {
      r.expr = r.expr.replace(") > 0.05", ") > 0.2");
    },
  },
  {
    alert: "SwitchyardUpstreamErrorRateHigh",
    what: "no fallback for a backend without successes",
    apply: (r) => {
      r.expr = r.expr.replace(/\n\s*or\n[^\n]*\n/, "\n");
    },
  },
  {
    alert: "SwitchyardConfigDrift",
    what: "for 2m → 0m",
    apply: (r) => {
      r.for = "0m";
    },
  },
  {
    alert: "SwitchyardRedisUnreachable",
    what: "for 1m → 0m",
    apply: (r) => {
      r.for = "0m";
    },
  },
  {
    alert: "SwitchyardRedisUnreachable",
    what: "any store, not only redis",
    apply: (r) => {
      r.expr = r.expr.replace('{store="redis"}', "");
    },
  },
  {
    alert: "SwitchyardInstanceDown",
    what: "any job, not only switchyard",
    apply: (r) => {
      r.expr = r.expr.replace('{job="switchyard"}', "");
    },
  },
  {
    alert: "SwitchyardRoomBridgeDown",
    what: "for 1m → 0m",
    apply: (r) => {
      r.for = "0m";
    },
  },
  {
    alert: "SwitchyardRoomBridgeDown",
    what: "without the split condition",
    apply: (r) => {
      r.expr = r.expr.slice(0, r.expr.indexOf("and on"));
    },
  },
  {
    alert: "SwitchyardRolloutRolledBack",
    what: "any transition, not only rollbacks",
    apply: (r) => {
      r.expr = r.expr.replace('to=~"rolling-back|rolled-back",', "");
    },
  },
  {
    alert: "SwitchyardRolloutRolledBack",
    what: "operator rollbacks too",
    apply: (r) => {
      r.expr = r.expr.replace(',trigger="automatic"', "");
    },
  },
  {
    alert: "SwitchyardRolloutRolledBack",
    what: "window 15m → 1m",
    apply: (r) => {
      r.expr = r.expr.replace("[15m]", "[1m]");
    },
  },
  {
    alert: "SwitchyardRoomBridgeDown",
    what: "hub sessions not counted as a split",
    apply: (r) => {
      r.expr = r.expr.replace(/\n\s*or\n[^\n]*\n/, "\n");
    },
  },
  {
    alert: "SwitchyardRoomBridgeDown",
    what: "any world, not only the primary",
    apply: (r) => {
      r.expr = r.expr.replace('{world="primary"}', "");
    },
  },
  {
    alert: "SwitchyardAtCapacity",
    what: "per-address refusals counted as capacity",
    apply: (r) => {
      r.expr = r.expr.replace('limit=~"sessions|handshake_rate"', 'limit=~"sessions.*|handshake_rate"');
    },
  },
  {
    alert: "SwitchyardAtCapacity",
    what: "for 5m → 0m",
    apply: (r) => {
      r.for = "0m";
    },
  },
  {
    alert: "SwitchyardLegacyPassthroughFailing",
    what: "threshold 5% → 1%",
    apply: (r) => {
      r.expr = r.expr.replace(") > 0.05", ") > 0.01");
    },
  },
  {
    alert: "SwitchyardLegacyPassthroughFailing",
    what: "failure floor 0.02/s → 0.001/s",
    apply: (r) => {
      r.expr = r.expr.replace(">= 0.02", ">= 0.001");
    },
  },
  {
    alert: "SwitchyardAtCapacity",
    what: "threshold 0.1/s → 0.01/s",
    apply: (r) => {
      r.expr = r.expr.replace("> 0.1", "> 0.01");
    },
  },
];

for (const mutation of MUTATIONS) {
  test(`the rule unit tests catch a mutated ${mutation.alert} (${mutation.what})`, () => {
    const dir = mkdtempSync(join(scratch, "m-"));
    const document = parseYaml(readFileSync(join(PROMETHEUS_DIR, "alerts.yml"), "utf8")) as {
      groups: { rules: { alert: string; expr: string; for?: string }[] }[];
    };
    const rule = document.groups.flatMap((g) => g.rules).find((r) => r.alert === mutation.alert);
    assert.ok(rule, `${mutation.alert} exists`);
    const before = JSON.stringify(rule);
    mutation.apply(rule);
    assert.notEqual(JSON.stringify(rule), before, "the mutation changed the rule");
    writeFileSync(join(dir, "alerts.yml"), toYaml(document));
    copyFileSync(join(PROMETHEUS_DIR, "alerts.test.yml"), join(dir, "alerts.test.yml"));
    assert.equal(promtool(["check", "rules", "alerts.yml"], dir).status, 0, "the mutated rules still load");
    const { status, output } = promtool(["test", "rules", "alerts.test.yml"], dir);
    assert.notEqual(status, 0, `promtool test rules passed with ${mutation.what}:\n${output}`);
    assert.match(output, new RegExp(`alertname: ${mutation.alert}`));
  });
}
