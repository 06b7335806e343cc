/**
 * `switchyard patch '<merge patch>'` (or `-f FILE`): change some fields of the routing document and keep
 * every other, as `kubectl patch --type merge`; `null` resets a field to its default (RFC 7396).
 */
import { stringValue, usageError, type Command, GROUPS } from "../command.js";
import { changeRouting } from "../routing-change.js";
import { parseDocument, readDocumentFile, FILE_OPTION } from "../routing-document.js";

export const patch: Command = {
  name: "patch",
  group: GROUPS.declarative,
  usage: "patch '<JSON or YAML>' | -f FILE",
  summary:
    "change only the fields given (a JSON Merge Patch, RFC 7396), e.g.\n" +
    '\'{"overrides": {"enabled": true}}\'; null resets a field to its default',
  options: { file: FILE_OPTION },
  maxArgs: 1,
  async run(context) {
    const file = stringValue(context.values.file);
    const text = context.args[0];
    if ((file === undefined) === (text === undefined)) throw usageError("patch needs the patch, as an argument or with -f FILE (not both)");
    const document = file !== undefined ? readDocumentFile(file) : parseDocument(text!, "the patch");
    if (document === null || typeof document !== "object" || Array.isArray(document))
      throw usageError('a patch is an object with the fields to change, e.g. {"hubPercent": 10}');
    await changeRouting(context, () => document as object);
  },
};
