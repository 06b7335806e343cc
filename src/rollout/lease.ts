/**
 * Which instance leads the rollout: a lease in Redis (`<owner>|<fence>` with a TTL), taken with a
 * SET NX PX inside a Lua script that also hands out the fencing token (a counter that only grows) and
 * renews the lease only for its owner. A leader that stalls past the TTL loses the lease; what it writes
 * afterwards is refused because the rollout state carries the newer leader's fence (and every write is a
 * compare-and-set on the routing document's version). Without Redis, the one instance always leads.
 */
import type { Redis } from "ioredis";

export interface Lease {
  /** Takes or renews the lease; resolves with this holder's fencing token, or undefined when another instance holds it. */
  acquire(minFence: number): Promise<number | undefined>;
  /** Who holds it now ("gw-a"), if known. */
  holder(): Promise<string | undefined>;
  /** Gives it up (shutdown), only if this instance holds it. */
  release(): Promise<void>;
}

/**
 * KEYS[1] the lease, KEYS[2] the fence counter; ARGV: owner, ttl ms, the smallest fence to hand out
 * (after a Redis restart the counter is gone, while the stored rollout state still names the last fence).
 */
const ACQUIRE_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held then
  local owner, fence = string.match(held, '^(.*)|(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(fence)
  end
  return 0
end
local fence = redis.call('INCR', KEYS[2])
if fence < tonumber(ARGV[3]) then
  fence = tonumber(ARGV[3])
  redis.call('SET', KEYS[2], fence)
end
if not redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'NX', 'PX', ARGV[2]) then return 0 end
return fence`;

const RELEASE_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^(.*)|%d+$') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class RedisLease implements Lease {
  private readonly key: string;
  private readonly fenceKey: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {
    this.key = `${prefix}rollout:lease`;
    this.fenceKey = `${prefix}rollout:fence`;
  }

  async acquire(minFence: number): Promise<number | undefined> {
    const fence = (await this.redis.eval(
      ACQUIRE_SCRIPT,
      2,
      this.key,
      this.fenceKey,
      this.owner,
      String(this.ttlMs),
      String(minFence),
    )) as number;
    return fence > 0 ? fence : undefined;
  }

  async holder(): Promise<string | undefined> {
    const held = await this.redis.get(this.key);
    return held === null ? undefined : held.replace(/\|\d+$/, "");
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.owner);
  }
}

export class LocalLease implements Lease {
  private fence = 0;

  constructor(private readonly owner: string) {}

  async acquire(minFence: number): Promise<number> {
    if (this.fence < minFence) this.fence = minFence;
    if (this.fence === 0) this.fence = 1;
    return this.fence;
  }

  async holder(): Promise<string> {
    return this.owner;
  }

  async release(): Promise<void> {}
}
