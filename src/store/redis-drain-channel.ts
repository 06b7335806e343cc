/**
 * The cluster-wide drain channel: a drain accepted by one instance is applied there at once and
 * published (`<prefix>commands`) to the others. Each command carries an id; an instance applies an id
 * once, whichever way it arrives, and ignores its own commands coming back through pub/sub.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Unsubscribe } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import { messageOf, type RedisStoreContext } from "./redis-util.js";
import { Listeners, newCommandId, type DrainCommand, type DrainDelivery } from "./routing-store.js";
import { drainCommandOf, malformedEntry } from "./store-entries.js";

const MAX_SEEN_COMMANDS = 1000;

export class RedisDrainChannel {
  private readonly seen = new Set<string>();
  private readonly listeners: Listeners<[DrainCommand]>;

  private readonly redis: Redis;
  private readonly isReachable: () => boolean;
  private readonly instanceId: string;
  private readonly log: Logger;

  constructor(
    context: RedisStoreContext,
    readonly channel: string,
  ) {
    ({ redis: this.redis, isReachable: this.isReachable, instanceId: this.instanceId, logger: this.log } = context);
    this.listeners = new Listeners((error) => this.log.error({ err: error }, "drain listener failed"));
  }

  async publish(backend: Backend, percent: number): Promise<DrainDelivery> {
    const command: DrainCommand = Object.freeze({ id: newCommandId(), backend, percent, origin: this.instanceId, at: Date.now() });
    this.remember(command.id);
    // Here at once (even if this instance's subscription is down); the others through pub/sub.
    this.listeners.emit(command);
    try {
      if (!this.isReachable()) throw new Error("Redis unavailable");
      await this.redis.publish(this.channel, JSON.stringify(command));
      return { command, scope: "cluster" };
    } catch (error) {
      this.log.warn({ err: messageOf(error), command }, "drain applied on this instance only: Redis unavailable");
      return { command, scope: "local" };
    }
  }

  onDrain(listener: (command: DrainCommand) => void): Unsubscribe {
    return this.listeners.add(listener);
  }

  /** A message from the subscription. */
  receive(message: string): void {
    const command = drainCommandOf(message);
    if (typeof command === "string") return malformedEntry(this.log, "drain command", message, command);
    if (command.origin === this.instanceId || !this.remember(command.id)) return;
    this.log.info({ command }, "drain requested by another instance");
    this.listeners.emit(command);
  }

  clear(): void {
    this.listeners.clear();
  }

  private remember(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > MAX_SEEN_COMMANDS) this.seen.delete(this.seen.values().next().value!);
    return true;
  }
}
