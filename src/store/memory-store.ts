/**
 * The routing store of a single instance (REDIS_URL unset): everything in process. Same contract as
 * the Redis store, so the admin API, the CLI and the gateway do not care which one runs.
 */
import type { Logger } from "pino";
import { DEFAULT_ROUTING_CONFIG, diffRoutingConfigs, routingConfigOrThrow, type RoutingConfig } from "../config/routing-config.js";
import type { Unsubscribe } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import {
  Listeners,
  RoutingConflictError,
  emptySessionCounts,
  newCommandId,
  type AuditEntry,
  type AuditInput,
  type ConfigListener,
  type DrainCommand,
  type DrainDelivery,
  type InstanceStatus,
  type RoutingStore,
  type RoutingUpdate,
  type SessionCounts,
  type SessionOwner,
  type StoreHealth,
} from "./routing-store.js";

export interface MemoryStoreOptions {
  readonly instanceId: string;
  readonly logger: Logger;
  /** ROUTING_CONFIG, if set. Default: DEFAULT_ROUTING_CONFIG (everything on legacy). */
  readonly initialConfig?: RoutingConfig;
  readonly internalUrl?: string;
  /** Audit entries kept (newest first). */
  readonly auditLimit?: number;
}

const DEFAULT_AUDIT_LIMIT = 1000;

export class MemoryRoutingStore implements RoutingStore {
  readonly kind = "memory" as const;
  readonly instanceId: string;
  private config: RoutingConfig;
  private readonly log: Logger;
  private readonly auditLimit: number;
  private readonly auditEntries: AuditEntry[] = [];
  private readonly sessions = new Set<string>();
  private internalUrl: string;
  private countsSource: () => SessionCounts = emptySessionCounts;
  private readonly startedAt = Date.now();
  private readonly changeListeners: Listeners<[RoutingConfig, RoutingConfig]>;
  private readonly healthListeners: Listeners<[StoreHealth]>;
  private readonly drainListeners: Listeners<[DrainCommand]>;
  private readonly healthState: StoreHealth = Object.freeze({ state: "connected", reason: undefined, since: Date.now() });

  constructor(options: MemoryStoreOptions) {
    this.instanceId = options.instanceId;
    this.log = options.logger.child({ component: "routing-store" });
    this.config = options.initialConfig ?? DEFAULT_ROUTING_CONFIG;
    this.internalUrl = options.internalUrl ?? "";
    this.auditLimit = options.auditLimit ?? DEFAULT_AUDIT_LIMIT;
    const onError = (error: unknown) => this.log.error({ err: error }, "routing store listener failed");
    this.changeListeners = new Listeners(onError);
    this.healthListeners = new Listeners(onError);
    this.drainListeners = new Listeners(onError);
  }

  async start(): Promise<void> {
    this.log.info({ version: this.config.version, hubPercent: this.config.hubPercent }, "routing store: in memory (REDIS_URL unset)");
  }

  async close(): Promise<void> {
    this.changeListeners.clear();
    this.healthListeners.clear();
    this.drainListeners.clear();
  }

  current(): RoutingConfig {
    return this.config;
  }

  async update(document: unknown, expectedVersion: number): Promise<RoutingUpdate> {
    const validated = routingConfigOrThrow(document);
    if (expectedVersion !== this.config.version) throw new RoutingConflictError(expectedVersion, this.config.version);
    const previous = this.config;
    this.config = routingConfigOrThrow({ ...validated, version: previous.version + 1 });
    this.changeListeners.emit(this.config, previous);
    return { config: this.config, previous, changes: diffRoutingConfigs(previous, this.config) };
  }

  async refresh(): Promise<RoutingConfig> {
    return this.config;
  }

  onChange(listener: ConfigListener): Unsubscribe {
    return this.changeListeners.add(listener);
  }

  health(): StoreHealth {
    return this.healthState;
  }

  onHealthChange(listener: (health: StoreHealth) => void): Unsubscribe {
    // Memory never degrades; the listener is kept only for symmetry.
    return this.healthListeners.add(listener);
  }

  async audit(input: AuditInput): Promise<AuditEntry> {
    const entry: AuditEntry = Object.freeze({ ...input, at: new Date().toISOString(), instanceId: this.instanceId });
    this.auditEntries.unshift(entry);
    this.auditEntries.length = Math.min(this.auditEntries.length, this.auditLimit);
    this.log.info({ audit: entry }, `audit: ${entry.action}`);
    return entry;
  }

  async recentAudit(limit: number): Promise<AuditEntry[]> {
    return this.auditEntries.slice(0, limit);
  }

  setInternalUrl(url: string): void {
    this.internalUrl = url;
  }

  async registerSession(sid: string): Promise<boolean> {
    this.sessions.add(sid);
    return true;
  }

  unregisterSession(sid: string): void {
    this.sessions.delete(sid);
  }

  async sessionOwner(sid: string): Promise<SessionOwner | undefined> {
    return this.sessions.has(sid) ? { instanceId: this.instanceId, internalUrl: this.internalUrl } : undefined;
  }

  setSessionCountsSource(source: () => SessionCounts): void {
    this.countsSource = source;
  }

  async instances(): Promise<InstanceStatus[]> {
    return [
      {
        instanceId: this.instanceId,
        internalUrl: this.internalUrl,
        appliedVersion: this.config.version,
        sessions: this.countsSource(),
        store: "connected",
        startedAt: this.startedAt,
        lastSeen: Date.now(),
      },
    ];
  }

  async publishDrain(backend: Backend, percent: number): Promise<DrainDelivery> {
    const command: DrainCommand = Object.freeze({ id: newCommandId(), backend, percent, origin: this.instanceId, at: Date.now() });
    this.drainListeners.emit(command);
    return { command, scope: "cluster" };
  }

  onDrain(listener: (command: DrainCommand) => void): Unsubscribe {
    return this.drainListeners.add(listener);
  }
}
