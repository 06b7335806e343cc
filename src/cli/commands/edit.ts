/**
 * `switchyard edit`: the routing document in $VISUAL / $EDITOR (default vi), as `kubectl edit`: saved
 * unchanged cancels; a change is shown as a diff and PUT with If-Match (the version opened); an invalid
 * file is kept, with the problems, for `apply -f`.
 */
import { GROUPS, type Command } from "../command.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RoutingConfig } from "../../config/routing-config.js";
import { CliError, EXIT } from "../admin-client.js";
import { documentDiff, parseDocument, toYaml, useColor, validDocument } from "../routing-document.js";

export const edit: Command = {
  name: "edit",
  group: GROUPS.declarative,
  usage: "edit",
  summary:
    "open the routing document in $VISUAL or $EDITOR (default vi); on save,\nshow the diff and apply it (If-Match: the version opened)",
  async run({ client, print, program }) {
    const { body: current } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const dir = mkdtempSync(join(tmpdir(), "switchyard-edit-"));
    const file = join(dir, "routing.yaml");
    const header =
      `Edit the routing document of ${client.baseUrl} (version ${current.version}) and save to ` +
      `apply it.\nSaving it unchanged, or an empty file, cancels. Reference: docs/routing.md`;
    const original = toYaml(current, header);
    writeFileSync(file, original, { mode: 0o600 });
    const editor = process.env.VISUAL || process.env.EDITOR || "vi";
    // Through a shell: EDITOR may carry arguments ("code --wait").
    const result = spawnSync("sh", ["-c", `${editor} "$1"`, "sh", file], { stdio: "inherit" });
    if (result.status !== 0)
      throw new CliError(`the editor (${editor}) exited with ${result.status ?? result.signal}; nothing applied`, EXIT.failed);
    const text = readFileSync(file, "utf8");
    if (text === original || text.trim() === "") {
      rmSync(dir, { recursive: true, force: true });
      print({ applied: false }, "edit cancelled, no changes made");
      return;
    }
    let wanted: RoutingConfig;
    try {
      wanted = validDocument({ ...(parseDocument(text, file) as object), version: current.version }, file);
    } catch (error) {
      if (error instanceof CliError)
        throw new CliError(
          `${error.message}\nyour edit is kept in ${file}: fix it and run \`${program} apply -f ${file}\``,
          error.exitCode,
        );
      throw error;
    }
    const diff = documentDiff(current, wanted, [`${client.baseUrl} (v${current.version})`, "edited"], useColor());
    if (diff === "") {
      rmSync(dir, { recursive: true, force: true });
      print({ applied: false }, "edit cancelled, no changes made");
      return;
    }
    process.stdout.write(`${diff}\n`);
    try {
      const { body: stored } = await client.request<RoutingConfig>("PUT", "/admin/routing", {
        body: wanted,
        ifMatch: current.version,
        auth: true,
      });
      rmSync(dir, { recursive: true, force: true });
      print(stored, `applied: routing config v${current.version} → v${stored.version}`);
    } catch (error) {
      if (error instanceof CliError)
        throw new CliError(
          `${error.message}\nyour edit is kept in ${file} (\`${program} apply -f ${file}\` after a new get)`,
          error.exitCode,
        );
      throw error;
    }
  },
};
