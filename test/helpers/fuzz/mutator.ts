/**
 * Seeded mutations of the recorded wire (compat-fixtures/): what a hostile client sends. The seed corpus is
 * every Engine.IO packet real clients sent in the recorded transcripts (2.x ones for Engine.IO v3, 3.x/4.x ones
 * for v4) plus the hostile tables (corpus.ts); a case is one Engine.IO packet derived from it by a cheap
 * mutation (bit flips, truncation, bogus types, attachment counts and ack ids, odd namespaces, invalid UTF-8,
 * deep or huge JSON, splices, stray binary frames). Everything is derived from a PRNG, so that a seed (and a
 * lane's index) reproduces the same cases.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { HOSTILE_NAMESPACES, HOSTILE_PACKETS } from "./corpus.js";
import { randomBytes, type Prng } from "./prng.js";
import type { EngineRevision } from "./raw-client.js";

/**
 * One Engine.IO packet as the fuzzer sends it: text (a text frame, or a polling packet), bytes sent as a text
 * frame (`invalidUtf8`: not valid UTF-8), or a binary message.
 */
export type FuzzPacket =
  | { readonly kind: "text"; readonly data: string }
  | { readonly kind: "invalidUtf8"; readonly data: Buffer }
  | { readonly kind: "binary"; readonly data: Buffer };

export interface FuzzCase {
  readonly op: string;
  readonly packet: FuzzPacket;
}

/** What a case looks like in a failure report: the operator and the first bytes of the packet. */
export function describeCase(c: FuzzCase): string {
  const shown =
    c.packet.kind === "text"
      ? JSON.stringify(c.packet.data.slice(0, 120))
      : `<${c.packet.kind} ${c.packet.data.toString("hex").slice(0, 80)}>`;
  const length = c.packet.data.length;
  return `${c.op}: ${shown}${length > 120 ? ` (${length} long)` : ""}`;
}

const FIXTURES = fileURLToPath(new URL("../../../compat-fixtures/transcripts/", import.meta.url));
/** Recorded packets longer than this (the max-payload scenario's megabyte) are left to the `huge` operator. */
const LONGEST_SEED = 20_000;

type Seed = string;

function loadSeeds(): Record<EngineRevision, Seed[]> {
  const seeds: Record<EngineRevision, Set<string>> = { 3: new Set(), 4: new Set() };
  for (const scenario of readdirSync(FIXTURES)) {
    for (const file of readdirSync(`${FIXTURES}${scenario}`)) {
      const revision: EngineRevision = file.startsWith("sio2") ? 3 : 4;
      const transcript = JSON.parse(readFileSync(`${FIXTURES}${scenario}/${file}`, "utf8")) as {
        wire: Record<string, { c2s: string[] }[]>;
      };
      for (const sessions of Object.values(transcript.wire)) {
        for (const session of sessions) {
          for (const packet of session.c2s) if (packet.length <= LONGEST_SEED && !packet.startsWith("<binary")) seeds[revision].add(packet);
        }
      }
    }
  }
  const resolve = (packet: string): Seed => {
    // Placeholders of the recording: ack ids and session ids.
    return packet
      .replace(/<ack:(\d+)>/g, "$1")
      .replace(/<sid:\d+>/g, "AAAAAAAAAAAAAAAAAAAA")
      .replace(/<ts>/g, "0");
  };
  // A client's DISCONNECT of "/" (`41`) is left to the raw operators: socket.io drops the events that follow it in
  // the same read silently, which the lane could not tell from a hang.
  const kept = (packet: string) => !isNamespaceDisconnect(packet);
  return { 3: [...seeds[3]].filter(kept).map(resolve), 4: [...seeds[4]].filter(kept).map(resolve) };
}

/** `41` or `41/nsp,`: the client leaves a namespace (what it then sends there may be dropped without a word). */
export function isNamespaceDisconnect(packet: string): boolean {
  return /^41(\/[^,]*,)?$/.test(packet);
}

let seedCache: Record<EngineRevision, Seed[]> | undefined;
function seeds(revision: EngineRevision): Seed[] {
  seedCache ??= loadSeeds();
  return seedCache[revision];
}

