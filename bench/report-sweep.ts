/** The tables across a sweep's N (cost per delivery and per session as N grows) and the storm table. */
import { fixed, front, int, kib, ms, ratio, table, type BenchRun, type SetupResult } from "./report.js";
import type { StormResult } from "./storm.js";

/** One row per setup, one column group per N: front CPU s per 1k deliveries, front RSS per session, p99. */
export function formatSweep(runs: readonly BenchRun[]): string {
  const ids: string[] = [];
  const names = new Map<string, string>();
  for (const run of runs)
    for (const s of run.setups)
      if (!names.has(s.id)) {
        ids.push(s.id);
        names.set(s.id, s.name);
      }
  const cell = (s: SetupResult | undefined, pick: (s: SetupResult) => string) => (s === undefined || !s.ok ? "–" : pick(s));
  const header = ["setup", ...runs.flatMap((r) => [`N=${int(r.clients)} joined`, "CPU s/1k", "RSS/session KiB", "p99 ms"])];
  const rows = ids.map((id) => [
    names.get(id) ?? id,
    ...runs.flatMap((run) => {
      const s = run.setups.find((x) => x.id === id);
      return [
        s === undefined ? "–" : `${int(s.clients.joined)}`,
        cell(s, (x) => fixed(front(x)?.cpuSecondsPer1kDelivered, 4)),
        cell(s, (x) => kib(front(x)?.rssPerSessionBytes ?? null)),
        cell(s, (x) => ms(x.latencyMs?.p99)),
      ];
    }),
  ]);
  return `How cost grows with N (front process; "–": did not run or failed)\n${table(header, rows)}`;
}

export function formatStorms(storms: readonly StormResult[]): string {
  const direct = storms.find((s) => s.id === "direct" && s.ok);
  const rows = storms.map((s) => [
    s.ok ? s.name : `${s.name} (FAILED: ${(s.error ?? "").split("\n")[0]})`,
    `${int(s.joined)}/${int(s.requested)}`,
    int(s.gaveUp),
    int(s.retries),
    ms(s.handshakeMs?.p50),
    ms(s.handshakeMs?.p99),
    ms(s.handshakeMs?.max),
    ratio(s.handshakeMs?.p50, direct?.handshakeMs?.p50),
    ratio(s.handshakeMs?.p99, direct?.handshakeMs?.p99),
    fixed(s.seconds, 1),
    fixed(s.cpuSeconds, 2),
    fixed(s.loadgenCpuSeconds, 2),
    fixed(s.hostBusyCores, 2),
    fixed(s.frontRunQueueWaitSeconds, 2),
    s.listenOverflows === undefined || s.listenOverflows === null ? "–" : int(s.listenOverflows),
  ]);
  const requested = storms[0]?.requested ?? 0;
  return (
    `Connection storm: ${int(requested)} clients starting within the window on each setup\n` +
    table(
      [
        "setup",
        "joined",
        "gave up",
        "retries",
        "handshake p50 ms",
        "p99 ms",
        "max ms",
        "p50 × direct",
        "p99 × direct",
        "all settled s",
        "front CPU s",
        "loadgen CPU s",
        "host busy cores",
        "front CPU wait s",
        "listen overflows",
      ],
      rows,
    )
  );
}
