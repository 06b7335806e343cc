/** `switchyard drain <hub|legacy> [--percent N]`: close that share of the backend's sessions, paced, on every instance. */
import { parsePercent, stringValue, usageError, PERCENT_OPTION, type Command, GROUPS } from "../command.js";
import { formatDrain, type DrainView } from "../format.js";

export const drain: Command = {
  name: "drain",
  group: GROUPS.traffic,
  usage: "drain <hub|legacy> [--percent N]",
  summary: "close N% (default 100) of that backend's sessions, paced, on\nevery instance; their clients reconnect under the current split",
  options: { percent: PERCENT_OPTION },
  maxArgs: 1,
  async run({ client, args, values, print }) {
    const backend = args[0];
    if (backend !== "hub" && backend !== "legacy")
      throw usageError(`drain needs a backend, hub or legacy (got ${JSON.stringify(backend ?? "")})`);
    const percentText = stringValue(values.percent);
    const percent = percentText === undefined ? 100 : parsePercent(percentText, "--percent", false);
    const { body } = await client.request<DrainView>("POST", "/admin/drain", { body: { backend, percent }, auth: true });
    print(body, formatDrain(body));
  },
};
