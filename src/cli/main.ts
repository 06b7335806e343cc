#!/usr/bin/env node
/**
 * `switchyard`: the operator CLI for the admin API of a running gateway (any instance of a cluster).
 * See HELP below; exit codes are in admin-client.ts (EXIT).
 */
import { parseArgs } from "node:util";
import type { RoutingConfig } from "../config/routing-config.js";
import { AdminClient, CliError, EXIT } from "./admin-client.js";
import type { MismatchEvidence } from "../shadow/evidence.js";
import { formatDiffs, formatDrain, formatInstances, formatRouting, formatSessions, type DrainView, type SessionsView } from "./format.js";

const HELP = `usage: switchyard <command> [options]

commands:
  status                          the routing config and sessions per instance
  split <percent>                 send <percent> of keys (0-100, two decimals) to the hub
  drain <hub|legacy> [--percent N] close N% (default 100) of that backend's sessions, paced, on
                                  every instance; their clients reconnect under the current split
  rollback                        hubPercent 0 and drain the hub, in one call
  watch [--interval S]            a live table per instance (desired vs applied version, sessions)
  diffs [--limit N]               the last N shadow mismatches (default 10): event, session, diff

options:
  --url URL        the admin API (the gateway's OPS_PORT); default $SWITCHYARD_URL or http://127.0.0.1:9464
  --token TOKEN    the gateway's ADMIN_TOKEN, for split/drain/rollback/diffs; default $SWITCHYARD_TOKEN
  --json           print the API's JSON answer instead of text
  --interval S     watch: seconds between refreshes (default 2)
  --count N        watch: stop after N refreshes
  --limit N        diffs: how many mismatches (1-1000, default 10)
  -h, --help

exit codes: 0 ok, 1 failed, 2 usage, 3 admin API unreachable, 4 token refused or missing,
            5 version conflict, 6 invalid value, 7 routing store unavailable
`;

interface Options {
  url?: string;
  token?: string;
  percent?: string;
  interval?: string;
  count?: string;
  limit?: string;
  json?: boolean;
  help?: boolean;
}

function usage(message: string, withHelp = false): CliError {
  return new CliError(withHelp ? `${message}\n\n${HELP}` : `${message} (see switchyard --help)`, EXIT.usage);
}

function parsePercent(text: string | undefined, what: string, allowZero: boolean): number {
  const value = text === undefined ? NaN : Number(text.replace(/%$/, ""));
  const ok =
    text !== undefined &&
    text.trim() !== "" &&
    Number.isFinite(value) &&
    value <= 100 &&
    (allowZero ? value >= 0 : value > 0) &&
    Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;
  if (!ok)
    throw usage(
      `${what} must be a number ${allowZero ? "0" : "above 0"} to 100 with at most two decimals (got ${JSON.stringify(text ?? "")})`,
    );
  return value;
}

function print(options: Options, json: unknown, text: string): void {
  process.stdout.write(`${options.json === true ? JSON.stringify(json, null, 2) : text}\n`);
}

