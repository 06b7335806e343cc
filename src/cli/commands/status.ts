/** `switchyard status`: the routing document in short, and the sessions per backend and instance. */
import type { RoutingConfig } from "../../config/routing-config.js";
import type { Command } from "../command.js";
import { formatRouting, formatSessions, type SessionsView } from "../format.js";

export const status: Command = {
  name: "status",
  usage: "status",
  summary: "the routing config and sessions per instance",
  async run({ client, print }) {
    const [routing, sessions] = await Promise.all([
      client.request<RoutingConfig>("GET", "/admin/routing"),
      client.request<SessionsView>("GET", "/admin/sessions"),
    ]);
    print({ routing: routing.body, sessions: sessions.body }, `${formatRouting(routing.body)}\n\n${formatSessions(sessions.body)}`);
  },
};
