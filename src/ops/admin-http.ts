/**
 * HTTP plumbing of the admin API: Bearer authentication (constant time), bounded JSON bodies,
 * If-Match parsing and JSON error answers `{code: "SWY_ERR_...", message, ...}`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SwitchyardError, type ErrorCode } from "../errors.js";
import type { Actor } from "../store/routing-store.js";
import { publish, type AdminRefusalReason } from "../telemetry/events.js";
import { sendJson } from "./ops-server.js";

/** A refusal with its HTTP status; the admin API turns it into a JSON answer. */
export class AdminHttpError extends SwitchyardError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code, detail);
  }
}

export function sendError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { code, message, ...extra }, headers);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** A short, non-reversible name for a token, for audit entries: "token:1a2b3c4d". */
export function tokenIdentity(token: string): string {
  return `token:${sha256(token).toString("hex").slice(0, 8)}`;
}

/**
 * Checks `Authorization: Bearer <token>` against the configured token. The comparison runs over
 * SHA-256 digests so that both sides have equal length and the time taken says nothing about the token.
 * Throws AdminHttpError (403 when no token is configured, 401 otherwise); returns the caller's identity.
 */
export function authenticate(req: IncomingMessage, adminToken: string | undefined): string {
  if (adminToken === undefined) {
    refused(req, "disabled");
    throw new AdminHttpError(403, "SWY_ERR_ADMIN_DISABLED", "set ADMIN_TOKEN on the gateway to allow admin calls that need it");
  }
  const header = req.headers.authorization ?? "";
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const given = match?.[1] ?? "";
  const ok = timingSafeEqual(sha256(given), sha256(adminToken));
  if (!ok || match === null) {
    refused(req, match === null ? "missing" : "wrong");
    throw new AdminHttpError(
      401,
      "SWY_ERR_ADMIN_UNAUTHORIZED",
      match === null ? "send Authorization: Bearer <ADMIN_TOKEN>" : "the token was refused",
      {},
      { "www-authenticate": 'Bearer realm="switchyard"' },
    );
  }
  return tokenIdentity(given);
}

/** Counts and describes a refused admin call: what was asked and from where, never the token it carried. */
function refused(req: IncomingMessage, reason: AdminRefusalReason): void {
  publish("switchyard:admin:refused", {
    reason,
    method: req.method ?? "",
    path: (req.url ?? "").split("?")[0] ?? "",
    address: req.socket.remoteAddress ?? "",
  });
}

export function actorOf(req: IncomingMessage, identity: string): Actor {
  const forwarded = req.headers["x-forwarded-for"];
  const address = req.socket.remoteAddress ?? "";
  const agent = req.headers["user-agent"];
  return {
    address: typeof forwarded === "string" && forwarded !== "" ? `${address} (x-forwarded-for: ${forwarded})` : address,
    identity: agent === undefined ? identity : `${identity} (${agent})`,
  };
}

/** `If-Match: 7` (or `"7"`, `W/"7"`) → 7. Throws 428 when absent, 400 when not a version. */
export function expectedVersionOf(req: IncomingMessage): number {
  const header = req.headers["if-match"];
  if (header === undefined || header.trim() === "") {
    throw new AdminHttpError(
      428,
      "SWY_ERR_ADMIN_BAD_REQUEST",
      "If-Match: <version> is required (the version you read with GET /admin/routing)",
    );
  }
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (match === null)
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", `If-Match must be a config version number (got ${JSON.stringify(header)})`);
  return Number(match[1]);
}

/** If-Match when present (PATCH: optional), else undefined. Throws 400 when it is not a version. */
export function optionalExpectedVersionOf(req: IncomingMessage): number | undefined {
  const header = req.headers["if-match"];
  return header === undefined || header.trim() === "" ? undefined : expectedVersionOf(req);
}

/** Nesting of an admin JSON body: a routing document is 4 levels deep (shadow.rules[i].ignore[j]). */
export const MAX_JSON_DEPTH = 16;
/** Values (keys and items) in an admin JSON body: a routing document at its own bounds holds about 120,000. */
export const MAX_JSON_VALUES = 250_000;

/** What is wrong with the shape of a parsed JSON value (too deep, too many values), or undefined. Iterative. */
export function jsonShapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, maxValues = MAX_JSON_VALUES): string | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  let values = 0;
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (++values > maxValues) return `more than ${maxValues} values`;
    if (current === null || typeof current !== "object") continue;
    if (depth > maxDepth) return `nested deeper than ${maxDepth} levels`;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return undefined;
}

/** Reads and parses a JSON body of at most `limit` bytes (and MAX_JSON_DEPTH, MAX_JSON_VALUES). Throws 413 / 400 / 415. */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  const tooLarge = () => {
    // Answer, then drop the connection: the rest of the body is not worth reading.
    res.once("finish", () => req.destroy());
    publish("switchyard:limit:hit", { limit: "admin_body" });
    return new AdminHttpError(413, "SWY_ERR_ADMIN_BAD_REQUEST", `the body exceeds ${limit} bytes`, {}, { connection: "close" });
  };
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(type)) {
    req.resume();
    throw new AdminHttpError(415, "SWY_ERR_ADMIN_BAD_REQUEST", `send JSON (content-type: application/json), not ${type}`);
  }
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const received: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void received.push(chunk);
      // Stop reading but keep the socket: the 413 still has to be written on it.
      req.off("data", onData);
      req.pause();
      reject(tooLarge());
    };
    req.on("data", onData);
    req.once("end", () => resolve(received));
    req.once("error", reject);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", "the body is empty; send a JSON document");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", `the body is not valid JSON (${(error as Error).message})`);
  }
  const problem = jsonShapeProblem(parsed);
  if (problem !== undefined) {
    publish("switchyard:limit:hit", { limit: "admin_body" });
    throw new AdminHttpError(400, "SWY_ERR_ADMIN_BAD_REQUEST", `the body is ${problem}`);
  }
  return parsed;
}
