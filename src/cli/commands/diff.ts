/**
 * `switchyard diff -f routing.yaml`: what applying the file would change, as a unified diff (as `kubectl
 * diff`): exit 0 when the gateway already has it, 1 when it differs.
 */
import type { RoutingConfig } from "../../config/routing-config.js";
import { CliError, EXIT } from "../admin-client.js";
import { stringValue, usageError, type Command, GROUPS } from "../command.js";
import { documentDiff, readDocumentFile, useColor, validDocument, FILE_OPTION } from "../routing-document.js";

export const diff: Command = {
  name: "diff",
  group: GROUPS.declarative,
  usage: "diff -f FILE",
  summary: "what apply -f FILE would change, as a unified diff; exit 1 when\nthere are differences, 0 when there are none",
  options: { file: FILE_OPTION },
  async run({ client, values, print }) {
    const file = stringValue(values.file);
    if (file === undefined) throw usageError("diff needs -f FILE (a routing document, YAML or JSON)");
    const wanted = validDocument(readDocumentFile(file), file);
    const { body: current } = await client.request<RoutingConfig>("GET", "/admin/routing");
    const text = documentDiff(current, wanted, [`${client.baseUrl} (v${current.version})`, file], useColor());
    print({ current, wanted, differs: text !== "" }, text === "" ? `no differences: ${client.baseUrl} has what ${file} says` : text);
    if (text !== "") throw new CliError("", EXIT.failed);
  },
};
