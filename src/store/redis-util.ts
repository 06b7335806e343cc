/** Helpers shared by the Redis store modules. */
import type { ChainableCommander, Redis } from "ioredis";
import type { Logger } from "pino";

/** What the parts of the Redis store share: the connection, whether Redis is up, who we are, where to log. */
export interface RedisStoreContext {
  readonly redis: Redis;
  /** False while Redis is known to be away. */
  readonly isReachable: () => boolean;
  readonly instanceId: string;
  readonly logger: Logger;
}

/** Runs a pipeline or transaction; rejects with the first failed command's error. */
export async function execOrThrow(commands: ChainableCommander): Promise<unknown[]> {
  const results = await commands.exec();
  if (results === null) throw new Error("transaction aborted");
  return results.map(([error, value]) => {
    if (error !== null) throw error;
    return value;
  });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
