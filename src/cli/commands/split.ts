/** `switchyard split <percent>`: GET the routing document, PUT it back with the new hubPercent (If-Match). */
import type { RoutingConfig } from "../../config/routing-config.js";
import { CliError, EXIT } from "../admin-client.js";
import { parsePercent, type Command, GROUPS } from "../command.js";

export const split: Command = {
  name: "split",
  group: GROUPS.traffic,
  usage: "split <percent>",
  summary: "send <percent> of keys (0-100, two decimals) to the hub",
  maxArgs: 1,
  async run({ client, args, print, program }) {
    const hubPercent = parsePercent(args[0], "<percent>", true);
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
            ? `\nopen sessions keep their backend; \`${program} drain legacy --percent N\` moves some of them now`
            : "";
        print(
          updated,
          `hubPercent ${config.hubPercent}% → ${updated.hubPercent}% (config v${config.version} → v${updated.version})${hint}`,
        );
        return;
      } catch (error) {
        // Someone changed the config between our GET and PUT: read it again and retry, once.
        if (!(error instanceof CliError && error.exitCode === EXIT.conflict) || attempt >= 2) throw error;
      }
    }
  },
};