async function diffs(client: AdminClient, options: Options): Promise<void> {
  const limit = options.limit === undefined ? 10 : Number(options.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
    throw usage(`--limit must be an integer 1-1000 (got ${JSON.stringify(options.limit)})`);
  // The evidence holds user payloads: the admin API asks for the token on this read.
  const answer = await client.request<{ entries: MismatchEvidence[] }>("GET", `/admin/shadow/diffs?limit=${limit}`, { auth: true });
  print(options, answer.body, formatDiffs(answer.body.entries));
}

async function status(client: AdminClient, options: Options): Promise<void> {
  const [routing, sessions] = await Promise.all([
    client.request<RoutingConfig>("GET", "/admin/routing"),
    client.request<SessionsView>("GET", "/admin/sessions"),
  ]);
  print(options, { routing: routing.body, sessions: sessions.body }, `${formatRouting(routing.body)}\n\n${formatSessions(sessions.body)}`);
}

async function split(client: AdminClient, options: Options, percentText: string | undefined): Promise<void> {
  const hubPercent = parsePercent(percentText, "<percent>", true);
  for (let attempt = 1; ; attempt++) {
    const { body: config } = await client.request<RoutingConfig>("GET", "/admin/routing");
    try {
      const { body: updated } = await client.request<RoutingConfig>("PUT", "/admin/routing", {
        body: { ...config, hubPercent },
        ifMatch: config.version,
        auth: true,
      });
      const hint =
        hubPercent > config.hubPercent
          ? "\nopen sessions keep their backend; `switchyard drain legacy --percent N` moves some of them now"
          : "";
      print(
        options,
        updated,
        `hubPercent ${config.hubPercent}% → ${updated.hubPercent}% (config v${config.version} → v${updated.version})${hint}`,
      );
      return;
    } catch (error) {
      // Someone changed the config between our GET and PUT: read it again and retry, once.
      if (!(error instanceof CliError && error.exitCode === EXIT.conflict) || attempt >= 2) throw error;
    }
  }
}

async function drain(client: AdminClient, options: Options, backend: string | undefined): Promise<void> {
  if (backend !== "hub" && backend !== "legacy") throw usage(`drain needs a backend, hub or legacy (got ${JSON.stringify(backend ?? "")})`);
  const percent = options.percent === undefined ? 100 : parsePercent(options.percent, "--percent", false);
  const { body } = await client.request<DrainView>("POST", "/admin/drain", { body: { backend, percent }, auth: true });
  print(options, body, formatDrain(body));
}

async function rollback(client: AdminClient, options: Options): Promise<void> {
  const { body } = await client.request<{ config: RoutingConfig; drain: DrainView }>("POST", "/admin/rollback", { auth: true });
  print(options, body, `rolled back: hubPercent ${body.config.hubPercent}% (config v${body.config.version})\n${formatDrain(body.drain)}`);
}

async function watch(client: AdminClient, options: Options): Promise<void> {
  const intervalS = options.interval === undefined ? 2 : Number(options.interval);
  if (!Number.isFinite(intervalS) || intervalS < 0.1 || intervalS > 3600)
    throw usage(`--interval must be seconds between 0.1 and 3600 (got ${JSON.stringify(options.interval)})`);
  const count = options.count === undefined ? Infinity : Number(options.count);
  if (!(Number.isSafeInteger(count) && count > 0) && count !== Infinity)
    throw usage(`--count must be a positive integer (got ${JSON.stringify(options.count)})`);
  const tty = process.stdout.isTTY === true;
  let stop = false;
  process.once("SIGINT", () => {
    stop = true;
  });
  let failure: CliError | undefined;
  for (let round = 1; round <= count && !stop; round++) {
    let text: string;
    try {
      const [routing, sessions] = await Promise.all([
        client.request<RoutingConfig>("GET", "/admin/routing"),
        client.request<SessionsView>("GET", "/admin/sessions"),
      ]);
      const { body: view } = sessions;
      const store = view.store.state === "connected" ? view.store.kind : `${view.store.kind} DEGRADED (${view.store.reason ?? "?"})`;
      text =
        options.json === true
          ? JSON.stringify({ routing: routing.body, sessions: view })
          : `${new Date().toISOString()}  ${client.baseUrl}  desired v${view.desiredVersion} (hubPercent ${routing.body.hubPercent}%)  store ${store}\n${formatInstances(view)}`;
      failure = undefined;
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      // Keep watching through an outage: the table comes back with the gateway.
      failure = error;
      text = `${new Date().toISOString()}  ${error.message}`;
    }
    process.stdout.write(tty && options.json !== true ? `\x1b[2J\x1b[H${text}\n` : `${text}\n${options.json === true ? "" : "\n"}`);
    if (round < count && !stop) await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
  }
  if (failure !== undefined) throw failure;
}

async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        percent: { type: "string" },
        interval: { type: "string" },
        count: { type: "string" },
        limit: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw usage((error as Error).message, true);
  }
  const options = parsed.values as Options;
  const [command, ...rest] = parsed.positionals;
  if (options.help === true || command === "help") {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const url = options.url ?? process.env.SWITCHYARD_URL ?? "http://127.0.0.1:9464";
  try {
    new URL(url);
  } catch {
    throw usage(`--url must be a URL such as http://127.0.0.1:9464 (got ${JSON.stringify(url)})`);
  }
  const client = new AdminClient(url, options.token ?? process.env.SWITCHYARD_TOKEN);
  const expectArgs = (n: number) => {
    if (rest.length > n) throw usage(`too many arguments for ${command}: ${rest.slice(n).join(" ")}`);
  };
  switch (command) {
    case "status":
      expectArgs(0);
      await status(client, options);
      break;
    case "split":
      expectArgs(1);
      await split(client, options, rest[0]);
      break;
    case "drain":
      expectArgs(1);
      await drain(client, options, rest[0]);
      break;
    case "rollback":
      expectArgs(0);
      await rollback(client, options);
      break;
    case "watch":
      expectArgs(0);
      await watch(client, options);
      break;
    case "diffs":
      expectArgs(0);
      await diffs(client, options);
      break;
    case undefined:
      throw usage("a command is required", true);
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`, true);
  }
  return EXIT.ok;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`switchyard: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`switchyard: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);
