/**
 * `switchyard shadow`: the shadow settings and noise rules (docs/shadowing.md), changed field by field with
 * a merge patch, so that nothing else in the routing document moves:
 *   shadow [status] | on [--percent N] | off | percent N
 *   shadow rule add EVENT [--ignore PATHS] [--namespace NSP] [--tolerance X] [--unordered PATHS|true]
 *   shadow rule remove EVENT [--namespace NSP]
 */
import type { RoutingConfig, ShadowRule } from "../../config/routing-config.js";
import { parsePercent, stringValue, usageError, PERCENT_OPTION, type Command, type CommandContext, GROUPS } from "../command.js";
import { table } from "../format.js";
import { changeRouting } from "../routing-change.js";

const list = (text: string | undefined) =>
  text === undefined
    ? []
    : text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");

function ruleOf(context: CommandContext, event: string): ShadowRule {
  const { values } = context;
  const namespace = stringValue(values.namespace);
  const toleranceText = stringValue(values.tolerance);
  const tolerance = toleranceText === undefined ? 0 : Number(toleranceText);
  if (!Number.isFinite(tolerance) || tolerance < 0)
    throw usageError(`--tolerance must be a number 0 or more (got ${JSON.stringify(toleranceText)})`);
  const unorderedText = stringValue(values.unordered);
  const unordered = unorderedText === undefined ? false : unorderedText === "true" ? true : list(unorderedText);
  return { event, ...(namespace === undefined ? {} : { namespace }), ignore: list(stringValue(values.ignore)), tolerance, unordered };
}

const sameTarget = (a: ShadowRule, event: string, namespace: string | undefined) => a.event === event && a.namespace === namespace;

export function formatShadow(config: RoutingConfig): string {
  const { shadow } = config;
  const rows = shadow.rules.map((rule) => [
    rule.event,
    rule.namespace ?? "(any)",
    rule.ignore.join(", ") || "-",
    String(rule.tolerance),
    rule.unordered === true ? "every array" : rule.unordered === false ? "-" : rule.unordered.join(", "),
  ]);
  return [
    `shadow: ${shadow.percent}% of sessions (routing config v${config.version}); ` +
      `window ${shadow.windowMs} ms; at most ${shadow.maxPending} pending per instance`,
    rows.length === 0 ? "no noise rules" : table(["EVENT", "NAMESPACE", "IGNORE", "TOLERANCE", "UNORDERED"], rows),
  ].join("\n");
}

export const shadow: Command = {
  name: "shadow",
  group: GROUPS.shadow,
  usage: "shadow [status|on|off|percent N|rule add EVENT|rule remove EVENT]",
  summary:
    "show or change shadowing, and only that: on (100%, or --percent N), off,\npercent N; rule add EVENT --ignore ts,id " +
    "[--namespace /x] [--tolerance X]\n[--unordered a,b|true]; rule remove EVENT",
  options: {
    percent: PERCENT_OPTION,
    ignore: { type: "string", help: "--ignore PATHS   shadow rule add: comma-separated dot paths to overlook (ts,items.*.id)" },
    namespace: { type: "string", help: "--namespace NSP  shadow rule add/remove: only in this namespace" },
    tolerance: { type: "string", help: "--tolerance X    shadow rule add: numbers equal within X" },
    unordered: { type: "string", help: "--unordered P    shadow rule add: arrays at these paths (or true: all) compared as multisets" },
  },
  maxArgs: 3,
  async run(context) {
    const { client, args, values, print } = context;
    const [action = "status", ...rest] = args;
    switch (action) {
      case "status": {
        const { body } = await client.request<RoutingConfig>("GET", "/admin/routing");
        print(body.shadow, formatShadow(body));
        return;
      }
      case "on":
      case "off":
      case "percent": {
        const percent =
          action === "off"
            ? 0
            : action === "percent"
              ? parsePercent(rest[0], "shadow percent", true)
              : parsePercent(stringValue(values.percent) ?? "100", "--percent", false);
        await changeRouting(context, (current) => (current.shadow.percent === percent ? undefined : { shadow: { percent } }));
        return;
      }
      case "rule": {
        const [verb, event] = rest;
        if ((verb !== "add" && verb !== "remove") || event === undefined || event === "")
          throw usageError("shadow rule needs add EVENT or remove EVENT");
        const namespace = stringValue(values.namespace);
        if (verb === "add") {
          const rule = ruleOf(context, event);
          // A merge patch replaces arrays whole: send every rule, this one replacing any for the same event and namespace.
          await changeRouting(context, (current) => ({
            shadow: { rules: [...current.shadow.rules.filter((r) => !sameTarget(r, event, namespace)), rule] },
          }));
        } else {
          await changeRouting(context, (current) =>
            current.shadow.rules.some((r) => sameTarget(r, event, namespace))
              ? { shadow: { rules: current.shadow.rules.filter((r) => !sameTarget(r, event, namespace)) } }
              : undefined,
          );
        }
        return;
      }
      default:
        throw usageError(`shadow needs status, on, off, percent N or rule add|remove EVENT (got ${JSON.stringify(action)})`);
    }
  },
};
