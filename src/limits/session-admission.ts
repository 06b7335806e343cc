/**
 * Whether a new session may start on this instance: the handshake rate (a token bucket), the instance's
 * session cap and, when set, the per-address cap. A session admitted under the per-address cap holds a
 * lease on its address until it ends (terminated or piped); `release` is idempotent, so every way a
 * session or a failed handshake ends may call it.
 */
import { isIPv4 } from "node:net";
import type { ErrorCode } from "../errors.js";
import { publish, type LimitName } from "../telemetry/events.js";
import { TokenBucket } from "./token-bucket.js";

export interface AdmissionLimits {
  /** 0: no cap. */
  readonly maxSessions: number;
  /** 0: no cap. */
  readonly maxSessionsPerAddress: number;
  /** Handshakes per second; 0: no cap. */
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
}

export type Release = () => void;

export type Admission =
  | { readonly ok: true; readonly release: Release }
  | { readonly ok: false; readonly status: 429 | 503; readonly code: ErrorCode; readonly retryAfterSeconds: number };

/** What a full instance asks clients to wait: about one reconnect back-off of a socket.io client. */
export const SESSION_LIMIT_RETRY_AFTER_SECONDS = 5;

const NOTHING_TO_RELEASE: Release = () => {};

/** `::ffff:10.0.0.1` (a dual-stack listener's IPv4 client) is 10.0.0.1: one client, one count. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(.+)$/i.exec(address)?.[1];
  return mapped !== undefined && isIPv4(mapped) ? mapped : address.toLowerCase();
}

export class SessionAdmission {
  private readonly bucket: TokenBucket | undefined;
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly limits: AdmissionLimits,
    /** Sessions open on this instance now (terminated and piped). */
    private readonly openSessions: () => number,
    now?: () => number,
  ) {
    this.bucket = limits.handshakeRate > 0 ? new TokenBucket(limits.handshakeRate, limits.handshakeBurst, now) : undefined;
  }

  /** Addresses holding at least one lease (for tests and leak checks). */
  get trackedAddresses(): number {
    return this.perAddress.size;
  }

  admit(clientAddress: string): Admission {
    const { maxSessions, maxSessionsPerAddress } = this.limits;
    if (maxSessions > 0 && this.openSessions() >= maxSessions)
      return refuse("sessions", 503, "SWY_ERR_SESSION_LIMIT", SESSION_LIMIT_RETRY_AFTER_SECONDS);
    const key = addressKey(clientAddress);
    const held = this.perAddress.get(key) ?? 0;
    if (maxSessionsPerAddress > 0 && held >= maxSessionsPerAddress)
      return refuse("sessions_per_address", 429, "SWY_ERR_ADDRESS_LIMIT", SESSION_LIMIT_RETRY_AFTER_SECONDS);
    // The rate is checked last: a refused handshake does not spend a token.
    if (this.bucket !== undefined && !this.bucket.take())
      return refuse("handshake_rate", 503, "SWY_ERR_RATE_LIMITED", this.bucket.secondsUntilNext());
    if (maxSessionsPerAddress === 0) return { ok: true, release: NOTHING_TO_RELEASE };
    this.perAddress.set(key, held + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.perAddress.get(key) ?? 1) - 1;
        if (left <= 0) this.perAddress.delete(key);
        else this.perAddress.set(key, left);
      },
    };
  }
}

function refuse(limit: LimitName, status: 429 | 503, code: ErrorCode, retryAfterSeconds: number): Admission {
  publish("switchyard:limit:hit", { limit });
  return { ok: false, status, code, retryAfterSeconds };
}
