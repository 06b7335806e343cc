/**
 * The routing store on Redis (ioredis). Keys, all under the configurable prefix (REDIS_KEY_PREFIX, e.g.
 * `switchyard:` or `switchyard:{test-1}:` to isolate tests):
 *   routing            hash {version, config}: the config document; changed only by a Lua compare-and-set
 *   routing:changed    pub/sub channel: the new version, published by the same script
 *   commands           pub/sub channel: drain commands (JSON DrainCommand)
 *   audit              list of JSON AuditEntry, newest first, capped
 *   instances          sorted set: instance id → last heartbeat (epoch ms)
 *   instance:<id>      JSON InstanceStatus, with a TTL
 *   session:<sid>      the session registry (redis-session-registry.ts)
 *
 * Propagation: a change is applied at once on the instance that made it, on the others when the
 * notification arrives, and at the latest at the next version check (every pollIntervalMs, 500 ms by
 * default), so within a second even when pub/sub is lost. Outages: the offline queue is off and every
 * command has a timeout, so callers never hang; the instance keeps routing on its last known config,
 * reports "degraded" (health(), a warn log line), and on recovery re-reads the config, re-seeds it if
 * Redis lost it, re-registers its sessions and flushes audit entries written meanwhile.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import {
  DEFAULT_ROUTING_CONFIG,
  diffRoutingConfigs,
  parseRoutingConfig,
  routingConfigOrThrow,
  type RoutingConfig,
} from "../config/routing-config.js";
import { SwitchyardError } from "../errors.js";
import type { Unsubscribe } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import { RedisAuditLog } from "./redis-audit-log.js";
import { RedisConfigDocument } from "./redis-config-document.js";
import { createRedisClient, REDIS_COMMAND_TIMEOUT_MS } from "./redis-connection.js";
import { RedisDrainChannel } from "./redis-drain-channel.js";
import { RedisInstanceDirectory } from "./redis-instance-directory.js";
import { RedisSessionRegistry } from "./redis-session-registry.js";
import { messageOf, type RedisStoreContext } from "./redis-util.js";
import { malformedEntry } from "./store-entries.js";
import { reportContained } from "../telemetry/containment.js";
import {
  Listeners,
  RoutingConflictError,
  emptySessionCounts,
  type AuditEntry,
  type AuditInput,
  type ConfigListener,
  type DrainCommand,
  type DrainDelivery,
} from "./routing-store.js";
import type { InstanceStatus, RoutingStore, RoutingUpdate, SessionCounts, SessionOwner, StoreHealth } from "./routing-store.js";

export interface RedisStoreOptions {
  readonly url: string;
  /** Default "switchyard:". */
  readonly keyPrefix?: string;
  readonly instanceId: string;
  readonly internalUrl?: string;
  /** Written to Redis when it holds no config yet (ROUTING_CONFIG). Default: DEFAULT_ROUTING_CONFIG. */
  readonly initialConfig?: RoutingConfig;
  readonly logger: Logger;
  readonly pollIntervalMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** An instance whose last heartbeat is older than this is no longer listed. */
  readonly instanceTtlMs?: number;
  readonly sessionTtlMs?: number;
  readonly auditLimit?: number;
  /** Per-command timeout and connect timeout. */
  readonly commandTimeoutMs?: number;
}

export class RedisRoutingStore implements RoutingStore {
  readonly kind = "redis" as const;
  readonly instanceId: string;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly registry: RedisSessionRegistry;
  private readonly auditLog: RedisAuditLog;
  private readonly directory: RedisInstanceDirectory;
  private readonly log: Logger;
  private readonly document: RedisConfigDocument;
  private readonly pollIntervalMs: number;
  private readonly heartbeatIntervalMs: number;
  private config: RoutingConfig;
  private healthState: StoreHealth = Object.freeze({ state: "degraded", reason: "not connected yet", since: Date.now() });
  private internalUrl: string;
  private countsSource: () => SessionCounts = emptySessionCounts;
  private readonly startedAt = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private closed = false;
  /** Whether the config was read from Redis at least once. */
  private loaded = false;
  /** Whether the last Redis command succeeded (see redisDown). */
  private reachable = false;
  /** Whether Redis was ever reachable: reaching it again after that is a return from an outage. */
  private everReachable = false;
  private readonly changeListeners: Listeners<[RoutingConfig, RoutingConfig]>;
  private readonly healthListeners: Listeners<[StoreHealth]>;
  private readonly drains: RedisDrainChannel;

