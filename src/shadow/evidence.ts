/**
 * Evidence of shadow mismatches: the last N, with both payloads, the structural diff, the session, the
 * event and the time, for `GET /admin/shadow/diffs` and `switchyard diffs`. Always kept in a ring in
 * memory; with Redis, also in a capped stream (XADD MAXLEN ~) so that every instance's evidence can be
 * read from any instance. Redis trouble never reaches the caller: the ring still answers.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { createRedisClient } from "../store/redis-connection.js";
import { jsonObject, malformedEntry } from "../store/store-entries.js";
import type { Difference } from "./noise.js";

export interface MismatchEvidence {
  /** ISO 8601. */
  readonly at: string;
  readonly instanceId: string;
  readonly sessionId: string;
  readonly nsp: string;
  readonly event: string;
  readonly kind: "event" | "ack";
  readonly ackId?: number | undefined;
  readonly delayMs?: number | undefined;
  readonly diff: readonly Difference[];
  readonly primary: unknown;
  readonly shadow: unknown;
}

export interface DiffEvidence {
  record(entry: MismatchEvidence): void;
  /** Newest first. */
  recent(limit: number): Promise<MismatchEvidence[]>;
  close(): Promise<void>;
}

/** Payloads are kept for reading, not for replay: long strings and Buffers are abbreviated. */
const MAX_STRING = 2048;

function abbreviate(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $binary: value.byteLength };
  if (depth > 20 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => abbreviate(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .slice(0, 100)
      .map(([key, item]) => [key, abbreviate(item, depth + 1)]),
  );
}

/** An evidence entry read back from Redis, or why it is not one. */
function evidenceOf(text: string): MismatchEvidence | string {
  const entry = jsonObject(text);
  if (typeof entry === "string") return entry;
  const { at, instanceId, sessionId, nsp, event, kind, diff } = entry;
  if (![at, instanceId, sessionId, nsp, event].every((field) => typeof field === "string"))
    return '"at", "instanceId", "sessionId", "nsp" or "event" is not a string';
  if (kind !== "event" && kind !== "ack") return '"kind" is neither event nor ack';
  if (!Array.isArray(diff)) return '"diff" is not a list';
  return entry as unknown as MismatchEvidence;
}

export function evidenceEntry(
  fields: Omit<MismatchEvidence, "primary" | "shadow"> & { primary: unknown; shadow: unknown },
): MismatchEvidence {
  return {
    ...fields,
    diff: abbreviate(fields.diff) as Difference[],
    primary: abbreviate(fields.primary),
    shadow: abbreviate(fields.shadow),
  };
}

export class MemoryDiffEvidence implements DiffEvidence {
  private readonly ring: MismatchEvidence[] = [];

  constructor(private readonly capacity: number) {}

  record(entry: MismatchEvidence): void {
    this.ring.push(entry);
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  async recent(limit: number): Promise<MismatchEvidence[]> {
    return this.ring.slice(-limit).reverse();
  }

  async close(): Promise<void> {}
}

export class RedisDiffEvidence implements DiffEvidence {
  private readonly local: MemoryDiffEvidence;
  private readonly redis: Redis;
  private readonly key: string;

  constructor(
    url: string,
    keyPrefix: string,
    private readonly capacity: number,
    private readonly log: Logger,
  ) {
    this.local = new MemoryDiffEvidence(capacity);
    this.key = `${keyPrefix}shadow:diffs`;
    this.redis = createRedisClient(url, { connectionName: "switchyard:shadow-evidence" });
    this.redis.on("error", () => {});
  }

  record(entry: MismatchEvidence): void {
    this.local.record(entry);
    this.redis.xadd(this.key, "MAXLEN", "~", String(this.capacity), "*", "entry", JSON.stringify(entry)).catch((error: Error) => {
      this.log.debug({ err: error.message }, "shadow evidence not written to Redis");
    });
  }

  async recent(limit: number): Promise<MismatchEvidence[]> {
    try {
      const rows = await this.redis.xrevrange(this.key, "+", "-", "COUNT", limit);
      return rows.flatMap(([, fields]) => {
        const text = fields[1] ?? "";
        const entry = evidenceOf(text);
        if (typeof entry !== "string") return [entry];
        malformedEntry(this.log, "shadow evidence", text, entry);
        return [];
      });
    } catch {
      return this.local.recent(limit);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
