/**
 * Engine.IO session ids. The gateway picks them itself for hub sessions and for sessions whose route waits
 * for the first CONNECT; downstream and upstream both need them, so they live here rather than in either.
 */
import { randomBytes } from "node:crypto";

/** engine.io's id format (base64id): 15 random bytes, base64url, 20 characters. */
export function generateSessionId(): string {
  return randomBytes(15).toString("base64url");
}
