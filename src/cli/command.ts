/**
 * What a CLI command is: a name, its usage and options (for parsing and for --help), and `run`. Each command
 * lives in its own file under commands/ and is listed once in commands/index.ts; main.ts parses the command
 * line, builds the context and runs it. Shared argument checks live here so every command words them alike.
 */
import { basename } from "node:path";
import type { AdminClient } from "./admin-client.js";
import { CliError, EXIT } from "./admin-client.js";

/** One option of a command, as node:util parseArgs takes it, plus the line --help prints for it. */
export interface CommandOption {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** e.g. "--percent N   close N% (default 100)"; shown under the command in --help. */
  readonly help: string;
}

/** Options every command accepts (see main.ts). */
export interface GlobalOptions {
  readonly url?: string;
  readonly token?: string;
  readonly context?: string;
  readonly json?: boolean;
}

export interface CommandContext {
  readonly client: AdminClient;
  readonly options: GlobalOptions;
  /** Values of the command's own options, by name (strings or booleans as declared). */
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** The positional arguments after the command's name. */
  readonly args: readonly string[];
  /** The name to print in hints: "npx switchyard" or "switchyard", as the user invoked it. */
  readonly program: string;
  /** Prints `json` with --json, else `text`. */
  print(json: unknown, text: string): void;
}

export interface Command {
  readonly name: string;
  /** "split <percent>": the first line of the command in --help. */
  readonly usage: string;
  /** The heading it is listed under in --help ("Watch and move traffic"...); default "Other commands". */
  readonly group?: string;
  /** What it does, in a few words (continuation lines are indented in --help). */
  readonly summary: string;
  readonly options?: Readonly<Record<string, CommandOption>>;
  /** True for commands about saved contexts (login, context): main.ts does not resolve a connection for them. */
  readonly local?: boolean;
  /** Most positional arguments accepted (default 0); more is a usage error. */
  readonly maxArgs?: number;
  run(context: CommandContext): Promise<void>;
}

/** --percent, as drain and shadow on take it. */
export const PERCENT_OPTION: CommandOption = {
  type: "string",
  help: "--percent N     drain: the share of sessions to close; shadow on: the share to shadow (default 100)",
};

/** "npx switchyard" unless the CLI was started through a `switchyard` on the PATH. */
export function programName(env: NodeJS.ProcessEnv = process.env, script = process.argv[1] ?? ""): string {
  if (env.npm_command === "exec") return "npx switchyard";
  return basename(script) === "switchyard" ? "switchyard" : "npx switchyard";
}

/** The --help headings, in order of first use by commands/index.ts. */
export const GROUPS = {
  traffic: "Watch and move traffic",
  shadow: "Compare the backends (shadowing)",
  declarative: "The routing document as a file (as kubectl get/diff/apply/edit/patch)",
  routing: "Routing details",
  connection: "Connecting",
} as const;

export function usageError(message: string): CliError {
  return new CliError(`${message} (see ${programName()} --help)`, EXIT.usage);
}

/** A percentage as operators type it ("25", "12.5", "30%"): 0 (or above 0) to 100, at most two decimals. */
export function parsePercent(text: string | undefined, what: string, allowZero: boolean): number {
  const value = text === undefined ? NaN : Number(text.replace(/%$/, ""));
  const ok =
    text !== undefined &&
    text.trim() !== "" &&
    Number.isFinite(value) &&
    value <= 100 &&
    (allowZero ? value >= 0 : value > 0) &&
    Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;
  if (!ok)
    throw usageError(
      `${what} must be a number ${allowZero ? "0" : "above 0"} to 100 with at most two decimals (got ${JSON.stringify(text ?? "")})`,
    );
  return value;
}

/** An integer option within bounds, or `fallback` when absent. */
export function integerOption(text: string | boolean | undefined, name: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const value = typeof text === "string" && /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw usageError(`--${name} must be an integer ${min}-${max} (got ${JSON.stringify(text)})`);
  return value;
}

export function stringValue(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}
