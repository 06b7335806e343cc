/**
 * Every CLI command, in the order --help lists them. A new command is a file in this folder exporting a
 * `Command` (see ../command.ts), added to this list.
 */
import type { Command } from "../command.js";
import { apply } from "./apply.js";
import { context } from "./context.js";
import { diff } from "./diff.js";
import { diffs } from "./diffs.js";
import { drain } from "./drain.js";
import { edit } from "./edit.js";
import { get } from "./get.js";
import { lists } from "./lists.js";
import { login } from "./login.js";
import { overrides } from "./overrides.js";
import { patch } from "./patch.js";
import { rollback } from "./rollback.js";
import { rollout } from "./rollout.js";
import { route } from "./route.js";
import { shadow } from "./shadow.js";
import { split } from "./split.js";
import { status } from "./status.js";
import { watch } from "./watch.js";

export const COMMANDS: readonly Command[] = [
  status,
  watch,
  split,
  drain,
  rollback,
  rollout,
  route,
  shadow,
  diffs,
  lists,
  overrides,
  get,
  diff,
  apply,
  edit,
  patch,
  login,
  context,
];
