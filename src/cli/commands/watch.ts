/** `switchyard watch`: a live table per instance, redrawn in place on a terminal, until Ctrl-C or --count. */
import type { RoutingConfig } from "../../config/routing-config.js";
import { CliError } from "../admin-client.js";
import { integerOption, stringValue, usageError, type Command, type CommandContext, GROUPS } from "../command.js";
import { formatInstances, type SessionsView } from "../format.js";
import { formatRollout } from "../format-rollout.js";
import type { RolloutStatus } from "../../rollout/controller.js";

async function frame({ client, options }: CommandContext): Promise<string> {
  const [routing, sessions, rollout] = await Promise.all([
    client.request<RoutingConfig>("GET", "/admin/routing"),
    client.request<SessionsView>("GET", "/admin/sessions", { auth: true }),
    // A gateway without the rollout endpoints (an older version) simply shows no rollout.
    client.request<RolloutStatus>("GET", "/admin/rollout").catch(() => undefined),
  ]);
  const { body: view } = sessions;
  if (options.json === true) return JSON.stringify({ routing: routing.body, sessions: view, rollout: rollout?.body });
  const progress = rollout?.body.rollout == null ? "" : `\n${formatRollout(rollout.body)}`;
  const store = view.store.state === "connected" ? view.store.kind : `${view.store.kind} DEGRADED (${view.store.reason ?? "?"})`;
  return (
    `${new Date().toISOString()}  ${client.baseUrl}  desired v${view.desiredVersion} ` +
    `(hubPercent ${routing.body.hubPercent}%)  store ${store}\n${formatInstances(view)}${progress}`
  );
}

export const watch: Command = {
  name: "watch",
  group: GROUPS.traffic,
  usage: "watch [--interval S] [--count N]",
  summary:
    "a live table per instance (desired vs applied version, sessions);\na rollout's step, weight, gates against their limits, next check",
  options: {
    interval: { type: "string", help: "--interval S    watch: seconds between refreshes (default 2)" },
    count: { type: "string", help: "--count N       watch: stop after N refreshes" },
  },
  async run(context) {
    const { options, values } = context;
    const intervalText = stringValue(values.interval);
    const intervalS = intervalText === undefined ? 2 : Number(intervalText);
    if (!Number.isFinite(intervalS) || intervalS < 0.1 || intervalS > 3600)
      throw usageError(`--interval must be seconds between 0.1 and 3600 (got ${JSON.stringify(intervalText)})`);
    const count = integerOption(values.count, "count", 1, Number.MAX_SAFE_INTEGER, Infinity);
    const tty = process.stdout.isTTY === true;
    let stop = false;
    process.once("SIGINT", () => {
      stop = true;
    });
    let failure: CliError | undefined;
    for (let round = 1; round <= count && !stop; round++) {
      let text: string;
      try {
        text = await frame(context);
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
  },
};
