/**
 * The PromQL of the Grafana dashboard and the Prometheus alert rules, read from the repository files and
 * parsed with Prometheus's own Lezer grammar (@prometheus-io/lezer-promql, the one the Prometheus UI uses),
 * for the dashboard unit test and the real-Prometheus end-to-end test.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { parse as parseYaml } from "yaml";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DASHBOARD_PATH = join(REPO_ROOT, "grafana", "dashboards", "switchyard.json");
export const ALERTS_PATH = join(REPO_ROOT, "prometheus", "alerts.yml");

export interface GrafanaTarget {
  readonly refId?: string;
  readonly expr?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

export interface GrafanaPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly gridPos: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: string } };
  readonly targets?: readonly GrafanaTarget[];
  readonly panels?: readonly GrafanaPanel[];
}

export interface GrafanaVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly definition?: string;
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly allValue?: string;
}

export interface GrafanaDashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: readonly GrafanaPanel[];
  readonly templating: { readonly list: readonly GrafanaVariable[] };
  readonly annotations: { readonly list: readonly { readonly name: string; readonly expr?: string }[] };
}

/** One PromQL expression of the dashboard or the alerts, with where it comes from. */
export interface NamedQuery {
  readonly where: string;
  readonly expr: string;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function loadDashboard(): GrafanaDashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, "utf8")) as GrafanaDashboard;
}

/** Every panel that shows data (rows are layout, and their nested panels are included). */
export function dataPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return dashboard.panels.flatMap((panel) => (panel.type === "row" ? [...(panel.panels ?? [])] : [panel]));
}

export function panelQueries(dashboard: GrafanaDashboard): NamedQuery[] {
  return dataPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}" query ${target.refId ?? "?"}`, expr: target.expr ?? "" })),
  );
}

export function annotationQueries(dashboard: GrafanaDashboard): NamedQuery[] {
  return dashboard.annotations.list.filter((a) => a.expr !== undefined).map((a) => ({ where: `annotation "${a.name}"`, expr: a.expr! }));
}

export function loadAlertRules(): AlertRule[] {
  const document = parseYaml(readFileSync(ALERTS_PATH, "utf8")) as { groups: { rules: AlertRule[] }[] };
  return document.groups.flatMap((group) => group.rules);
}

/**
 * Grafana's variables replaced the way Grafana would for "All instances" and a given rate window:
 * `$instance` (multi-value, All = `.*`) and `$__rate_interval`.
 */
export function substituteVariables(expr: string, rateInterval: string): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a template literal
  return expr.replaceAll("$__rate_interval", rateInterval).replaceAll("${instance}", ".*").replaceAll("$instance", ".*");
}

export interface Selector {
  /** The metric name, or undefined for a selector without one (`{__name__=~...}`). */
  readonly metric: string | undefined;
  readonly matchers: readonly { readonly label: string; readonly op: string; readonly value: string }[];
}

export interface ParsedQuery {
  /** Text of each syntax error node (empty: the expression parses). */
  readonly errors: readonly string[];
  readonly selectors: readonly Selector[];
}

/** Parses with the Prometheus Lezer grammar and collects every vector selector with its matchers. */
export function parsePromql(expr: string): ParsedQuery {
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const text = (from: number, to: number) => expr.slice(from, to);
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(`syntax error at ${node.from}: "${text(Math.max(0, node.from - 10), node.to + 10)}"`);
        return;
      }
      if (node.name !== "VectorSelector") return;
      const identifier = node.node.getChild("Identifier");
      const matchers: { label: string; op: string; value: string }[] = [];
      const list = node.node.getChild("LabelMatchers");
      for (const matcher of list ? [...list.getChildren("UnquotedLabelMatcher"), ...list.getChildren("QuotedLabelMatcher")] : []) {
        const label = matcher.getChild("LabelName") ?? matcher.getChild("QuotedLabelName");
        const op = matcher.getChild("MatchOp");
        const value = matcher.getChild("StringLiteral");
        if (!label || !op || !value) continue;
        matchers.push({
          label: text(label.from, label.to),
          op: text(op.from, op.to),
          value: JSON.parse(text(value.from, value.to).replace(/^'|'$/g, '"')) as string,
        });
      }
      selectors.push({ metric: identifier ? text(identifier.from, identifier.to) : undefined, matchers });
    },
  });
  return { errors, selectors };
}

/** The metric names a query reads. */
export function metricsOf(expr: string): string[] {
  return [...new Set(parsePromql(expr).selectors.map((s) => s.metric ?? "<no name>"))];
}
