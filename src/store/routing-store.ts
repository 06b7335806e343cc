/**
 * The routing store: the cluster's shared state. One interface, two implementations:
 * - MemoryRoutingStore (REDIS_URL unset): one instance, everything in process;
 * - RedisRoutingStore: the routing config versioned in Redis, applied by every instance within a second
 *   (pub/sub plus a periodic version check), the session registry (sid → owning instance), instance
 *   heartbeats, the audit log and the cluster-wide drain channel.
 *
 * Contract for callers: `current()` never throws and is always the last known config; background work
 * (heartbeats, registry refreshes, audit writes) never throws into callers; a Redis outage turns the
 * health to "degraded" and everything catches up when Redis returns. Only the explicit mutations
 * (`update`) reject, with SWY_ERR_ROUTING_INVALID, SWY_ERR_ROUTING_CONFLICT or SWY_ERR_STORE_UNAVAILABLE.
 */
import type { RoutingConfig } from "../config/routing-config.js";
import { SwitchyardError } from "../errors.js";
import type { Unsubscribe } from "../telemetry/events.js";
import type { Backend, SessionCounts } from "../domain.js";

export type { SessionCounts } from "../domain.js";

export type StoreState = "connected" | "degraded";

export interface StoreHealth {
  readonly state: StoreState;
  /** Why it is degraded (undefined when connected). */
  readonly reason: string | undefined;
  /** Epoch ms of the last state change. */
  readonly since: number;
}

/** Who made a change: the client address of the admin request and the identity of its token. */
export interface Actor {
  readonly address: string;
  /** e.g. "token:1a2b3c4d" (a fingerprint of the token, never the token), "startup". */
  readonly identity: string;
}

export interface AuditInput {
  /** "routing.update", "drain", "rollback", "routing.seed"... */
  readonly action: string;
  /** Human-readable lines: "hubPercent: 10 → 30", "drain hub 100%". */
  readonly changes: readonly string[];
  /** The routing config version after the change, when it made one. */
  readonly version?: number;
  readonly actor: Actor;
}

export interface AuditEntry extends AuditInput {
  /** ISO 8601. */
  readonly at: string;
  readonly instanceId: string;
}

export interface SessionOwner {
  readonly instanceId: string;
  /** How other instances reach the owner's client listener (INTERNAL_URL). */
  readonly internalUrl: string;
}

export interface InstanceStatus {
  readonly instanceId: string;
  readonly internalUrl: string;
  /** The routing config version this instance routes on. */
  readonly appliedVersion: number;
  readonly sessions: SessionCounts;
  readonly store: StoreState;
  readonly startedAt: number;
  /** Epoch ms of its last heartbeat. */
  readonly lastSeen: number;
}

export interface DrainCommand {
  readonly id: string;
  readonly backend: Backend;
  /** Share of each instance's sessions of that backend to close, 0 < percent <= 100. */
  readonly percent: number;
  /** The instance that accepted the admin request. */
  readonly origin: string;
  /** Epoch ms. */
  readonly at: number;
}

export interface DrainDelivery {
  readonly command: DrainCommand;
  /** "cluster": published to every instance; "local": the store is degraded, only this instance drains. */
  readonly scope: "cluster" | "local";
}

export interface RoutingUpdate {
  readonly config: RoutingConfig;
  readonly previous: RoutingConfig;
  /** diffRoutingConfigs(previous, config). */
  readonly changes: readonly string[];
}

export type ConfigListener = (config: RoutingConfig, previous: RoutingConfig) => void;

export interface RoutingStore {
  readonly kind: "memory" | "redis";
  readonly instanceId: string;
  /** Connects and loads the config; resolves (degraded) even when Redis is unreachable. */
  start(): Promise<void>;
  close(): Promise<void>;

  /** The last known config. Never throws. */
  current(): RoutingConfig;
  /**
   * Compare-and-set: stores `document` (validated; its own `version` is ignored) as version
   * `expectedVersion + 1` if the stored version is still `expectedVersion`. Rejects with
   * RoutingConfigError (SWY_ERR_ROUTING_INVALID), RoutingConflictError (SWY_ERR_ROUTING_CONFLICT) or
   * SWY_ERR_STORE_UNAVAILABLE; nothing is applied unless it resolves. Applied locally before resolving.
   */
  update(document: unknown, expectedVersion: number): Promise<RoutingUpdate>;
  /** Re-reads the stored config now (after a conflict, say) and returns the last known one. Never rejects. */
  refresh(): Promise<RoutingConfig>;
  /** Called after every applied change, local or from another instance. */
  onChange(listener: ConfigListener): Unsubscribe;

  health(): StoreHealth;
  onHealthChange(listener: (health: StoreHealth) => void): Unsubscribe;

  /** Writes the entry to the audit list and a log line. Never rejects (buffered while degraded). */
  audit(input: AuditInput): Promise<AuditEntry>;
  /** Newest first. */
  recentAudit(limit: number): Promise<AuditEntry[]>;

  /** This instance's client URL as other instances reach it (known once the listener is bound). */
  setInternalUrl(url: string): void;
  /** Registers a session this instance owns; resolves true once it is in the shared registry. Never rejects. */
  registerSession(sid: string): Promise<boolean>;
  unregisterSession(sid: string): void;
  /** Who owns a session (this instance included); undefined when unknown. Never rejects. */
  sessionOwner(sid: string): Promise<SessionOwner | undefined>;

  /** Where heartbeats read this instance's session counts. */
  setSessionCountsSource(source: () => SessionCounts): void;
  /** Every live instance's last heartbeat (this one's fresh). Never rejects. */
  instances(): Promise<InstanceStatus[]>;

  /** Asks every instance (this one included, synchronously) to drain. Never rejects. */
  publishDrain(backend: Backend, percent: number): Promise<DrainDelivery>;
  onDrain(listener: (command: DrainCommand) => void): Unsubscribe;
}

/** SWY_ERR_ROUTING_CONFLICT with the version that is actually stored. */
export class RoutingConflictError extends SwitchyardError {
  readonly currentVersion: number;

  constructor(expectedVersion: number, currentVersion: number) {
    super("SWY_ERR_ROUTING_CONFLICT", `expected version ${expectedVersion}, the stored version is ${currentVersion}`);
    this.currentVersion = currentVersion;
  }
}

export function emptySessionCounts(): SessionCounts {
  return { legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } };
}

/** A set of listeners; a throwing listener is isolated from the others and from the emitter. */
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  constructor(private readonly onError: (error: unknown) => void) {}

  add(listener: (...args: A) => void): Unsubscribe {
    this.set.add(listener);
    return () => void this.set.delete(listener);
  }

  emit(...args: A): void {
    for (const listener of [...this.set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}

export function newCommandId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(9))).toString("base64url");
}