const ENGINE_JUNK = ["4", "", "7", "9", "a", "2", "3", "5", "6", "2probe", "3probe", "0", "1x", "4\u0000", "b", "bAAA", "b4!!"];
const NAMESPACES = [...HOSTILE_NAMESPACES.filter((n) => n.length < 400), "/admin", "/nope", "/"];

/**
 * A recorded packet to mutate. Semantic mutations leave out the recorded CONNECTs and packets of other namespaces
 * than "/": a second CONNECT to a joined namespace, or a packet for one not joined, ends the session (socket.io's
 * "invalid state"), which would spend a session on a case that is no news. Raw mutations take any packet.
 */
function textSeed(rng: Prng, revision: EngineRevision, semantic = false): string {
  for (;;) {
    const seed = rng.pick(seeds(revision));
    if (!semantic || !/^4(0|[1-6](\d+-)?\/)/.test(seed)) return seed;
  }
}

/** JSON values a hostile client puts where the application expects its own. */
const HOSTILE_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -0,
  1e308,
  -1e308,
  2 ** 53 + 1,
  0.1,
  "",
  "x".repeat(2000),
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "\u202e\u0301",
  "日本語",
  [],
  {},
  { __proto__: 1, constructor: { prototype: 1 } },
  JSON.parse('{"__proto__":{"polluted":1}}'),
  { _placeholder: true, num: 0 },
  { _placeholder: true, num: 99 },
  { room: "healthy", text: 7 },
  { room: ["a"], text: { t: 1 } },
  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
];
const EVENT_NAMES = [
  "msg",
  "join",
  "leave",
  "echo",
  "history",
  "whoami",
  "typing",
  "ask",
  "",
  "x".repeat(1000),
  "__proto__",
  "constructor",
  "toString",
  "héllo",
  "\u0000",
  "answer",
];

