/** `switchyard diffs [--limit N]`: the newest shadow mismatches with their structural diff. */
import type { MismatchEvidence } from "../../shadow/evidence.js";
import { integerOption, type Command, GROUPS } from "../command.js";
import { formatDiffs } from "../format.js";

export const diffs: Command = {
  name: "diffs",
  group: GROUPS.shadow,
  usage: "diffs [--limit N]",
  summary: "the last N shadow mismatches (default 10): event, session, diff",
  options: { limit: { type: "string", help: "--limit N       diffs: how many mismatches (1-1000, default 10)" } },
  async run({ client, values, print }) {
    const limit = integerOption(values.limit, "limit", 1, 1000, 10);
    // The evidence holds user payloads: the admin API asks for the token on this read.
    const answer = await client.request<{ entries: MismatchEvidence[] }>("GET", `/admin/shadow/diffs?limit=${limit}`, { auth: true });
    print(answer.body, formatDiffs(answer.body.entries));
  },
};
