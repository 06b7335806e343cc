/**
 * Every CLI command, in the order --help lists them. A new command is a file in this folder exporting a
 * `Command` (see ../command.ts), added to this list.
 */
import type { Command } from "../command.js";
import { diffs } from "./diffs.js";
import { drain } from "./drain.js";
import { rollback } from "./rollback.js";
import { split } from "./split.js";
import { status } from "./status.js";
import { watch } from "./watch.js";

export const COMMANDS: readonly Command[] = [status, split, drain, rollback, watch, diffs];