/** A random JSON leaf of `value` replaced by a hostile value (arrays and objects walked at random). */
function replaceLeaf(rng: Prng, value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object" || rng.chance(0.3)) return rng.pick(HOSTILE_VALUES);
  if (Array.isArray(value)) {
    if (value.length === 0) return [rng.pick(HOSTILE_VALUES)];
    const copy = [...value];
    const i = rng.int(copy.length);
    copy[i] = replaceLeaf(rng, copy[i], depth + 1);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const key = keys.length === 0 || rng.chance(0.2) ? rng.pick(["__proto__", "constructor", "x", ""]) : rng.pick(keys);
  Object.defineProperty(copy, key, { value: replaceLeaf(rng, copy[key], depth + 1), enumerable: true, writable: true, configurable: true });
  return copy;
}

/**
 * A hostile value somewhere in a packet's data, keeping the shape socket.io-parser requires: an event keeps its
 * name (a string) and stays an array, an ack stays an array, a CONNECT payload stays an object.
 */
function mutateArgs(rng: Prng, head: string, json: unknown): unknown {
  const type = head[1];
  if (Array.isArray(json)) {
    const keep = type === "2" || type === "5" ? 1 : 0;
    const copy = [...json];
    const i = keep + rng.int(Math.max(1, copy.length - keep + 1));
    copy[i] = replaceLeaf(rng, copy[i]);
    return copy;
  }
  if (json !== null && typeof json === "object") {
    const copy: Record<string, unknown> = { ...(json as Record<string, unknown>) };
    copy[rng.pick(["name", "token", "role", "x"])] = replaceLeaf(rng, undefined);
    return copy;
  }
  return json;
}

/** `4<type>[<attachments>-][<nsp>,][<id>]<json>` split, or undefined when `p` is no Socket.IO packet with data. */
function splitPacket(p: string): { head: string; json: unknown } | undefined {
  const match = /^(4[0-6](?:\d+-)?(?:\/[^,]*,)?\d*)([[{].*)$/s.exec(p);
  if (!match) return undefined;
  try {
    return { head: match[1]!, json: JSON.parse(match[2]!) };
  } catch {
    return undefined;
  }
}

type Operator = readonly [string, number, (rng: Prng, packet: string, revision: EngineRevision) => FuzzPacket];

/**
 * Mutations that keep a Socket.IO packet readable: the backends receive hostile values, names, acks and
 * namespaces, and the session usually lives on, so that a session carries many cases.
 */
const SEMANTIC: readonly Operator[] = [
  ["verbatim", 6, (_rng, p) => ({ kind: "text", data: p })],
  [
    "json-value",
    30,
    (rng, p) => {
      const split = splitPacket(p) ?? { head: "42", json: ["echo", "x"] };
      return { kind: "text", data: split.head + JSON.stringify(mutateArgs(rng, split.head, split.json)) };
    },
  ],
  [
    "event-name",
    10,
    (rng) => {
      const ack = rng.chance(0.5) ? String(1_000_000 + rng.int(1_000_000)) : "";
      return { kind: "text", data: `42${ack}${JSON.stringify([rng.pick(EVENT_NAMES), rng.pick(HOSTILE_VALUES)])}` };
    },
  ],
  ["unknown-ack", 5, (rng) => ({ kind: "text", data: `43${rng.int(1_000_000_000)}${JSON.stringify([rng.pick(HOSTILE_VALUES)])}` })],
  [
    "connect-namespace",
    5,
    (rng, _p, revision) => {
      // Namespaces socket.io can read and no session joins (unknown ones, and /admin without the admin role, get a
      // CONNECT_ERROR; the session lives on and may ask again).
      const nsp = rng.pick(["/nope", "/admin", "/a?x=1", "/%2e%2e", "/日本", `/${"n".repeat(300)}`]);
      return {
        kind: "text",
        data: revision === 3 ? `40${nsp}` : `40${nsp},${JSON.stringify(rng.pick([{}, { role: "user" }, { role: ["x"] }]))}`,
      };
    },
  ],
];

/** Mutations of the bytes: most end their session (a refusal); at most one per batch, its last case. */
const RAW: readonly Operator[] = [
  ["hostile-corpus", 3, (rng) => ({ kind: "text", data: `4${rng.pick(HOSTILE_PACKETS)}` })],
  [
    "bitflip",
    1,
    (rng, p) => {
      const bytes = Buffer.from(p.length > 0 ? p : "4");
      for (let n = 1 + rng.int(3); n > 0; n--) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
      // A flip may break UTF-8: then the frame is sent as those bytes, as a text frame.
      const text = bytes.toString("utf8");
      return Buffer.from(text).equals(bytes) ? { kind: "text", data: text } : { kind: "invalidUtf8", data: bytes };
    },
  ],
  ["truncate", 1, (rng, p) => ({ kind: "text", data: p.slice(0, rng.int(p.length + 1)) })],
  [
    "insert",
    1,
    (rng, p) => {
      const at = rng.int(p.length + 1);
      const junk = rng.pick(['"', "[", "]", "{", "}", ",", "-", "/", "\\", "\u0000", "\ud800", "99999999999999999999", "null", "1e400"]);
      return { kind: "text", data: p.slice(0, at) + junk + p.slice(at) };
    },
  ],
  [
    "delete",
    2,
    (rng, p) => {
      const at = rng.int(p.length + 1);
      return { kind: "text", data: p.slice(0, at) + p.slice(at + 1 + rng.int(8)) };
    },
  ],
  ["engine-type", 1, (rng, p) => ({ kind: "text", data: rng.pick([..."0123456789abx"]) + p.slice(1) })],
  ["socketio-type", 1, (rng, p) => ({ kind: "text", data: `4${rng.pick([..."0123456789x-/[{ "])}${p.slice(2)}` })],
  [
    "attachments",
    1,
    (rng, p) => {
      const count = rng.pick(["0", "1", "2", "9", "10", "11", "999", "-1", "99999999999999999999", "", "1.5", "0x1"]);
      const body = p.replace(/^4[0-6](\d*-)?/, "");
      return { kind: "text", data: `4${rng.pick(["5", "6"])}${count}-${body}` };
    },
  ],
  [
    "ack-id",
    2,
    (rng, p) => {
      const id = rng.pick(["0", "9007199254740993", "99999999999999999999999", "-1", "1e3", "00"]);
      return { kind: "text", data: p.replace(/^(4[0-6](?:\d*-)?(?:\/[^,]*,)?)\d*/, `$1${id}`) };
    },
  ],
  [
    "namespace",
    1,
    (rng, p) => {
      const body = p.replace(/^4([0-6])(\d*-)?(\/[^,]*,)?/, "");
      const type = rng.pick(["0", "1", "2", "3", "5", "6"]);
      const attachments = type === "5" || type === "6" ? "1-" : "";
      return { kind: "text", data: `4${type}${attachments}${rng.pick(NAMESPACES)},${body}` };
    },
  ],
  [
    "deep-json",
    1,
    (rng) => {
      const depth = rng.pick([50, 500, 5000, 20_000]);
      const open = rng.chance(0.5) ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      return { kind: "text", data: `42["msg",${open.repeat(depth)}1${rng.chance(0.8) ? close.repeat(depth) : ""}]` };
    },
  ],
  ["huge", 0.02, (rng) => ({ kind: "text", data: `42["echo","${"x".repeat(rng.pick([200_000, 999_900, 1_100_000]))}"]` })],
  [
    "invalid-utf8",
    1,
    (rng, p) => {
      const bytes = Buffer.from(p);
      const at = rng.int(bytes.length + 1);
      const junk = Buffer.from(rng.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]));
      return { kind: "invalidUtf8", data: Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]) };
    },
  ],
  [
    "splice",
    1,
    (rng, p, revision) => {
      const other = textSeed(rng, revision);
      return { kind: "text", data: p.slice(0, rng.int(p.length + 1)) + other.slice(rng.int(other.length + 1)) };
    },
  ],
  ["engine-junk", 1, (rng) => ({ kind: "text", data: rng.pick(ENGINE_JUNK) })],
  ["binary", 1, (rng) => ({ kind: "binary", data: randomBytes(rng, rng.pick([0, 1, 4, 64, 1024])) })],
];

