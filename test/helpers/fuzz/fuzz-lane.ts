/**
 * One fuzzing lane: a loop of raw Engine.IO sessions (v3 or v4, WebSocket or polling, chosen by the lane's
 * PRNG) on one route of a gateway. Each session receives batches of mutated packets, each batch followed by
 * a marker (`echo` with an ack id): the marker's ack proves that the gateway (and the backend) processed the
 * batch and the session lives on; a close ends the session (a refusal of bad input). A marker that is
 * neither answered nor followed by a close within MARKER_TIMEOUT_MS is a hang, recorded with its batch. A
 * lane sends many cases per connection and waits only one round trip per batch.
 */
import WebSocket from "ws";
import { HANDSHAKE_CASES } from "./framing.js";
import { MARKER_TIMEOUT_MS, openJoined, type SessionTarget } from "./fuzz-session.js";
import { describeCase, isNamespaceDisconnect, nextBatch, type FuzzCase } from "./mutator.js";
import type { EngineRevision, RawTransport } from "./raw-client.js";

export interface LaneStats {
  /** Cases sent to a session that was open when they were sent. */
  cases: number;
  /** Batches (cases between two markers) and payload-level mutations of polling bodies. */
  batches: number;
  payloadCases: number;
  sessions: number;
  /** Sessions the server (gateway or backend) ended, and handshakes it refused. */
  serverClosed: number;
  refusedHandshakes: number;
  /** Sessions whose batch left "/" (a raw DISCONNECT) and whose marker was then not answered. */
  left: number;
  /** Markers answered: batches after which the session was still serving. */
  answered: number;
  /** Markers neither answered nor followed by a close: hangs (each with its batch, for the report). */
  hangs: string[];
  /** Handshake-level cases (handshake queries engine.io must refuse or read its own way): by case, by answer. */
  handshakes: Record<string, number>;
  /** Per revision × transport: sessions opened. */
  mix: Record<string, number>;
  /** Per mutation operator: cases sent. */
  ops: Record<string, number>;
}

export function emptyStats(): LaneStats {
  return {
    cases: 0,
    batches: 0,
    handshakes: {},
    payloadCases: 0,
    sessions: 0,
    serverClosed: 0,
    refusedHandshakes: 0,
    answered: 0,
    left: 0,
    hangs: [],
    mix: {},
    ops: {},
  };
}

/** A lane's target (its route's gateway and routing key, sent as userId), PRNG and bookkeeping. */
export interface LaneOptions extends SessionTarget {
  readonly stats: LaneStats;
  /** Keeps going while this returns true (checked between batches). */
  readonly running: () => boolean;
  /** The last cases sent (described on demand), for the failure report. */
  readonly recent: (string | FuzzCase)[];
}

const MAX_BATCHES_PER_SESSION = 60;
/** Cases in a batch: 1 to this many, then the marker. */
const BATCH_MAX = 32;
const RECENT_KEPT = 40;

/** A lane's recent cases as report lines. */
export function describeRecent(recent: readonly (string | FuzzCase)[]): string[] {
  return recent.map((entry) => (typeof entry === "string" ? entry : `  ${describeCase(entry)}`));
}

function remember(options: LaneOptions, line: string | FuzzCase): void {
  options.recent.push(line);
  if (options.recent.length > RECENT_KEPT) options.recent.shift();
}

/**
 * A degenerate input on a fresh session: `frames` as WebSocket frames, or `body` as one polling POST, then a
 * marker. Returns what became of the session: "closed" (refused), "answered" (it lives on) or "hang".
 */
export async function degenerate(
  options: Pick<LaneOptions, "url" | "key" | "rng">,
  revision: EngineRevision,
  transport: RawTransport,
  input: { readonly frames: readonly string[]; readonly body: string },
): Promise<"closed" | "answered" | "hang" | "refused"> {
  const lane = { ...options, stats: emptyStats(), running: () => true, recent: [] };
  const session = await openJoined(lane, revision, transport);
  if (session === undefined) return "refused";
  await session.sendRaw(input.frames, input.body);
  const marker = '421["echo","m"]';
  if (!session.closed) await session.sendRaw([marker], revision === 4 ? marker : `${marker.length}:${marker}`);
  const answer = await session.marker(1);
  session.close();
  return answer === true ? "answered" : answer === false ? "closed" : "hang";
}

