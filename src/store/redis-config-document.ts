/**
 * The routing config document in Redis: a hash {version, config} changed only by Lua scripts that also
 * publish the new version on the change channel, so that a write and its notification cannot part.
 */
import type { Redis } from "ioredis";
import type { RoutingConfig } from "../config/routing-config.js";

/** Stores ARGV[2] as version current+1 if the stored version is ARGV[1] (absent: ARGV[3]); replies {stored, version}. */
const CAS_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or ARGV[3])
if current ~= tonumber(ARGV[1]) then return {0, current} end
redis.call('HSET', KEYS[1], 'version', current + 1, 'config', ARGV[2])
redis.call('PUBLISH', ARGV[4], tostring(current + 1))
return {1, current + 1}`;

/** Stores the document only when none is stored; replies 1 when it did. */
const SEED_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'config', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1`;

export class RedisConfigDocument {
  constructor(
    private readonly redis: Redis,
    /** The hash key. */
    readonly key: string,
    /** The pub/sub channel every change is announced on. */
    readonly changed: string,
  ) {}

  /**
   * Stores `next` if the stored version is `expectedVersion` (or, with nothing stored, if `fallbackVersion`
   * is). Resolves with whether it did and the version stored now.
   */
  async compareAndSet(
    expectedVersion: number,
    next: RoutingConfig,
    fallbackVersion: number,
  ): Promise<{ stored: boolean; version: number }> {
    const args = [String(expectedVersion), JSON.stringify(next), String(fallbackVersion), this.changed];
    const [stored, version] = (await this.redis.eval(CAS_SCRIPT, 1, this.key, ...args)) as [number, number];
    return { stored: stored === 1, version };
  }

  /** Stores `config` (under its own version) only if Redis holds no document; true when it did. */
  async seed(config: RoutingConfig): Promise<boolean> {
    return (await this.redis.eval(SEED_SCRIPT, 1, this.key, String(config.version), JSON.stringify(config), this.changed)) === 1;
  }

  /** The stored version and document, as text (the caller validates both); undefined when either is missing. */
  async read(): Promise<{ versionText: string; document: string } | undefined> {
    const [versionText, document] = await this.redis.hmget(this.key, "version", "config");
    return versionText == null || document == null ? undefined : { versionText, document };
  }

  /** The stored version only (the cheap periodic check); undefined when none is stored. */
  async version(): Promise<number | undefined> {
    const version = await this.redis.hget(this.key, "version");
    return version === null ? undefined : Number(version);
  }
}
