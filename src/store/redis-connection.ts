/**
 * How every Redis client of the gateway connects (the routing store and its subscriber, the shadow
 * evidence, the rooms bridge): fail fast instead of queueing while disconnected, so that no caller ever
 * hangs on an outage; a bounded command time; reconnects forever with a short, capped backoff. The one
 * exception is a subscriber whose subscriptions must wait out an outage (queueWhileDisconnected).
 */
import { Redis, type RedisOptions } from "ioredis";

export const REDIS_COMMAND_TIMEOUT_MS = 1_000;
/** A connection attempt gets at least this long, whatever the command timeout. */
const MIN_CONNECT_TIMEOUT_MS = 500;
/** Reconnect backoff: this much longer per failed attempt, up to the cap. */
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_MS = 1_000;

export interface RedisClientOptions {
  /** CLIENT SETNAME: how an operator tells the gateway's connections apart (CLIENT LIST). */
  readonly connectionName: string;
  readonly commandTimeoutMs?: number;
  /** Connect on the first command or `connect()` (the caller decides when). Default false. */
  readonly lazyConnect?: boolean;
  /** Let ioredis subscribe again after a reconnect. Default true; off when the caller resubscribes itself. */
  readonly autoResubscribe?: boolean;
  /**
   * Commands made while disconnected wait for the connection (no command timeout, no failing fast): for
   * a subscriber whose SUBSCRIBEs must not be lost to an outage. Default false.
   */
  readonly queueWhileDisconnected?: boolean;
}

export function redisClientOptions(options: RedisClientOptions): RedisOptions {
  const commandTimeout = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  const queue = options.queueWhileDisconnected ?? false;
  return {
    connectionName: options.connectionName,
    lazyConnect: options.lazyConnect ?? false,
    autoResubscribe: options.autoResubscribe ?? true,
    enableOfflineQueue: queue,
    maxRetriesPerRequest: queue ? null : 0,
    ...(queue ? {} : { commandTimeout }),
    connectTimeout: Math.max(commandTimeout, MIN_CONNECT_TIMEOUT_MS),
    retryStrategy: (attempt: number) => Math.min(RECONNECT_STEP_MS * attempt, RECONNECT_MAX_MS),
  };
}

export function createRedisClient(url: string, options: RedisClientOptions): Redis {
  return new Redis(url, redisClientOptions(options));
}
