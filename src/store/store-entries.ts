/**
 * Reading back what the Redis store wrote. Redis is shared (other deployments, operators with redis-cli,
 * older versions): an entry that does not have the shape Switchyard writes is treated as absent, counted
 * (switchyard_contained_errors_total{boundary="store",code="SWY_ERR_STORE_MALFORMED"}) and logged, never
 * trusted and never thrown. Pure checks, plus the one reporting helper.
 */
import type { Logger } from "pino";
import type { Backend, ClientTransport } from "../domain.js";
import { publish } from "../telemetry/events.js";
import { isPlainObject } from "../protocol/json-values.js";
import type { AuditEntry, DrainCommand, InstanceStatus, SessionOwner } from "./routing-store.js";

/** Which kind of entry was malformed, for the log line. */
export type StoreEntryKind =
  | "session registry entry"
  | "drain command"
  | "audit entry"
  | "instance status"
  | "shadow evidence"
  | "routing config";

/** Counts and logs an entry that was treated as absent. */
export function malformedEntry(log: Logger, kind: StoreEntryKind, text: string, why: string): void {
  publish("switchyard:error:contained", { boundary: "store", code: "SWY_ERR_STORE_MALFORMED" });
  log.warn(
    { code: "SWY_ERR_STORE_MALFORMED", entry: kind, why, value: text.slice(0, 200) },
    `malformed ${kind} in Redis, treated as absent`,
  );
}

function record(value: unknown): Record<string, unknown> | undefined {
  return isPlainObject(value) ? value : undefined;
}

/** JSON text → object, or a reason. */
export function jsonObject(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  return record(value) ?? "not a JSON object";
}

const isString = (value: unknown): value is string => typeof value === "string";
const isCount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
const isTime = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/**
 * A session registry value `{"i": instance id, "u": internal URL}`. The URL must be an http: URL: owner
 * forwarding speaks plain HTTP to the owner's client listener (INTERNAL_URL is validated the same way).
 */
export function sessionOwnerOf(text: string): SessionOwner | string {
  const entry = jsonObject(text);
  if (typeof entry === "string") return entry;
  const { i, u } = entry;
  if (!isString(i) || i === "") return 'no instance id "i"';
  if (!isString(u)) return 'no internal URL "u"';
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return `internal URL ${JSON.stringify(u.slice(0, 100))} cannot be parsed`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `internal URL ${JSON.stringify(u.slice(0, 100))} is not http: or https:`;
  return { instanceId: i, internalUrl: u };
}

export function drainCommandOf(text: string): DrainCommand | string {
  const entry = jsonObject(text);
  if (typeof entry === "string") return entry;
  const { id, backend, percent, origin, at } = entry;
  if (!isString(id) || id === "") return 'no "id"';
  if (backend !== "legacy" && backend !== "hub") return '"backend" is neither legacy nor hub';
  if (typeof percent !== "number" || !(percent > 0 && percent <= 100)) return '"percent" is not in (0, 100]';
  if (!isString(origin)) return 'no "origin"';
  return Object.freeze({ id, backend, percent, origin, at: isTime(at) ? at : Date.now() });
}

export function auditEntryOf(text: string): AuditEntry | string {
  const entry = jsonObject(text);
  if (typeof entry === "string") return entry;
  const { action, changes, at, instanceId } = entry;
  const actor = record(entry.actor);
  if (!isString(action) || !isString(at) || !isString(instanceId)) return '"action", "at" or "instanceId" is not a string';
  if (!Array.isArray(changes) || !changes.every(isString)) return '"changes" is not a list of strings';
  if (actor === undefined || !isString(actor.address) || !isString(actor.identity)) return 'no "actor"';
  return entry as unknown as AuditEntry;
}

function sessionCountsValid(value: unknown): boolean {
  const sessions = record(value);
  return (
    sessions !== undefined &&
    (["legacy", "hub"] satisfies Backend[]).every((backend) => {
      const counts = record(sessions[backend]);
      return counts !== undefined && (["polling", "websocket"] satisfies ClientTransport[]).every((t) => isCount(counts[t]));
    })
  );
}

export function instanceStatusOf(text: string): InstanceStatus | string {
  const entry = jsonObject(text);
  if (typeof entry === "string") return entry;
  const { instanceId, internalUrl, appliedVersion, store, startedAt, lastSeen } = entry;
  if (!isString(instanceId) || !isString(internalUrl)) return '"instanceId" or "internalUrl" is not a string';
  if (!isCount(appliedVersion)) return '"appliedVersion" is not a version';
  if (!sessionCountsValid(entry.sessions)) return '"sessions" are not counts per backend and transport';
  if (store !== "connected" && store !== "degraded") return '"store" is neither connected nor degraded';
  if (!isTime(startedAt) || !isTime(lastSeen)) return '"startedAt" or "lastSeen" is not a time';
  return entry as unknown as InstanceStatus;
}
