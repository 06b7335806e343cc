/**
 * The routing document as the CLI's declarative commands (get, apply, diff, edit) handle it: read from a
 * YAML or JSON file, validated here with the gateway's own validator (so a bad file fails before any
 * request, with the same JSON paths), printed as YAML, and compared as a unified line diff.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml, stringify } from "yaml";
import { validateRoutingConfig, type RoutingConfig } from "../config/routing-config.js";
import { CliError, EXIT } from "./admin-client.js";
import type { CommandOption } from "./command.js";

/** -f FILE, as apply, diff and patch take it. */
export const FILE_OPTION: CommandOption = {
  type: "string",
  short: "f",
  help: "-f, --file FILE  apply, diff, patch: a routing document or patch (YAML or JSON; - for stdin)",
};

/** Reads `file` ("-" for stdin) as YAML (JSON is YAML too). */
export function readDocumentFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, EXIT.invalid);
  }
  return parseDocument(text, file);
}

export function parseDocument(text: string, origin: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    throw new CliError(`${origin} is neither YAML nor JSON: ${(error as Error).message}`, EXIT.invalid);
  }
}

/** The document with every default filled in, as the gateway would store it; every problem at once otherwise. */
export function validDocument(document: unknown, origin: string): RoutingConfig {
  const result = validateRoutingConfig(document);
  if (!result.ok)
    throw new CliError(`${origin} is not a valid routing document:\n${result.problems.map((p) => `  - ${p}`).join("\n")}`, EXIT.invalid);
  return result.config;
}

/** The `version` a document says it was read at, if any. */
export function versionOf(document: unknown): number | undefined {
  const version = (document as { version?: unknown } | null)?.version;
  return typeof version === "number" && Number.isSafeInteger(version) && version >= 0 ? version : undefined;
}

export function toYaml(config: RoutingConfig, header?: string): string {
  return `${header === undefined ? "" : `${header.replace(/^/gm, "# ")}\n`}${stringify(config)}`;
}

export function toJson(config: RoutingConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

type Line = { op: " " | "-" | "+"; text: string };

/** Largest middle part (after the common head and tail) compared line by line; beyond it, replaced as a block. */
const MAX_DIFF_CELLS = 4_000_000;

function lineDiff(a: readonly string[], b: readonly string[]): Line[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const middleA = a.slice(head, a.length - tail);
  const middleB = b.slice(head, b.length - tail);
  const middle: Line[] = [];
  if (middleA.length * middleB.length > MAX_DIFF_CELLS) {
    middle.push(...middleA.map((text) => ({ op: "-" as const, text })), ...middleB.map((text) => ({ op: "+" as const, text })));
  } else {
    // Longest common subsequence, then walk it: what is not common was removed (a) or added (b).
    const n = middleA.length;
    const m = middleB.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i]![j] = middleA[i] === middleB[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && middleA[i] === middleB[j]) {
        middle.push({ op: " ", text: middleA[i++]! });
        j++;
      } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) middle.push({ op: "-", text: middleA[i++]! });
      else middle.push({ op: "+", text: middleB[j++]! });
    }
  }
  return [
    ...a.slice(0, head).map((text) => ({ op: " " as const, text })),
    ...middle,
    ...a.slice(a.length - tail).map((text) => ({ op: " " as const, text })),
  ];
}

const CONTEXT_LINES = 3;

/**
 * A unified diff (as `diff -u` or `kubectl diff` print it) of two documents' YAML, versions left out; ""
 * when they are equal. `color` paints removals red and additions green.
 */
export function documentDiff(before: RoutingConfig, after: RoutingConfig, labels: [string, string], color = false): string {
  const render = (config: RoutingConfig) =>
    stringify({ ...config, version: undefined })
      .trimEnd()
      .split("\n");
  const lines = lineDiff(render(before), render(after));
  const changed = lines.map((line, index) => (line.op === " " ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return "";
  const paint = (line: Line) => {
    const text = `${line.op}${line.text}`;
    if (!color || line.op === " ") return text;
    return line.op === "-" ? `\x1b[31m${text}\x1b[0m` : `\x1b[32m${text}\x1b[0m`;
  };
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  let index = 0;
  while (index < changed.length) {
    // One hunk: changes closer than twice the context share it.
    const start = Math.max(0, changed[index]! - CONTEXT_LINES);
    let end = changed[index]!;
    while (index < changed.length && changed[index]! <= end + 2 * CONTEXT_LINES) end = changed[index++]!;
    const stop = Math.min(lines.length, end + CONTEXT_LINES + 1);
    const before = lines.slice(0, start).filter((line) => line.op !== "+").length;
    const after = lines.slice(0, start).filter((line) => line.op !== "-").length;
    const hunk = lines.slice(start, stop);
    const oldCount = hunk.filter((line) => line.op !== "+").length;
    const newCount = hunk.filter((line) => line.op !== "-").length;
    out.push(`@@ -${before + 1},${oldCount} +${after + 1},${newCount} @@`, ...hunk.map(paint));
  }
  return out.join("\n");
}

/** Colors only for a terminal that wants them (NO_COLOR, https://no-color.org). */
export function useColor(): boolean {
  return process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "";
}
