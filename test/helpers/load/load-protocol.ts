/** What the orchestrator and the load generator processes say to each other (over Node's IPC channel). */

export interface ClientSpec {
  /** Stable across reconnections: the sender name in messages. */
  readonly label: string;
  /** The routing key (query userId): its bucket decides hub or legacy at 50 %. */
  readonly userId: string;
  /** The gateway instance the balancer prefers for this client. */
  readonly gw: number;
  readonly version: string;
  readonly transport: string;
  readonly room: string;
}

export type Request =
  | { readonly type: "init"; readonly url: string; readonly periodMs: number; readonly clients: readonly ClientSpec[] }
  | { readonly type: "status" }
  | { readonly type: "phase"; readonly phase: number }
  | { readonly type: "quiet" }
  | { readonly type: "report"; readonly gwOfUser: Record<string, number> }
  | { readonly type: "close" };

/** Deliveries between the members of a room, one (sender, recipient) pair at a time, the sender included. */
export interface PairTally {
  pairs: number;
  /** Messages the senders said in the phase, once per recipient. */
  expected: number;
  missing: number;
  duplicates: number;
}

export interface GeneratorReport {
  readonly clients: number;
  /** Connected and in their room. */
  readonly up: number;
  /** Clients disconnected at least once in the phase. */
  readonly disconnected: number;
  /** When the last client that had been disconnected was back in its room (epoch ms; 0: none). */
  readonly lastBackAt: number;
  /** When each client that was disconnected in the phase was disconnected first (epoch ms, ascending). */
  readonly disconnectTimes: number[];
  /** Disconnect reasons the clients saw, and their reconnection errors. */
  readonly reasons: Record<string, number>;
  readonly connectErrors: Record<string, number>;
  /** Where the clients are at the end: "legacy", "hub@<gateway index>", or "down". */
  readonly nodes: Record<string, number>;
  /**
   * Healthy: both ends connected throughout the phase. sameNode: on one adapter node (the legacy node, or
   * hub sessions of one gateway), delivered without Redis; crossNode: through the Redis bridge.
   */
  readonly pairs: { readonly sameNode: PairTally; readonly crossNode: PairTally; readonly affected: PairTally };
  readonly echo: { readonly healthy: { sent: number; acked: number }; readonly affected: { sent: number; acked: number } };
}
