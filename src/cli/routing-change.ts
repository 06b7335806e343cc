/**
 * Partial changes of the routing document from the CLI (shadow, lists, overrides, patch): a JSON Merge Patch
 * (PATCH /admin/routing) computed from the document as read, sent with If-Match so that it applies to what
 * was read; on a conflict it reads again and recomputes, once. Prints what changed, field by field.
 */
import { diffRoutingConfigs, type RoutingConfig } from "../config/routing-config.js";
import { CliError, EXIT } from "./admin-client.js";
import type { CommandContext } from "./command.js";

export const MERGE_PATCH = "application/merge-patch+json";

/** `makePatch` returns the merge patch for the current document, or undefined when nothing needs changing. */
export async function changeRouting(
  context: CommandContext,
  makePatch: (current: RoutingConfig) => object | undefined,
): Promise<RoutingConfig> {
  const { client, print } = context;
  for (let attempt = 1; ; attempt++) {
    const { body: current } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const patch = makePatch(current);
    if (patch === undefined) {
      print(current, `unchanged: routing config v${current.version} already says so`);
      return current;
    }
    try {
      const { body: updated } = await client.request<RoutingConfig>("PATCH", "/admin/routing", {
        body: patch,
        ifMatch: current.version,
        auth: true,
        contentType: MERGE_PATCH,
      });
      const changes = diffRoutingConfigs(current, updated);
      print(
        updated,
        changes.length === 0
          ? `unchanged: routing config v${updated.version}`
          : [`routing config v${current.version} → v${updated.version}`, ...changes.map((change) => `  ${change}`)].join("\n"),
      );
      return updated;
    } catch (error) {
      // Someone changed the document between our read and our write: read it again and recompute, once.
      if (!(error instanceof CliError && error.exitCode === EXIT.conflict) || attempt >= 2) throw error;
    }
  }
}
