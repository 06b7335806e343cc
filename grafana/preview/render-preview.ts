/**
 * Renders a picture of the Switchyard dashboard without Grafana: runs the end-to-end test's stack (sample
 * backends, two gateways, a real Prometheus) under chat traffic with a flaky period, queries every panel's
 * PromQL over the run with Prometheus's range API, lays the panels out as grafana/dashboards/switchyard.json
 * does (panel-html.ts), and screenshots the page with Debian's Chromium through playwright-core.
 *
 *   node --import tsx grafana/preview/render-preview.ts [out.png]     (default docs/images/dashboard.png)
 *   PREVIEW_SECONDS=180 to run the traffic longer (default 150).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../../test/helpers/browser.js";
import { startChatTraffic } from "../../test/helpers/chat-traffic.js";
import { loadDashboard, REPO_ROOT, substituteVariables, type GrafanaPanel } from "../../test/helpers/dashboard-queries.js";
import { startObservedStack, type PrometheusServer } from "../../test/helpers/observed-stack.js";
import { dashboardHtml, type PanelData, type Series } from "./panel-html.js";

const RATE_WINDOW = "15s";
const STEP_SECONDS = 2;
const ROUTING_CONFIG = JSON.stringify({
  hubPercent: 50,
  key: { sources: ["query:userId"], fallback: "address" },
  shadow: {
    percent: 100,
    rules: [
      { event: "msg", ignore: ["ts", "id"] },
      { event: "welcome", ignore: ["ts"] },
      { event: "joined", ignore: ["id"] },
      { event: "left", ignore: ["id"] },
    ],
  },
});

interface PanelJson extends GrafanaPanel {
  readonly fieldConfig?: {
    readonly defaults?: {
      readonly unit?: string;
      readonly min?: number;
      readonly max?: number;
      readonly custom?: { stacking?: { mode?: string } };
      readonly mappings?: { options: Record<string, { text: string }> }[];
    };
  };
  readonly targets?: readonly { readonly expr?: string; readonly legendFormat?: string }[];
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Grafana's legend templating: `{{label}}` from the series' labels. */
function legendOf(format: string | undefined, labels: Record<string, string>): string {
  if (format === undefined || format === "") return JSON.stringify(labels);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? "");
}

async function queryRange(
  prometheus: PrometheusServer,
  expr: string,
  start: number,
  end: number,
): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> {
  const params = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(STEP_SECONDS) });
  const body = (await (await fetch(`${prometheus.url}/api/v1/query_range?${params}`)).json()) as {
    status: string;
    data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
    error?: string;
  };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

async function panelData(prometheus: PrometheusServer, panel: PanelJson, start: number, end: number): Promise<PanelData> {
  const defaults = panel.fieldConfig?.defaults;
  const series: Series[] = [];
  for (const target of panel.targets ?? []) {
    if (!target.expr) continue;
    for (const result of await queryRange(prometheus, substituteVariables(target.expr, RATE_WINDOW), start, end)) {
      series.push({ legend: legendOf(target.legendFormat, result.metric), points: result.values.map(([t, v]) => [t, Number(v)]) });
    }
  }
  const mappings = defaults?.mappings?.[0]?.options;
  return {
    title: panel.title,
    type: panel.type,
    unit: defaults?.unit ?? "",
    gridPos: panel.gridPos,
    series,
    ...(defaults?.min !== undefined ? { min: defaults.min } : {}),
    ...(defaults?.max !== undefined ? { max: defaults.max } : {}),
    stack: defaults?.custom?.stacking?.mode === "normal",
    ...(mappings ? { mappings: Object.fromEntries(Object.entries(mappings).map(([k, v]) => [k, v.text])) } : {}),
  };
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join(REPO_ROOT, "docs", "images", "dashboard.png"));
  const seconds = Number(process.env.PREVIEW_SECONDS ?? 150);
  const stack = await startObservedStack({
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    redisKeyPrefix: `swy-preview-${process.pid}:`,
    routingConfig: ROUTING_CONFIG,
    scrapeInterval: "1s",
  });
  const traffic = startChatTraffic(stack.gateways.map((g) => ({ url: g.url, protocolErrors: g.id === "e2e-terminate" })));
  const start = Math.floor(Date.now() / 1000);
  try {
    // A calm start, flaky links to the legacy server and the hub in the middle third, then recovery.
    process.stderr.write(`traffic for ${seconds} s…\n`);
    await sleep((seconds / 3) * 1000);
    stack.setFlaky(true);
    await sleep((seconds / 3) * 1000);
    stack.setFlaky(false);
    await sleep((seconds / 3) * 1000);
    const end = Math.floor(Date.now() / 1000);
    const dashboard = loadDashboard();
    const panels: PanelData[] = [];
    for (const panel of dashboard.panels as readonly PanelJson[]) {
      panels.push(
        panel.type === "row"
          ? { title: panel.title, type: "row", unit: "", gridPos: panel.gridPos, series: [] }
          : await panelData(stack.prometheus, panel, start, end),
      );
    }
    const clock = (seconds: number) => new Date(seconds * 1000).toISOString().slice(11, 19);
    const subtitle =
      `static preview from real Prometheus data: 2 gateways, ${traffic.stats.connects} sessions opened, ` +
      `flaky backend links in the middle third (${clock(start)}–${clock(end)} UTC); "No data": features not built yet`;
    const html = dashboardHtml(dashboard.title, subtitle, panels);
    const htmlPath = join(REPO_ROOT, ".tmp", "dashboard-preview.html");
    mkdirSync(dirname(htmlPath), { recursive: true });
    writeFileSync(htmlPath, html);
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
    try {
      const page = await browser.newPage({ viewport: { width: 1560, height: 900 }, deviceScaleFactor: 1 });
      await page.setContent(html);
      mkdirSync(dirname(out), { recursive: true });
      await page.screenshot({ path: out, fullPage: true });
    } finally {
      await browser.close();
    }
    process.stderr.write(`wrote ${out} (and ${htmlPath})\n`);
  } finally {
    await traffic.stop();
    await stack.stop();
  }
}

await main();
