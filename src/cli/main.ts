#!/usr/bin/env node
/**
 * `switchyard`: the operator CLI for the admin API of a running gateway (any instance of a cluster).
 * Commands live in commands/ (one file each, listed in commands/index.ts); exit codes are in
 * admin-client.ts (EXIT).
 */
import { parseArgs } from "node:util";
import { AdminClient, CliError, EXIT } from "./admin-client.js";
import { programName, usageError, type Command, type CommandOption, type GlobalOptions } from "./command.js";
import { COMMANDS } from "./commands/index.js";
import { DEFAULT_URL, resolveConnection } from "./connection.js";

const GLOBAL_OPTIONS: Readonly<Record<string, CommandOption>> = {
  url: {
    type: "string",
    help: "--url URL       the admin API (the gateway's OPS_PORT); default $SWITCHYARD_URL, the saved context's, or http://127.0.0.1:9464",
  },
  token: {
    type: "string",
    help: "--token TOKEN   the gateway's ADMIN_TOKEN, for changes and diffs; default $SWITCHYARD_TOKEN or the context's",
  },
  context: { type: "string", help: "--context NAME  use this saved context (see login, context) instead of the current one" },
  json: { type: "boolean", help: "--json          print the API's JSON answer instead of text" },
  help: { type: "boolean", short: "h", help: "-h, --help" },
};

const EXIT_CODES = `exit codes: 0 ok, 1 failed (diff: differences found), 2 usage, 3 admin API unreachable, 4 token refused or missing,
            5 version conflict, 6 invalid value, 7 routing store unavailable`;

function helpText(program: string): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length)) + 3;
  const groups = new Map<string, string[]>();
  for (const command of COMMANDS) {
    const [first, ...more] = command.summary.split("\n");
    const lines = groups.get(command.group ?? "Other commands") ?? [];
    lines.push(`  ${command.name.padEnd(width)}${first}`, ...more.map((line) => `  ${" ".repeat(width)}${line}`));
    groups.set(command.group ?? "Other commands", lines);
  }
  return [
    `usage: ${program} <command> [arguments] [options]`,
    ...[...groups].flatMap(([group, lines]) => ["", `${group}:`, ...lines]),
    "",
    `\`${program} <command> --help\` shows a command's arguments and options.`,
    "",
    "options of every command:",
    ...Object.values(GLOBAL_OPTIONS).map((option) => `  ${option.help}`),
    "",
    EXIT_CODES,
    "",
  ].join("\n");
}

/** Every option any command knows, for one parse; each command then refuses the options that are not its own. */
function allOptions(): Record<string, { type: "string" | "boolean"; short?: string }> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, option] of [
    ...Object.entries(GLOBAL_OPTIONS),
    ...COMMANDS.flatMap((command) => Object.entries(command.options ?? {})),
  ]) {
    const known = options[name];
    if (known !== undefined && known.type !== option.type) throw new Error(`CLI option --${name} is declared with two types`);
    options[name] = option.short === undefined ? { type: option.type } : { type: option.type, short: option.short };
  }
  return options;
}

/** `switchyard <command> --help`: that command's usage, what it does, and its options. */
function commandHelp(command: Command, program: string): string {
  const options = Object.values(command.options ?? {}).map((option) => `  ${option.help}`);
  return [
    `usage: ${program} ${command.usage}`,
    "",
    ...command.summary.split("\n"),
    ...(options.length > 0 ? ["", "options:", ...options] : []),
    "",
    `global options: --url, --token, --json (see ${program} --help)`,
    "",
  ].join("\n");
}

function usageWithHelp(message: string, program: string): CliError {
  return new CliError(`${message}\n\n${helpText(program)}`, EXIT.usage);
}

async function run(argv: string[]): Promise<number> {
  const program = programName();
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: allOptions() });
  } catch (error) {
    throw usageWithHelp((error as Error).message, program);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const [name, ...args] = parsed.positionals;
  const helpFor = name === "help" ? args[0] : name;
  const command: Command | undefined = COMMANDS.find((candidate) => candidate.name === helpFor);
  if (values.help === true || name === "help") {
    process.stdout.write(command === undefined ? helpText(program) : commandHelp(command, program));
    return EXIT.ok;
  }
  if (name === undefined) throw usageWithHelp("a command is required", program);
  if (command === undefined) throw usageWithHelp(`unknown command ${JSON.stringify(name)}`, program);
  const own = new Set([...Object.keys(GLOBAL_OPTIONS), ...Object.keys(command.options ?? {})]);
  const foreign = Object.keys(values).filter((option) => !own.has(option));
  if (foreign.length > 0) throw usageError(`${name} takes no option ${foreign.map((option) => `--${option}`).join(", ")}`);
  if (args.length > (command.maxArgs ?? 0))
    throw usageError(`too many arguments for ${name}: ${args.slice(command.maxArgs ?? 0).join(" ")}`);

  const options: GlobalOptions = {
    url: values.url as string | undefined,
    token: values.token as string | undefined,
    context: values.context as string | undefined,
    json: values.json as boolean | undefined,
  };
  const connection = command.local === true ? { url: DEFAULT_URL, token: undefined, urlSource: "--url" } : resolveConnection(options);
  try {
    new URL(connection.url);
  } catch {
    throw new CliError(
      `${connection.urlSource} must be a URL such as http://127.0.0.1:9464 (got ${JSON.stringify(connection.url)}) (see ${program} --help)`,
      EXIT.usage,
    );
  }
  const client = new AdminClient(connection.url, connection.token, program);
  await command.run({
    client,
    options,
    values,
    args,
    program,
    print: (json, text) => process.stdout.write(`${options.json === true ? JSON.stringify(json, null, 2) : text}\n`),
  });
  return EXIT.ok;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      // An empty message is an exit code only (diff: "there are differences", already printed).
      if (error.message !== "") process.stderr.write(`switchyard: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`switchyard: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);
