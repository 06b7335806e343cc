#!/usr/bin/env node
/**
 * Fails when a source line is longer than the formatter's lineWidth (biome.json). Biome wraps code but not
 * long strings, template literals or comments; this catches those. Usage: node scripts/check-line-width.mjs
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const { lineWidth } = JSON.parse(readFileSync(`${root}biome.json`, "utf8")).formatter;
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts", "*.mjs"], { cwd: root })
  .toString()
  .split("\n")
  .filter((file) => file !== "");
const long = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(`${root}${file}`, "utf8");
  } catch {
    continue; // deleted in the working tree
  }
  text.split("\n").forEach((line, i) => {
    if (line.length > lineWidth) long.push(`${file}:${i + 1}: ${line.length} characters`);
  });
}
if (long.length > 0) {
  console.error(`lines longer than ${lineWidth} characters (biome.json lineWidth):\n${long.join("\n")}`);
  process.exit(1);
}
