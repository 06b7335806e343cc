/**
 * `switchyard login --url URL --token TOKEN [--context NAME]`: checks the token against the gateway and saves
 * both as a context (the current one), so that later commands need neither (see ../cli-config.ts).
 */
import { AdminClient } from "../admin-client.js";
import { cliConfigPath, displayPath, saveContext } from "../cli-config.js";
import { usageError, type Command, GROUPS } from "../command.js";

export const login: Command = {
  name: "login",
  group: GROUPS.connection,
  usage: "login --url URL --token TOKEN [--context NAME]",
  summary: "check the token against that gateway and save both as a context\n(default name: default), the one later commands use",
  local: true,
  async run({ options, print, program }) {
    if (options.url === undefined) throw usageError("login needs --url (the gateway's admin API, its OPS_PORT)");
    const token = options.token ?? process.env.SWITCHYARD_TOKEN;
    if (token === undefined || token === "") throw usageError("login needs --token (the gateway's ADMIN_TOKEN) or SWITCHYARD_TOKEN");
    const name = options.context ?? "default";
    const client = new AdminClient(options.url, token, program);
    // An authenticated read: it proves the URL is an admin API and the token is accepted, and changes nothing.
    await client.request("GET", "/admin/shadow/diffs?limit=1", { auth: true });
    const path = cliConfigPath();
    saveContext(path, name, { url: client.baseUrl, token });
    print(
      { context: name, url: client.baseUrl, file: path },
      `logged in to ${client.baseUrl}: saved as context "${name}" in ${displayPath(path)} (now the current context)`,
    );
  },
};
