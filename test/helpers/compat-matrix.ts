/**
 * The compat matrix: every scenario × client generation × transport mode, run against any Socket.IO
 * base URL (the legacy server for recording, the gateway for the matrix test, later the gateway in front
 * of the hub), plus reading and writing the fixture files in compat-fixtures/transcripts/.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { CLIENT_VERSIONS, TRANSPORT_MODES, type ClientVersion, type TransportMode } from "./clients.js";
import { ScenarioHarness, type ScenarioTarget, type ScenarioTranscript } from "./compat-harness.js";
import { SCENARIOS, type Scenario } from "./compat-scenarios.js";

export const FIXTURE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "compat-fixtures", "transcripts");

export interface MatrixCell {
  readonly scenario: Scenario;
  readonly version: ClientVersion;
  readonly mode: TransportMode;
}

export interface MatrixOptions {
  /** Cells run at the same time (each has its own clients and taps). */
  readonly concurrency?: number;
  readonly scenarios?: readonly Scenario[];
  readonly versions?: readonly ClientVersion[];
  readonly modes?: readonly TransportMode[];
}

export function matrixCells(options: MatrixOptions = {}): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const scenario of options.scenarios ?? SCENARIOS) {
    for (const version of options.versions ?? CLIENT_VERSIONS) {
      for (const mode of options.modes ?? TRANSPORT_MODES) cells.push({ scenario, version, mode });
    }
  }
  return cells;
}

export function cellName(cell: { scenario: Scenario | string; version: ClientVersion; mode: TransportMode }): string {
  const scenario = typeof cell.scenario === "string" ? cell.scenario : cell.scenario.name;
  return `${scenario}/sio${cell.version}-${cell.mode}`;
}

export function fixturePath(cell: MatrixCell): string {
  return join(FIXTURE_ROOT, `${cellName(cell)}.json`);
}

/** Runs one scenario; a failing step is recorded in `errors` (the transcript up to it is kept). */
export async function runScenario(scenario: Scenario, target: ScenarioTarget): Promise<ScenarioTranscript> {
  const harness = new ScenarioHarness(target);
  const errors: string[] = [];
  try {
    await scenario.run(harness);
  } catch (error) {
    errors.push((error as Error).message);
  }
  return harness.finish(scenario.name, errors);
}

/** Runs every cell against `baseUrl` with bounded concurrency; results come back in cell order. */
export async function runMatrix(baseUrl: string, options: MatrixOptions = {}): Promise<Map<string, ScenarioTranscript>> {
  const cells = matrixCells(options);
  const results = new Array<ScenarioTranscript>(cells.length);
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const index = next++;
      const cell = cells[index]!;
      results[index] = await runScenario(cell.scenario, { baseUrl, version: cell.version, mode: cell.mode });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 6) }, worker));
  return new Map(cells.map((cell, i) => [cellName(cell), results[i]!]));
}

/** The part of a transcript that runs are compared on. */
export function comparable(transcript: ScenarioTranscript): Pick<ScenarioTranscript, "wire" | "client" | "errors"> {
  return { wire: transcript.wire, client: transcript.client, errors: transcript.errors };
}

/** Only the client-observed layer (what a run against another backend is held to most strictly). */
export function clientLayer(transcript: ScenarioTranscript): Pick<ScenarioTranscript, "client" | "errors"> {
  return { client: transcript.client, errors: transcript.errors };
}

/**
 * One test per cell: the transcript a matrix run produced (read through `results` once the suite's
 * `before` ran it) must equal the recorded fixture, wire and client layers exactly. No custom message:
 * node:assert then prints a line diff of the two transcripts.
 */
export function testCellsAgainstFixtures(cells: readonly MatrixCell[], results: () => Map<string, ScenarioTranscript>): void {
  for (const cell of cells) {
    test(cellName(cell), async () => {
      const expected = await readFixture(cell);
      const actual = results().get(cellName(cell));
      assert.ok(actual, `no result for ${cellName(cell)}`);
      assert.deepStrictEqual(comparable(actual), comparable(expected));
    });
  }
}

export async function readFixture(cell: MatrixCell): Promise<ScenarioTranscript> {
  return JSON.parse(await readFile(fixturePath(cell), "utf8")) as ScenarioTranscript;
}

export async function writeFixture(cell: MatrixCell, transcript: ScenarioTranscript): Promise<void> {
  const path = fixturePath(cell);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${formatJson(transcript)}\n`);
}

const COMPACT_WIDTH = 100;

/**
 * JSON for humans and diffs: a value that fits on one line stays on one line, anything else is spread
 * over one line per member. Deterministic for a given value.
 */
export function formatJson(value: unknown, indent = ""): string {
  const compact = JSON.stringify(value);
  if (value === null || typeof value !== "object" || compact.length + indent.length <= COMPACT_WIDTH) return compact;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((item) => inner + formatJson(item, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, item]) => item !== undefined);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${formatJson(item, inner)}`).join(",\n")}\n${indent}}`;
}
