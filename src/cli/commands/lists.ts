/** `switchyard lists [add|remove] <always-hub|never-hub> KEY...`: keys pinned to a backend whatever the split. */
import type { RoutingConfig } from "../../config/routing-config.js";
import { usageError, type Command, GROUPS } from "../command.js";
import { changeRouting } from "../routing-change.js";

const LISTS = { "always-hub": "alwaysHub", "never-hub": "neverHub" } as const;

export const lists: Command = {
  name: "lists",
  group: GROUPS.routing,
  usage: "lists [add|remove always-hub|never-hub KEY...]",
  summary: "show, or add/remove routing keys that always (never) go to the hub,\nwhatever the split (e.g. testers, a big customer)",
  maxArgs: 102,
  async run(context) {
    const { client, args, print } = context;
    const [verb, which, ...keys] = args;
    if (verb === undefined) {
      const { body } = await client.request<RoutingConfig>("GET", "/admin/routing");
      const show = (keys: readonly string[]) => (keys.length === 0 ? "(none)" : keys.join(", "));
      print(body.lists, `always on the hub: ${show(body.lists.alwaysHub)}\nnever on the hub:  ${show(body.lists.neverHub)}`);
      return;
    }
    const field = LISTS[which as keyof typeof LISTS];
    if ((verb !== "add" && verb !== "remove") || field === undefined || keys.length === 0)
      throw usageError("lists needs add|remove, always-hub|never-hub and at least one key");
    await changeRouting(context, (current) => {
      const now = current.lists[field];
      const next = verb === "add" ? [...now, ...keys.filter((key) => !now.includes(key))] : now.filter((key) => !keys.includes(key));
      return next.length === now.length ? undefined : { lists: { [field]: next } };
    });
  },
};
