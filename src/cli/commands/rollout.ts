/**
 * `switchyard rollout start -f plan.yaml|json`, `rollout status|pause|resume|promote [--full]|abort`: the
 * progressive rollout's controls (docs/rollout.md). Any instance takes them; every instance shows them
 * within the store's propagation time.
 */
import type { RolloutStatus } from "../../rollout/controller.js";
import type { RolloutSection } from "../../rollout/rollout-section.js";
import { stringValue, usageError, type Command, GROUPS } from "../command.js";
import { formatRollout } from "../format-rollout.js";
import { FILE_OPTION, readDocumentFile } from "../routing-document.js";

const ACTIONS = ["start", "status", "pause", "resume", "promote", "abort"] as const;

interface CommandAnswer {
  readonly changed: boolean;
  readonly summary: string;
  readonly rollout: RolloutSection;
  readonly version: number;
}

export const rollout: Command = {
  name: "rollout",
  group: GROUPS.traffic,
  usage: "rollout start -f PLAN | status | pause | resume | promote [--full] | abort",
  summary:
    "a progressive rollout: steps of the hub's share, each judged by gates\n" +
    "(start -f plan.yaml|json; promote: the next step now, --full: 100%)",
  maxArgs: 1,
  options: {
    file: FILE_OPTION,
    full: { type: "boolean", help: "--full          rollout promote: straight to 100%" },
  },
  async run({ client, args, values, print, program }) {
    const action = args[0] ?? "status";
    if (!(ACTIONS as readonly string[]).includes(action))
      throw usageError(`rollout takes one of ${ACTIONS.join(", ")} (got ${JSON.stringify(action)})`);
    if (values.full === true && action !== "promote") throw usageError("--full goes with rollout promote");
    if (action === "status") {
      const { body } = await client.request<RolloutStatus>("GET", "/admin/rollout");
      return print(body, formatRollout(body));
    }
    if (action === "start") {
      const file = stringValue(values.file);
      if (file === undefined) throw usageError("rollout start needs -f FILE (a rollout plan, YAML or JSON; see docs/rollout.md)");
      const { body } = await client.request<{ rollout: RolloutSection; version: number }>("POST", "/admin/rollout", {
        body: readDocumentFile(file),
        auth: true,
      });
      return print(body, `started: ${body.rollout.state.reason} (config v${body.version}); follow it with \`${program} watch\``);
    }
    const path = `/admin/rollout/${action}`;
    const { body } = await client.request<CommandAnswer>("POST", path, {
      auth: true,
      ...(values.full === true ? { body: { full: true } } : {}),
    });
    print(body, `${body.changed ? "" : "no change: "}${body.summary} (config v${body.version})`);
  },
};
