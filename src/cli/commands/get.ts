/** `switchyard get routing [-o yaml|json]`: the routing document, ready to edit and `apply -f`. */
import type { RoutingConfig } from "../../config/routing-config.js";
import { stringValue, usageError, type Command, GROUPS } from "../command.js";
import { toJson, toYaml } from "../routing-document.js";

export const get: Command = {
  name: "get",
  group: GROUPS.declarative,
  usage: "get routing [-o yaml|json]",
  summary: "print the routing document (YAML by default), with its version:\nsave it, edit it, then apply -f it",
  options: { output: { type: "string", short: "o", help: "-o, --output F   get: yaml (default) or json" } },
  maxArgs: 1,
  async run({ client, args, values, options, program }) {
    if (args[0] !== "routing") throw usageError(`get needs what to get: routing (got ${JSON.stringify(args[0] ?? "")})`);
    const format = stringValue(values.output) ?? (options.json === true ? "json" : "yaml");
    if (format !== "yaml" && format !== "json") throw usageError(`-o must be yaml or json (got ${JSON.stringify(format)})`);
    const { body } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const header =
      `The routing document of ${client.baseUrl}. Edit it, then: ${program} apply -f <this file>\n(\`version\` is ` +
      `the one you started from: a change made meanwhile by someone else is refused). Reference: docs/routing.md`;
    process.stdout.write(format === "json" ? toJson(body) : toYaml(body, header));
  },
};
