/**
 * Turns what a scenario recorded (the tap's packets, the client's observations) into transcripts that
 * timing cannot change, so that two runs of a scenario, against the legacy server directly or through the
 * gateway, compare equal exactly when they behave the same. The rules (also in compat-fixtures/README.md):
 * - packets, not HTTP bodies: polling batches are flattened, each direction keeps its packet order;
 * - heartbeats `2`/`3` without data, noops `6` and close packets `1` are dropped (when and whether they
 *   happen depends on poll timing), and so are non-200 answers after the session was already closing;
 * - the upgrade handshake (`2probe`, `3probe`, `5`) is listed apart: where it falls among the messages
 *   depends on timing, its own order does not;
 * - engine and socket ids become `<sid:N>` (numbered in order of first appearance), `ts` becomes `<ts>`,
 *   string literals of 1000+ characters become `<string len=N sha1=...>`, binary `<binary len=N sha1=...>`.
 * The raw variant keeps packets valid for the protocol table tests: ids become fake ids of the same length,
 * `ts` a fixed number, and huge strings a short marker.
 */
import type { WirePacket } from "./compat-wire-decode.js";
import { sha1Hex, type TapSession, type TapTransport } from "./wire-tap.js";

export const HUGE_STRING = 1000;
export const FIXED_TS = 1700000000000;

export interface NormalizedSession {
  readonly transports?: TapTransport[];
  readonly c2s: string[];
  readonly s2c: string[];
  readonly upgrade?: string[];
  readonly http?: string[];
}

/** A raw packet: Engine.IO text packet, or a binary message (only its length is kept). */
export type RawPacket = string | { readonly binary: number };

export interface RawSession {
  readonly c2s: RawPacket[];
  readonly s2c: RawPacket[];
}

const UPGRADE_PACKETS = new Set(["2probe", "3probe", "5"]);
const TIMING_PACKETS = new Set(["1", "2", "3", "6"]);
const OPEN_SID = /^0\{.*?"sid":"([^"]+)"/s;
const CONNECT_SID = /^40(?:\/[^,]*,)?\{.*?"sid":"([^"]+)"/s;
const TS_FIELD = /"ts":\d+/g;

/** Ids seen in a scenario, numbered in a deterministic order (clients in label order, packets in order). */
export class IdTable {
  private readonly numbers = new Map<string, number>();
  private pattern: RegExp | undefined;

  add(candidate: string | undefined): void {
    // A 2.x socket id for a namespace is `nsp#engineId`: number the engine id, keep the `nsp#` visible.
    const id = candidate?.slice(candidate.lastIndexOf("#") + 1);
    if (id === undefined || id.length < 8 || this.numbers.has(id)) return;
    this.numbers.set(id, this.numbers.size + 1);
    this.pattern = undefined;
  }

  addFromSession(session: TapSession): void {
    for (const { packet } of session.s2c) {
      if (typeof packet !== "string") continue;
      this.add(OPEN_SID.exec(packet)?.[1]);
      const message = packet.startsWith("4") ? packet.slice(1) : "";
      this.add(CONNECT_SID.exec(message)?.[1]);
    }
  }

