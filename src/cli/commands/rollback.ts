/** `switchyard rollback`: hubPercent 0 and a drain of the hub, in one audited call. */
import { GROUPS, type Command } from "../command.js";
import type { RoutingConfig } from "../../config/routing-config.js";
import { formatDrain, type DrainView } from "../format.js";

export const rollback: Command = {
  name: "rollback",
  group: GROUPS.traffic,
  usage: "rollback",
  summary: "hubPercent 0 and drain the hub, in one call",
  async run({ client, print }) {
    const { body } = await client.request<{ config: RoutingConfig; drain: DrainView }>("POST", "/admin/rollback", { auth: true });
    print(body, `rolled back: hubPercent ${body.config.hubPercent}% (config v${body.config.version})\n${formatDrain(body.drain)}`);
  },
};
