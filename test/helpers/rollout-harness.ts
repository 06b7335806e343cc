/**
 * What the rollout tests share: steady handshake traffic through the gateways (each handshake's backend
 * recorded with the weight its instance routed on), tracked long-lived clients, and a timeline of the
 * rollout (phase, weight, gate values) polled from an instance, which the docs' chart is drawn from.
 */
import { writeFileSync } from "node:fs";
import { bucketOf } from "../../src/routing/hash.js";
import { DEFAULT_SALT } from "../../src/config/routing-config.js";
import type { Backend } from "../../src/domain.js";
import { connected, type AnySocket, type ClientVersion } from "./clients.js";
import { engineIdOf, openClient, rawClose, rawHandshake, type AdminCalls, type Backends } from "./cluster.js";

export interface RolloutView {
  readonly phase: string;
  readonly weight: number;
  readonly step: number;
  readonly reason: string;
  readonly lastCheck?: {
    window: number;
    verdict: string;
    reason: string;
    gates: { name: string; status: string; value?: number; limit?: number }[];
  };
}

export async function rolloutOf(admin: AdminCalls): Promise<RolloutView | undefined> {
  const answer = await admin.call("GET", "/admin/rollout");
  if (answer.status !== 200) throw new Error(`GET /admin/rollout answered ${answer.status}`);
  return answer.body.rollout?.state;
}

export function bucket(key: string): number {
  return bucketOf(DEFAULT_SALT, key);
}

interface Gateway {
  readonly url: string;
  readonly admin: AdminCalls;
}

/** Handshakes with random keys, `concurrency` at a time, spread over the gateways, until stopped. */
export class Traffic {
  readonly records: { at: number; weight: number; backend: Backend }[] = [];
  errors = 0;
  private readonly weights = new Map<string, number>();
  private running = true;
  private readonly loops: Promise<void>[];
  private readonly poller: NodeJS.Timeout;

  constructor(
    private readonly backends: Backends,
    private gateways: readonly Gateway[],
    concurrency = 3,
  ) {
    this.poller = setInterval(() => void this.pollWeights(), 50);
    this.loops = Array.from({ length: concurrency }, (_, i) => this.loop(i));
  }

  /** Stops sending to a gateway (it is about to be killed). */
  drop(url: string): void {
    this.gateways = this.gateways.filter((gateway) => gateway.url !== url);
  }

  private async pollWeights(): Promise<void> {
    await Promise.all(
      this.gateways.map(async (gateway) => {
        const routing = await gateway.admin.routing().catch(() => undefined);
        if (routing !== undefined) this.weights.set(gateway.url, routing.hubPercent);
      }),
    );
  }

  private async loop(index: number): Promise<void> {
    let n = index;
    while (this.running) {
      const gateway = this.gateways[n++ % this.gateways.length];
      if (gateway === undefined) break;
      const before = this.weights.get(gateway.url);
      try {
        const sid = await rawHandshake(gateway.url, `t-${Math.random().toString(36).slice(2)}`);
        const backend = this.backends.backendOf(sid);
        await rawClose(gateway.url, sid);
        const after = this.weights.get(gateway.url);
        // Only handshakes whose instance did not change weight meanwhile say what a weight routes.
        if (backend !== undefined && before !== undefined && before === after)
          this.records.push({ at: Date.now(), weight: before, backend });
      } catch {
        this.errors++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.poller);
    await Promise.all(this.loops);
  }
}

export interface TrackedClient {
  readonly key: string;
  readonly socket: AnySocket;
  /** Each (re)connection: when, and on which backend. */
  readonly sessions: { at: number; backend: Backend | undefined }[];
}

/** Long-lived clients that reconnect when drained; each connection's backend is recorded. */
export async function trackClients(
  backends: Backends,
  keys: readonly string[],
  urlOf: (index: number) => string,
  version: ClientVersion = "4",
): Promise<TrackedClient[]> {
  const clients = keys.map((key, index) => {
    const socket = openClient(version, urlOf(index), { userId: key, transport: "websocket", reconnection: true });
    const client: TrackedClient = { key, socket, sessions: [] };
    socket.on("connect", () => client.sessions.push({ at: Date.now(), backend: backends.backendOf(engineIdOf(socket)) }));
    return client;
  });
  await Promise.all(clients.map((client) => connected(client.socket)));
  return clients;
}

/** The most reconnections in any `spanMs` (the handshake rate a drain caused). */
export function peakRate(times: readonly number[], spanMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let peak = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= spanMs) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

export interface TimelinePoint {
  readonly t: number;
  readonly phase: string;
  readonly weight: number;
  /** Each gate's value and limit at the last check (the volume check "sessions" left out). */
  readonly gates: Record<string, { value?: number | undefined; limit?: number | undefined }>;
}

/** Polls an instance's rollout every 100 ms; `save` writes it as JSON when ROLLOUT_TIMELINE_OUT names a file. */
export class Timeline {
  readonly points: TimelinePoint[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(private admin: AdminCalls) {
    this.timer = setInterval(() => void this.poll(), 100);
  }

  follow(admin: AdminCalls): void {
    this.admin = admin;
  }

  private async poll(): Promise<void> {
    const state = await rolloutOf(this.admin).catch(() => undefined);
    if (state === undefined) return;
    const gates = Object.fromEntries(
      (state.lastCheck?.gates ?? [])
        .filter((gate) => gate.name !== "sessions")
        .map((gate) => [gate.name, { value: gate.value, limit: gate.limit }]),
    );
    this.points.push({ t: Date.now() - this.started, phase: state.phase, weight: state.weight, gates });
  }

  /** Records a little longer (the last transition and the drains after it), then writes the timeline. */
  async save(name: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 800));
    clearInterval(this.timer);
    await this.poll();
    const out = process.env.ROLLOUT_TIMELINE_OUT;
    if (out !== undefined && out !== "") writeFileSync(out.replace("%s", name), `${JSON.stringify(this.points)}\n`);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
