/** Prints the README's configuration table from src/config/settings.ts: `npx tsx scripts/config-table.ts`. */
import { SETTINGS } from "../src/config/settings.js";

const rows = Object.values(SETTINGS).map((spec) => {
  const value = spec.defaultValue;
  const shown = value === undefined ? "unset" : Array.isArray(value) ? (value.length === 0 ? "none" : value.join(",")) : String(value);
  return `| \`${spec.name}\` | ${shown === "unset" || shown === "none" ? shown : `\`${shown}\``} | ${spec.doc} |`;
});
process.stdout.write(`${["| Setting | Default | Meaning |", "|---|---|---|", ...rows].join("\n")}\n`);
