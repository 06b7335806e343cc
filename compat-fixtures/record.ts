/**
 * Records the compat fixtures: every scenario × socket.io-client 2.x/3.x/4.x × polling/websocket/upgrade,
 * against a fresh sample legacy chat server (socket.io 4) directly, each client behind a wire tap. The
 * legacy server is the truth every later change of the gateway is held to.
 *
 *   npm run compat:record                      # (re)write compat-fixtures/transcripts/
 *   npm run compat:record -- --check           # record again, compare with the files, write nothing
 *   npm run compat:record -- --only binary     # only the scenarios whose name contains "binary"
 */
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { parseArgs } from "node:util";
import { startLegacyChat } from "../examples/legacy-chat/server.js";
import { SCENARIOS } from "../test/helpers/compat-scenarios.js";
import { fixturePath, formatJson, matrixCells, runScenario, writeFixture } from "../test/helpers/compat-matrix.js";

const { values } = parseArgs({
  options: {
    check: { type: "boolean", default: false },
    only: { type: "string" },
    concurrency: { type: "string", default: "6" },
  },
});

const scenarios = SCENARIOS.filter((scenario) => values.only === undefined || scenario.name.includes(values.only));
if (scenarios.length === 0) {
  console.error(`no scenario matches ${values.only}`);
  process.exit(2);
}

const legacy = await startLegacyChat();
const cells = matrixCells({ scenarios });
const failures: string[] = [];
let changed = 0;
let next = 0;
const started = Date.now();

async function worker(): Promise<void> {
  while (next < cells.length) {
    const cell = cells[next++]!;
    const transcript = await runScenario(cell.scenario, { baseUrl: legacy.url, version: cell.version, mode: cell.mode });
    const path = fixturePath(cell);
    const name = relative(process.cwd(), path);
    if (transcript.errors.length > 0) {
      failures.push(`${name}: ${transcript.errors.join("; ")}`);
      continue;
    }
    const text = `${formatJson(transcript)}\n`;
    const before = await readFile(path, "utf8").catch(() => undefined);
    if (before === text) continue;
    changed++;
    if (values.check) console.log(`differs: ${name}`);
    else await writeFixture(cell, transcript);
  }
}

try {
  await Promise.all(Array.from({ length: Math.max(1, Number(values.concurrency)) }, worker));
} finally {
  await legacy.close();
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
for (const failure of failures) console.error(`FAILED ${failure}`);
console.log(`${cells.length} cells in ${seconds} s: ${changed} ${values.check ? "differ" : "written"}, ${failures.length} failed`);
process.exit(failures.length > 0 || (values.check && changed > 0) ? 1 : 0);
