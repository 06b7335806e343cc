/** `npm run bench` flags: parsed and checked once; a sweep (`--clients 1000,2000`) is one BenchOptions per N. */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export interface BenchOptions {
  readonly clients: number;
  readonly rooms: number;
  /** Target deliveries per second. */
  readonly rate: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly loadgens: number;
  readonly rampPerSec: number;
  readonly payloadBytes: number;
  readonly pollingShare: number;
  readonly setups: readonly string[] | undefined;
  readonly out: string;
  /** Run the front process under --cpu-prof (diagnostics only: profiling costs CPU). */
  readonly profile: boolean;
}

export interface StormOptions {
  /** Clients that connect within the window, on each setup. */
  readonly clients: number;
  readonly windowSeconds: number;
  /** Reconnection attempts after which a client gives up (socket.io-client's reconnectionAttempts). */
  readonly attempts: number;
  readonly loadgens: number;
}

export interface RunPlan {
  /** One steady-state run per N (empty with --storm-only). */
  readonly runs: readonly BenchOptions[];
  readonly storm: StormOptions | undefined;
  readonly setups: readonly string[] | undefined;
  readonly out: string;
  /** --profile: every front process (runs and storms) under the CPU profiler. */
  readonly profile: boolean;
}

export const USAGE = `usage: npm run bench -- [--clients N[,N2,...]] [--rooms R] [--rate deliveries/s] [--warmup S] [--duration S]
                      [--loadgens K] [--ramp connects/s] [--payload bytes] [--polling share 0..1]
                      [--setups direct,passthrough,switchyard-pipe,switchyard-terminate,...] [--out dir]
                      [--storm N [--storm-window S] [--storm-attempts A]] [--storm-only]
                      [--profile]   (front process under --cpu-prof, profiles in <out>/profiles; skews CPU)`;

/** Load generators for n clients: each holds far fewer than the 20,000 descriptors a process may hold. */
const loadgensFor = (clients: number) => Math.max(2, Math.min(8, Math.ceil(clients / 1_250)));

export function parseOptions(argv: string[]): RunPlan {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: "string" },
      rooms: { type: "string" },
      rate: { type: "string" },
      warmup: { type: "string" },
      duration: { type: "string" },
      loadgens: { type: "string" },
      ramp: { type: "string" },
      payload: { type: "string" },
      polling: { type: "string" },
      setups: { type: "string" },
      out: { type: "string" },
      storm: { type: "string" },
      "storm-window": { type: "string" },
      "storm-attempts": { type: "string" },
      "storm-only": { type: "boolean" },
      profile: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const numberOf = (name: string, raw: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max)
      throw new Error(`--${name} must be a number in [${min}, ${max}] (got ${raw})`);
    return value;
  };
  const number = (name: keyof typeof values, fallback: number, min: number, max?: number): number =>
    numberOf(name, values[name] as string | undefined, fallback, min, max);
  const list = (raw: string | undefined) =>
    raw
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const sweep = (list(values.clients) ?? ["1000"]).map((n) => Math.round(numberOf("clients", n, 1_000, 1, 20_000)));
  const setups = list(values.setups);
  const out = values.out ?? fileURLToPath(new URL("../../bench/results/", import.meta.url));
  const runs = sweep.map(
    (clients): BenchOptions => ({
      clients,
      rooms: Math.round(number("rooms", Math.max(1, Math.round(clients / 10)), 1, clients)),
      rate: number("rate", clients, 0.1),
      warmupSeconds: number("warmup", 10, 0),
      durationSeconds: number("duration", 30, 1),
      loadgens: Math.round(number("loadgens", loadgensFor(clients), 1, 64)),
      rampPerSec: number("ramp", 500, 1),
      payloadBytes: Math.round(number("payload", 64, 20, 1_000_000)),
      pollingShare: number("polling", 0, 0, 1),
      setups,
      out,
      profile: values.profile === true,
    }),
  );
  const stormClients = values.storm === undefined ? undefined : Math.round(number("storm", 5_000, 1, 20_000));
  if (values["storm-only"] === true && stormClients === undefined) throw new Error("--storm-only needs --storm N");
  const storm =
    stormClients === undefined
      ? undefined
      : {
          clients: stormClients,
          windowSeconds: number("storm-window", 10, 0.1),
          attempts: Math.round(number("storm-attempts", 5, 1, 1_000)),
          loadgens: Math.round(number("loadgens", loadgensFor(stormClients), 1, 64)),
        };
  return { runs: values["storm-only"] === true ? [] : runs, storm, setups, out, profile: values.profile === true };
}
