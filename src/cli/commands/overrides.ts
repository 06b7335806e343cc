/**
 * `switchyard overrides [on|off]`: let clients from the trusted networks pick their backend (a header,
 * cookie or query parameter `switchyard-backend: hub`), for testers; see docs/routing.md.
 */
import type { RoutingConfig } from "../../config/routing-config.js";
import { usageError, type Command, GROUPS } from "../command.js";
import { changeRouting } from "../routing-change.js";

export const overrides: Command = {
  name: "overrides",
  group: GROUPS.routing,
  usage: "overrides [on|off]",
  summary: "show, or turn on/off, backend overrides by trusted clients\n(x-switchyard-backend: hub, from overrides.trustedNetworks)",
  maxArgs: 1,
  async run(context) {
    const { client, args, print } = context;
    const [action] = args;
    if (action === undefined) {
      const { body } = await client.request<RoutingConfig>("GET", "/admin/routing");
      const { overrides: o } = body;
      print(
        o,
        `overrides: ${o.enabled ? "on" : "off"}\n  sources: ${o.sources.join(", ")}\n` +
          `  trusted: ${o.trustedNetworks.join(", ") || "(none)"}`,
      );
      return;
    }
    if (action !== "on" && action !== "off") throw usageError(`overrides takes on or off (got ${JSON.stringify(action)})`);
    const enabled = action === "on";
    await changeRouting(context, (current) => (current.overrides.enabled === enabled ? undefined : { overrides: { enabled } }));
  },
};
