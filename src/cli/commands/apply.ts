/**
 * `switchyard apply -f routing.yaml [--dry-run] [--force]`: make the gateway's routing document what the file
 * says (the whole document: omitted sections take their defaults), as a compare-and-set on the file's
 * `version` (If-Match). Shows the diff first; afterwards the file's version is updated so that the next
 * edit-and-apply of the same file works.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseDocument as parseYamlDocument } from "yaml";
import type { RoutingConfig } from "../../config/routing-config.js";
import { CliError, EXIT } from "../admin-client.js";
import { stringValue, usageError, type Command, GROUPS } from "../command.js";
import { documentDiff, readDocumentFile, useColor, validDocument, versionOf, FILE_OPTION } from "../routing-document.js";

/** Rewrites only the `version` of the file (comments and layout kept); false when it cannot. */
function updateFileVersion(file: string, version: number): boolean {
  try {
    const text = readFileSync(file, "utf8");
    if (text.trimStart().startsWith("{")) {
      writeFileSync(file, `${JSON.stringify({ ...(JSON.parse(text) as object), version }, null, 2)}\n`);
      return true;
    }
    const document = parseYamlDocument(text);
    document.set("version", version);
    writeFileSync(file, document.toString());
    return true;
  } catch {
    return false;
  }
}

export const apply: Command = {
  name: "apply",
  group: GROUPS.declarative,
  usage: "apply -f FILE [--dry-run] [--force]",
  summary:
    "make the routing document what FILE says (If-Match: its version);\nshows the diff first; --dry-run " +
    "stops there; --force applies over\nwhatever version is current",
  options: {
    file: FILE_OPTION,
    "dry-run": { type: "boolean", help: "--dry-run       apply: show the diff and check the file, change nothing" },
    force: { type: "boolean", help: "--force         apply: ignore the file's version (overwrite concurrent changes)" },
  },
  async run({ client, values, options, print, program }) {
    const file = stringValue(values.file);
    if (file === undefined) throw usageError("apply needs -f FILE (a routing document, YAML or JSON; get one with get routing)");
    const document = readDocumentFile(file);
    const wanted = validDocument(document, file);
    const { body: current } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const fileVersion = versionOf(document);
    if (fileVersion === undefined && values.force !== true)
      throw usageError(`${file} has no version: add the version you started from (\`${program} get routing\` shows it), or pass --force`);
    const base = values.force === true ? current.version : fileVersion!;
    const text = documentDiff(current, wanted, [`${client.baseUrl} (v${current.version})`, file], useColor());
    if (text === "") {
      print({ applied: false, config: current }, `unchanged: ${client.baseUrl} already has what ${file} says (v${current.version})`);
      return;
    }
    if (values["dry-run"] === true) {
      const note =
        base === current.version
          ? `dry run: nothing applied; applying would store v${current.version + 1}`
          : `dry run: nothing applied; applying would be refused: ${file} is based on v${base}, the gateway has v${current.version}`;
      print({ applied: false, dryRun: true, current, wanted }, `${text}\n${note}`);
      return;
    }
    if (options.json !== true) process.stdout.write(`${text}\n`);
    let stored: RoutingConfig;
    try {
      ({ body: stored } = await client.request<RoutingConfig>("PUT", "/admin/routing", { body: wanted, ifMatch: base, auth: true }));
    } catch (error) {
      if (error instanceof CliError && error.exitCode === EXIT.conflict)
        throw new CliError(
          `${error.message}\n${file} is based on v${base}; see what changed with \`${program} ` +
            `diff -f ${file}\`, then \`${program} get routing\` again and redo your edit`,
          EXIT.conflict,
        );
      throw error;
    }
    const updated = file !== "-" && updateFileVersion(file, stored.version);
    print(
      { applied: true, config: stored },
      `applied: routing config v${current.version} → v${stored.version}${updated ? ` (${file} now says version: ${stored.version})` : ""}`,
    );
  },
};