  constructor(options: RedisStoreOptions) {
    this.instanceId = options.instanceId;
    this.log = options.logger.child({ component: "routing-store" });
    const prefix = options.keyPrefix ?? "switchyard:";
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
    this.config = options.initialConfig ?? DEFAULT_ROUTING_CONFIG;
    this.internalUrl = options.internalUrl ?? "";
    const onError = (error: unknown) => this.log.error({ err: error }, "routing store listener failed");
    this.changeListeners = new Listeners(onError);
    this.healthListeners = new Listeners(onError);

    // The routing store connects when started, and subscribes again itself on every "ready".
    const connection = {
      commandTimeoutMs: options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
      lazyConnect: true,
      autoResubscribe: false,
    };
    this.redis = createRedisClient(options.url, { ...connection, connectionName: `switchyard:${options.instanceId}` });
    this.subscriber = createRedisClient(options.url, { ...connection, connectionName: `switchyard:${options.instanceId}:sub` });
    this.document = new RedisConfigDocument(this.redis, `${prefix}routing`, `${prefix}routing:changed`);
    const isReachable = () => this.reachable;
    this.registry = new RedisSessionRegistry({
      redis: this.redis,
      isReachable,
      keyPrefix: prefix,
      instanceId: this.instanceId,
      ttlMs: options.sessionTtlMs ?? 60_000,
      logger: this.log,
    });
    this.registry.setInternalUrl(this.internalUrl);
    const context: RedisStoreContext = { redis: this.redis, isReachable, instanceId: this.instanceId, logger: this.log };
    this.auditLog = new RedisAuditLog(context, `${prefix}audit`, options.auditLimit ?? 1000);
    this.drains = new RedisDrainChannel(context, `${prefix}commands`);
    this.directory = new RedisInstanceDirectory(context, `${prefix}instances`, `${prefix}instance:`, options.instanceTtlMs ?? 30_000);

    this.redis.on("error", (error: Error) => this.redisDown(`Redis unavailable: ${error.message}`));
    this.redis.on("close", () => this.redisDown("the connection to Redis was lost"));
    this.redis.on("ready", () => void this.sync());
    this.subscriber.on("error", (error: Error) => this.log.debug({ err: error.message }, "Redis subscriber connection error"));
    this.subscriber.on("ready", () => {
      this.subscriber
        .subscribe(this.document.changed, this.drains.channel)
        .catch((error: unknown) =>
          this.log.warn({ err: messageOf(error) }, "cannot subscribe to routing notifications; relying on the version check"),
        );
    });
    this.subscriber.on("message", (channel: string, message: string) => {
      try {
        this.onMessage(channel, message);
      } catch (error) {
        // Messages are validated before use; a throw here is a bug, and must not reach ioredis's parser.
        this.log.error({ code: "SWY_ERR_INTERNAL", err: reportContained("store", error), channel }, "routing store message failed");
      }
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.redis.connect().catch(() => undefined), this.subscriber.connect().catch(() => undefined)]);
    await this.sync();
    const every = (ms: number, task: () => void) => {
      const timer = setInterval(task, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.pollIntervalMs, () => void this.checkVersion());
    every(this.heartbeatIntervalMs, () => void this.heartbeat());
    this.registry.startRefreshing();
    void this.heartbeat();
    this.log.info(
      { version: this.config.version, hubPercent: this.config.hubPercent, health: this.healthState.state },
      "routing store: Redis",
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.registry.stop();
    if (this.reachable) await this.directory.remove(this.instanceId).catch(() => undefined);
    for (const connection of [this.redis, this.subscriber]) {
      await connection.quit().catch(() => connection.disconnect());
    }
    this.changeListeners.clear();
    this.healthListeners.clear();
    this.drains.clear();
  }

  // ---- config ----------------------------------------------------------------------------------

  current(): RoutingConfig {
    return this.config;
  }

  async update(document: unknown, expectedVersion: number): Promise<RoutingUpdate> {
    const validated = routingConfigOrThrow(document);
    const next = routingConfigOrThrow({ ...validated, version: expectedVersion + 1 });
    let reply: { stored: boolean; version: number };
    try {
      reply = await this.document.compareAndSet(expectedVersion, next, this.config.version);
    } catch (error) {
      this.redisDown(`Redis unavailable: ${messageOf(error)}`);
      throw new SwitchyardError("SWY_ERR_STORE_UNAVAILABLE", messageOf(error), { cause: error });
    }
    if (!reply.stored) throw new RoutingConflictError(expectedVersion, reply.version);
    const previous = this.config;
    if (this.config.version !== next.version) this.apply(next);
    return { config: next, previous, changes: diffRoutingConfigs(previous, next) };
  }

  async refresh(): Promise<RoutingConfig> {
    await this.sync();
    return this.config;
  }

  onChange(listener: ConfigListener): Unsubscribe {
    return this.changeListeners.add(listener);
  }

  private apply(next: RoutingConfig): void {
    const previous = this.config;
    this.config = next;
    this.log.info(
      { version: next.version, previousVersion: previous.version, changes: diffRoutingConfigs(previous, next) },
      "routing config applied",
    );
    this.changeListeners.emit(next, previous);
  }

  /** Re-reads the stored config; runs one at a time, and once more if asked again meanwhile. */
  private sync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.syncing !== undefined) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        await this.syncOnce();
      } while (this.syncAgain && !this.closed);
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    try {
      const stored = await this.document.read();
      this.redisUp();
      if (stored === undefined) {
        // First start of the cluster, or Redis lost its data: store what we route on, keeping its version.
        if (await this.document.seed(this.config)) {
          this.log.info({ version: this.config.version }, "routing store: Redis held no routing config; stored this instance's");
          void this.audit({
            action: "routing.seed",
            changes: [`stored config v${this.config.version} (hubPercent ${this.config.hubPercent})`],
            version: this.config.version,
            actor: { address: "", identity: "instance" },
          });
        }
        this.syncAgain = true;
        return;
      }
      const { versionText, document } = stored;
      const version = Number(versionText);
      if (!Number.isSafeInteger(version) || version < 0) {
        const why = `the stored routing config version ${JSON.stringify(versionText.slice(0, 40))} is not a version`;
        malformedEntry(this.log, "routing config", versionText, why);
        this.degrade(`${why}; routing on v${this.config.version}`);
        return;
      }
      // The first read adopts whatever is stored, even at the same version as our initial config.
      if (version !== this.config.version || !this.loaded) {
        const parsed = parseRoutingConfig(document);
        if (!parsed.ok) {
          const why = `the stored routing config v${version} is invalid (${parsed.problems.join("; ")})`;
          malformedEntry(this.log, "routing config", document, why);
          this.degrade(`${why}; routing on v${this.config.version}`);
          return;
        }
        const adopted = parsed.config.version === version ? parsed.config : routingConfigOrThrow({ ...parsed.config, version });
        if (JSON.stringify(adopted) !== JSON.stringify(this.config)) this.apply(adopted);
        this.loaded = true;
      }
      this.markConnected();
    } catch (error) {
      this.redisDown(`Redis unavailable: ${messageOf(error)}`);
    }
  }

  private async checkVersion(): Promise<void> {
    if (this.closed || this.syncing !== undefined) return;
    try {
      const version = await this.document.version();
      this.redisUp();
      if (version !== this.config.version || this.healthState.state === "degraded") await this.sync();
    } catch (error) {
      this.redisDown(`Redis unavailable: ${messageOf(error)}`);
    }
  }

  // ---- health ----------------------------------------------------------------------------------

  health(): StoreHealth {
    return this.healthState;
  }

  onHealthChange(listener: (health: StoreHealth) => void): Unsubscribe {
    return this.healthListeners.add(listener);
  }

  private degrade(reason: string): void {
    if (this.closed || (this.healthState.state === "degraded" && this.healthState.reason === reason)) return;
    const wasConnected = this.healthState.state === "connected";
    this.healthState = Object.freeze({ state: "degraded", reason, since: wasConnected ? Date.now() : this.healthState.since });
    if (wasConnected) {
      this.log.warn({ reason, version: this.config.version }, "routing store degraded: routing on the last known config");
      this.healthListeners.emit(this.healthState);
    } else {
      this.log.debug({ reason }, "routing store still degraded");
    }
  }

  private markConnected(): void {
    if (this.healthState.state === "connected") return;
    const downSince = this.healthState.since;
    this.healthState = Object.freeze({ state: "connected", reason: undefined, since: Date.now() });
    this.log.info({ version: this.config.version, degradedForMs: Date.now() - downSince }, "routing store connected");
    this.healthListeners.emit(this.healthState);
  }

  /**
   * While Redis is unreachable, the hot-path calls (registry, audit, heartbeats, lookups) do not wait
   * for it: a hung Redis would cost each of them a command timeout. The version check keeps probing.
   */
  private redisDown(reason: string): void {
    this.reachable = false;
    this.degrade(reason);
  }

  private redisUp(): void {
    if (this.reachable || this.closed) return;
    this.reachable = true;
    if (this.everReachable) this.registry.redisReturned();
    this.everReachable = true;
    // Catch up on what could not be written while Redis was away.
    void this.registry.refreshAll();
    void this.auditLog.flush();
    void this.heartbeat();
  }

  // ---- audit -----------------------------------------------------------------------------------

  audit(input: AuditInput): Promise<AuditEntry> {
    return this.auditLog.write(input);
  }

  recentAudit(limit: number): Promise<AuditEntry[]> {
    return this.auditLog.recent(limit);
  }

  // ---- sessions and instances ------------------------------------------------------------------

  setInternalUrl(url: string): void {
    this.internalUrl = url;
    this.registry.setInternalUrl(url);
  }

  registerSession(sid: string): Promise<boolean> {
    return this.registry.register(sid);
  }

  unregisterSession(sid: string): void {
    this.registry.unregister(sid);
  }

  sessionOwner(sid: string): Promise<SessionOwner | undefined> {
    return this.registry.owner(sid);
  }

  setSessionCountsSource(source: () => SessionCounts): void {
    this.countsSource = source;
  }

  private ownStatus(): InstanceStatus {
    return {
      instanceId: this.instanceId,
      internalUrl: this.internalUrl,
      appliedVersion: this.config.version,
      sessions: this.countsSource(),
      store: this.healthState.state,
      startedAt: this.startedAt,
      lastSeen: Date.now(),
    };
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || !this.reachable) return;
    // Failures are reported by the version check; the next heartbeat retries.
    await this.directory.beat(this.ownStatus()).catch(() => undefined);
  }

  async instances(): Promise<InstanceStatus[]> {
    const own = this.ownStatus();
    const others = this.reachable ? await this.directory.list(this.instanceId).catch(() => []) : [];
    return [own, ...others].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  }

  // ---- drain commands --------------------------------------------------------------------------

  publishDrain(backend: Backend, percent: number): Promise<DrainDelivery> {
    return this.drains.publish(backend, percent);
  }

  onDrain(listener: (command: DrainCommand) => void): Unsubscribe {
    return this.drains.onDrain(listener);
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.document.changed && Number(message) !== this.config.version) void this.sync();
    else if (channel === this.drains.channel) this.drains.receive(message);
  }
}