/** The share of batches that end with a raw case (most of those end their session). */
export const RAW_BATCH_SHARE = 0.5;

function weighted(rng: Prng, operators: readonly Operator[]): Operator {
  let roll = rng.next() * operators.reduce((sum, [, weight]) => sum + weight, 0);
  for (const operator of operators) {
    roll -= operator[1];
    if (roll < 0) return operator;
  }
  return operators[0]!;
}

/** The next case for a session of `revision`: a semantic mutation, or a raw one. */
export function nextCase(rng: Prng, revision: EngineRevision, raw: boolean): FuzzCase {
  const [op, , mutate] = weighted(rng, raw ? RAW : SEMANTIC);
  return { op, packet: mutate(rng, textSeed(rng, revision, !raw), revision) };
}

/** A BINARY_EVENT with hostile values around its placeholder, and its attachment: two packets, one case. */
function binaryEvent(rng: Prng): FuzzCase[] {
  const args = ["echo", rng.pick(HOSTILE_VALUES), { _placeholder: true, num: 0 }];
  const ack = rng.chance(0.5) ? String(2_000_000 + rng.int(1_000_000)) : "";
  return [
    { op: "binary-event", packet: { kind: "text", data: `451-${ack}${JSON.stringify(args)}` } },
    { op: "binary-event-attachment", packet: { kind: "binary", data: randomBytes(rng, rng.pick([0, 1, 64, 1024])) } },
  ];
}

/**
 * A batch: `count` semantic cases (a binary packet brings its attachments along), then, in RAW_BATCH_SHARE of
 * the batches, one raw case. The raw case comes last because it usually ends the session: whatever follows it in
 * the batch would be dropped unread.
 */
export function nextBatch(rng: Prng, revision: EngineRevision, count: number): FuzzCase[] {
  const cases: FuzzCase[] = [];
  while (cases.length < count) {
    if (rng.chance(0.05)) {
      cases.push(...binaryEvent(rng));
      continue;
    }
    const next = nextCase(rng, revision, false);
    cases.push(next);
    // A binary packet (a recorded one, mutated) gets the attachments it announces, when that is a sane number.
    const announced = next.packet.kind === "text" ? /^4[56](\d{1,2})-/.exec(next.packet.data) : null;
    const attachments = announced ? Number(announced[1]) : 0;
    for (let i = 0; i < attachments && i <= 10; i++) {
      cases.push({ op: "attachment", packet: { kind: "binary", data: randomBytes(rng, rng.pick([0, 1, 64])) } });
    }
  }
  if (rng.chance(RAW_BATCH_SHARE)) cases.push(nextCase(rng, revision, true));
  return cases;
}
