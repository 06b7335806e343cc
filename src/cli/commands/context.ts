/** `switchyard context [NAME]`: the saved contexts (the current one starred), or switch to NAME. */
import { GROUPS, type Command } from "../command.js";
import { CliError, EXIT } from "../admin-client.js";
import { CliConfigError, cliConfigPath, displayPath, readCliConfig, useContext } from "../cli-config.js";
import { table } from "../format.js";

export const context: Command = {
  name: "context",
  group: GROUPS.connection,
  usage: "context [NAME]",
  summary: "list the saved contexts (see login), or make NAME the current one",
  maxArgs: 1,
  local: true,
  async run({ args, print, program }) {
    const path = cliConfigPath();
    try {
      if (args[0] !== undefined) {
        useContext(path, args[0]);
        const config = readCliConfig(path);
        print(config.contexts[args[0]], `now using context "${args[0]}" (${config.contexts[args[0]]?.url})`);
        return;
      }
      const config = readCliConfig(path);
      const names = Object.keys(config.contexts);
      const rows = names.map((name) => [
        name === config.current ? "*" : "",
        name,
        config.contexts[name]!.url,
        config.contexts[name]!.token === undefined ? "none" : "saved",
      ]);
      print(
        {
          file: path,
          current: config.current,
          contexts: Object.fromEntries(names.map((name) => [name, { url: config.contexts[name]!.url }])),
        },
        names.length === 0
          ? `no saved contexts in ${displayPath(path)}; save one with \`${program} login --url URL --token TOKEN\``
          : `${displayPath(path)}\n${table(["CURRENT", "NAME", "URL", "TOKEN"], rows)}`,
      );
    } catch (error) {
      if (error instanceof CliConfigError) throw new CliError(error.message, EXIT.usage);
      throw error;
    }
  },
};