  replace(text: string, placeholder: (n: number, id: string) => string): string {
    if (this.numbers.size === 0) return text;
    this.pattern ??= new RegExp(
      [...this.numbers.keys()]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join("|"),
      "g",
    );
    return text.replace(this.pattern, (id) => placeholder(this.numbers.get(id)!, id));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function binaryPlaceholder(data: Buffer): string {
  return `<binary len=${data.length} sha1=${sha1Hex(data)}>`;
}

export function stringPlaceholder(text: string): string {
  return `<string len=${text.length} sha1=${sha1Hex(text)}>`;
}

/**
 * Replaces the content of every JSON string literal of at least `HUGE_STRING` characters in a packet.
 * A scanner, not a regular expression: the literals are up to a megabyte long.
 */
export function shrinkHugeStrings(packet: string, replacement: (content: string) => string): string {
  if (packet.length < HUGE_STRING) return packet;
  let out = "";
  let copied = 0;
  for (let i = 0; i < packet.length; i++) {
    if (packet.charCodeAt(i) !== 34 /* " */) continue;
    let j = i + 1;
    while (j < packet.length && packet.charCodeAt(j) !== 34) j += packet.charCodeAt(j) === 92 /* \ */ ? 2 : 1;
    if (j - i - 1 >= HUGE_STRING) {
      out += packet.slice(copied, i + 1) + replacement(packet.slice(i + 1, j));
      copied = j;
    }
    i = j;
  }
  return out + packet.slice(copied);
}

function placeholderId(n: number): string {
  return `<sid:${n}>`;
}

/** A fake id of the same length (so packets keep their shape) that is stable across recordings. */
function fakeId(n: number, id: string): string {
  return `ID${String(n).padStart(Math.max(1, id.length - 2), "0")}`;
}

export function normalizeText(text: string, ids: IdTable): string {
  return shrinkHugeStrings(ids.replace(text, placeholderId).replace(TS_FIELD, '"ts":"<ts>"'), stringPlaceholder);
}

function rawText(text: string, ids: IdTable): string {
  const shrunk = shrinkHugeStrings(text, (content) => `<omitted len=${content.length}>`);
  return ids.replace(shrunk, fakeId).replace(TS_FIELD, `"ts":${FIXED_TS}`);
}

/** The seq at which the session started closing: its first close packet or WebSocket close. */
function closingSeq(session: TapSession): number {
  let first = session.wsClosedAt ?? Number.POSITIVE_INFINITY;
  for (const { seq, packet } of [...session.c2s, ...session.s2c]) if (packet === "1" && seq < first) first = seq;
  return first;
}

/** `4` (Engine.IO message), then EVENT `2` or BINARY_EVENT `5<n>-`, an optional namespace, the ack id. */
const SERVER_ACK_REQUEST = /^4(2|5\d+-)(\/[^,]*,)?(\d+)/;
/** ACK `3` or BINARY_ACK `6<n>-`, an optional namespace, the ack id. */
const CLIENT_ACK_REPLY = /^4(3|6\d+-)(\/[^,]*,)?(\d+)/;

/**
 * Ack ids the *server* picks (for its emits with a callback) come from a counter socket.io shares across
 * every socket of a namespace, so they depend on everything else the server did. They are renumbered per
 * session in order of appearance, in the server's request and in the client's reply alike.
 */
class ServerAckIds {
  private readonly numbers = new Map<string, number>();

  request(packet: string, format: (n: number) => string): string {
    return packet.replace(SERVER_ACK_REQUEST, (_m, type: string, nsp = "", id: string) => {
      const key = `${nsp}${id}`;
      if (!this.numbers.has(key)) this.numbers.set(key, this.numbers.size + 1);
      return `4${type}${nsp}${format(this.numbers.get(key)!)}`;
    });
  }

  reply(packet: string, format: (n: number) => string): string {
    return packet.replace(CLIENT_ACK_REPLY, (match, type: string, nsp = "", id: string) => {
      const n = this.numbers.get(`${nsp}${id}`);
      return n === undefined ? match : `4${type}${nsp}${format(n)}`;
    });
  }
}

function renumberServerAcks(
  messages: { c2s: WirePacket[]; s2c: WirePacket[] },
  format: (n: number) => string,
): { c2s: WirePacket[]; s2c: WirePacket[] } {
  const acks = new ServerAckIds();
  const s2c = messages.s2c.map((p) => (typeof p === "string" ? acks.request(p, format) : p));
  const c2s = messages.c2s.map((p) => (typeof p === "string" ? acks.reply(p, format) : p));
  return { c2s, s2c };
}

interface Split {
  readonly messages: { c2s: WirePacket[]; s2c: WirePacket[] };
  readonly upgrade: string[];
}

function split(session: TapSession): Split {
  const upgrade = [...session.c2s, ...session.s2c]
    .filter(({ packet }) => typeof packet === "string" && UPGRADE_PACKETS.has(packet))
    .sort((a, b) => a.seq - b.seq)
    .map(({ packet }) => packet as string);
  const keep = (packet: WirePacket) => typeof packet !== "string" || (!UPGRADE_PACKETS.has(packet) && !TIMING_PACKETS.has(packet));
  return {
    messages: { c2s: session.c2s.map((p) => p.packet).filter(keep), s2c: session.s2c.map((p) => p.packet).filter(keep) },
    upgrade,
  };
}

export interface SessionNotes {
  /**
   * The session closed while its upgrade probe may still have been under way (a 4.x client closes its
   * engine on a refusal): which transport carried what, and how far the probe got, are timing.
   */
  readonly upgradeRaced?: boolean;
}

export function normalizeSession(session: TapSession, ids: IdTable, notes: SessionNotes = {}): NormalizedSession {
  const { upgrade, ...rest } = split(session);
  const messages = renumberServerAcks(rest.messages, (n) => `<ack:${n}>`);
  const packet = (p: WirePacket) => (typeof p === "string" ? normalizeText(p, ids) : binaryPlaceholder(p));
  const transports: TapTransport[] = [];
  for (const { transport } of [...session.c2s, ...session.s2c].sort((a, b) => a.seq - b.seq)) {
    if (!transports.includes(transport)) transports.push(transport);
  }
  const closing = closingSeq(session);
  const http = session.httpErrors
    .filter((e) => e.seq < closing)
    .map((e) => normalizeText(`${e.method} ${e.transport} ${e.status} ${e.body}`, ids));
  return {
    ...(notes.upgradeRaced ? {} : { transports }),
    c2s: messages.c2s.map(packet),
    s2c: messages.s2c.map(packet),
    ...(upgrade.length > 0 && !notes.upgradeRaced ? { upgrade } : {}),
    ...(http.length > 0 ? { http } : {}),
  };
}

export function rawSession(session: TapSession, ids: IdTable): RawSession {
  // Renumbered from 1, as digits: the packets stay valid and stable across recordings.
  const messages = renumberServerAcks(split(session).messages, String);
  const packet = (p: WirePacket): RawPacket => (typeof p === "string" ? rawText(p, ids) : { binary: p.length });
  return { c2s: messages.c2s.map(packet), s2c: messages.s2c.map(packet) };
}

/** Client-observed values: Buffers and huge strings become placeholders, `ts` numbers `<ts>`, ids `<sid:N>`. */
export function normalizeValue(value: unknown, ids: IdTable): unknown {
  const plain = toPlain(value);
  return JSON.parse(ids.replace(JSON.stringify(plain) ?? "null", placeholderId)) as unknown;
}

function toPlain(value: unknown, key?: string): unknown {
  if (Buffer.isBuffer(value)) return binaryPlaceholder(value);
  if (value instanceof ArrayBuffer) return binaryPlaceholder(Buffer.from(value));
  if (ArrayBuffer.isView(value)) return binaryPlaceholder(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  if (typeof value === "string") return value.length >= HUGE_STRING ? stringPlaceholder(value) : value;
  if (typeof value === "number" && key === "ts") return "<ts>";
  if (value === undefined) return "<undefined>";
  if (typeof value === "function") return "<function>";
  if (Array.isArray(value)) return value.map((item) => toPlain(item));
  if (value !== null && typeof value === "object") {
    if (value instanceof Error) return { error: value.message, ...toPlainObject(value) };
    return toPlainObject(value);
  }
  return value;
}

function toPlainObject(value: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = toPlain(item, key);
  return out;
}