/** The share of a lane's sessions that are a handshake-level case instead. */
const HANDSHAKE_CASE_SHARE = 0.05;

/**
 * One handshake-level case: its answer is recorded as `<case> <status>[ <engine.io code>]`; a session it opened
 * is closed at once (a polling close packet, or the WebSocket cut).
 */
async function handshakeCase(options: LaneOptions): Promise<void> {
  const { op, query } = options.rng.pick(HANDSHAKE_CASES);
  const url = new URL(`/socket.io/?${query}&userId=${encodeURIComponent(options.key)}`, options.url);
  let answer: string;
  if (query.includes("transport=websocket")) {
    url.protocol = "ws:";
    answer = await new Promise<string>((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on("open", () => {
        ws.terminate();
        resolve("open");
      });
      ws.on("unexpected-response", (_req, res) => {
        res.resume();
        ws.terminate();
        resolve(String(res.statusCode));
      });
      ws.on("error", () => resolve("error"));
    });
  } else {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(MARKER_TIMEOUT_MS) });
      const body = await response.text();
      const code = /^\{"code":(\d+)/.exec(body)?.[1];
      answer = `${response.status}${code === undefined ? "" : ` ${code}`}`;
      const sid = /"sid":"([^"]+)"/.exec(body)?.[1];
      if (response.ok && sid !== undefined) {
        // A session was opened (engine.io reads an odd EIO as revision 3): close it as a client would.
        url.searchParams.set("sid", sid);
        const revision = body.startsWith("0") ? 4 : 3;
        await fetch(url, { method: "POST", body: revision === 4 ? "1" : "1:1", signal: AbortSignal.timeout(MARKER_TIMEOUT_MS) })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
    } catch {
      answer = "error";
    }
  }
  const key = `${op} ${answer}`;
  options.stats.handshakes[key] = (options.stats.handshakes[key] ?? 0) + 1;
  options.stats.cases++;
}

/** Runs sessions until `running()` turns false. */
export async function runLane(options: LaneOptions): Promise<void> {
  const { rng, stats } = options;
  let markerId = 1;
  while (options.running()) {
    if (rng.chance(HANDSHAKE_CASE_SHARE)) {
      await handshakeCase(options);
      continue;
    }
    const revision: EngineRevision = rng.chance(0.5) ? 3 : 4;
    const transport: RawTransport = rng.chance(0.6) ? "websocket" : "polling";
    const label = `v${revision}-${transport}`;
    const session = await openJoined(options, revision, transport);
    if (session === undefined) {
      stats.refusedHandshakes++;
      continue;
    }
    stats.sessions++;
    stats.mix[label] = (stats.mix[label] ?? 0) + 1;
    remember(options, `session ${label}`);
    if (!session.receiver.connected) {
      if (!session.closed) stats.hangs.push(`${label}: no CONNECT answer`);
      session.close();
      continue;
    }
    for (let batch = 0; batch < MAX_BATCHES_PER_SESSION && options.running() && !session.closed; batch++) {
      const cases = nextBatch(rng, revision, 1 + rng.int(BATCH_MAX));
      for (const c of cases) {
        stats.ops[c.op] = (stats.ops[c.op] ?? 0) + 1;
        remember(options, c);
      }
      const id = markerId++;
      const marker = { op: "marker", packet: { kind: "text", data: `42${id}["echo","m${id}"]` } } as const;
      const payloadOp = await session.send([...cases, marker]);
      if (payloadOp !== undefined) {
        stats.payloadCases++;
        stats.ops[payloadOp] = (stats.ops[payloadOp] ?? 0) + 1;
        remember(options, `  payload ${payloadOp}`);
      }
      stats.cases += cases.length;
      stats.batches++;
      const answer = await session.marker(id);
      if (answer === true) stats.answered++;
      else if (answer === false) stats.serverClosed++;
      else if (cases.some((c) => c.packet.kind === "text" && isNamespaceDisconnect(c.packet.data))) {
        // The batch left "/": socket.io may drop the marker silently (events read with the DISCONNECT); not a hang.
        stats.left++;
        break;
      } else {
        stats.hangs.push(`${label}: marker ${id} unanswered after\n${describeRecent(options.recent.slice(-cases.length - 1)).join("\n")}`);
        break;
      }
    }
    session.close();
  }
}
