/**
 * Cases below the Socket.IO layer: how a batch travels in a polling POST (sometimes with its framing broken) and
 * handshake queries that engine.io, or the gateway before it, must refuse or read its own way.
 */
import type { FuzzCase } from "./mutator.js";
import type { Prng } from "./prng.js";
import type { EngineRevision } from "./raw-client.js";

/** The share of polling POSTs whose framing is broken (each ends its session). */
const PAYLOAD_MUTATION_SHARE = 0.1;

/**
 * A polling POST body carrying `cases`, framed for the revision, sometimes with a broken frame (bogus v3
 * lengths, stray v4 separators, bad base64): the payload-level cases.
 */
export function pollingBody(rng: Prng, revision: EngineRevision, cases: readonly FuzzCase[]): { body: Buffer; op: string | undefined } {
  const packets = cases.map((c) =>
    c.packet.kind === "binary" ? `${revision === 4 ? "b" : "b4"}${c.packet.data.toString("base64")}` : c.packet.data,
  );
  const parts = packets.map((p) => (typeof p === "string" ? Buffer.from(p) : p));
  const frame = (i: number) => {
    const part = parts[i]!;
    if (revision === 4) return part;
    // v3 lengths count UTF-16 units of the decoded string; a raw byte string is close enough for a length.
    return Buffer.concat([Buffer.from(`${part.toString("utf8").length}:`), part]);
  };
  if (!rng.chance(PAYLOAD_MUTATION_SHARE)) {
    const framed = parts.map((_, i) => frame(i));
    return { body: revision === 4 ? join(framed, Buffer.from("\x1e")) : Buffer.concat(framed), op: undefined };
  }
  const op = rng.pick(
    revision === 3
      ? ["v3-long-length", "v3-short-length", "v3-bad-length", "v3-no-colon", "v3-empty"]
      : ["v4-empty-record", "v4-trailing", "v4-bad-base64", "v4-empty"],
  );
  const body = join(parts, Buffer.from(revision === 4 ? "\x1e" : ""));
  switch (op) {
    case "v3-long-length":
      return { body: Buffer.concat([Buffer.from(`${body.length + 1 + rng.int(1000)}:`), body]), op };
    case "v3-short-length":
      return { body: Buffer.concat([Buffer.from(`${rng.int(Math.max(1, body.length))}:`), body]), op };
    case "v3-bad-length":
      return { body: Buffer.concat([Buffer.from(`${rng.pick(["abc", "-1", "1e3", "", "99999999999999999999"])}:`), body]), op };
    case "v3-no-colon":
      return { body: Buffer.concat([Buffer.from(String(body.length)), body]), op };
    case "v4-empty-record":
      return { body: Buffer.concat([Buffer.from("\x1e\x1e"), body]), op };
    case "v4-trailing":
      return { body: Buffer.concat([body, Buffer.from("\x1e")]), op };
    case "v4-bad-base64":
      return { body: Buffer.concat([body, Buffer.from("\x1eb!!!!")]), op };
    default:
      return { body: Buffer.alloc(0), op };
  }
}

function join(parts: readonly Buffer[], separator: Buffer): Buffer {
  const out: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) out.push(separator);
    out.push(part);
  });
  return Buffer.concat(out);
}

/** Handshake-level cases: a query that engine.io (or the gateway before it) must refuse or read its own way. */
export const HANDSHAKE_CASES: readonly { readonly op: string; readonly query: string }[] = [
  { op: "no-eio", query: "transport=polling" },
  { op: "no-eio-ws", query: "transport=websocket" },
  { op: "eio-5", query: "EIO=5&transport=polling" },
  { op: "eio-2", query: "EIO=2&transport=polling" },
  { op: "eio-junk", query: "EIO=abc&transport=polling" },
  { op: "eio-empty", query: "EIO=&transport=polling" },
  { op: "no-transport", query: "EIO=4" },
  { op: "bad-transport", query: "EIO=4&transport=flash" },
  { op: "unknown-sid", query: "EIO=4&transport=polling&sid=nope" },
  { op: "duplicate-eio", query: "EIO=4&EIO=3&transport=polling" },
];
