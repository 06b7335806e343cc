/**
 * The harness a compat scenario runs in: it creates real socket.io clients (2.x, 3.x or 4.x, in one
 * transport mode), each behind its own wire tap in front of the server under test (the legacy server
 * directly, the gateway, or anything else speaking Socket.IO), records what each client observes, and
 * at the end turns both layers into normalized transcripts. Scenarios only drive the clients.
 */
import { createClient, type AnySocket, type ClientVersion, type ConnectOptions, type TransportMode } from "./clients.js";
import { IdTable, normalizeSession, normalizeValue, rawSession, type NormalizedSession, type RawSession } from "./compat-normalize.js";
import { startWireTap, type WireTap } from "./wire-tap.js";

/** Generous: a step only waits this long when something is wrong, and the machine may be busy. */
const WAIT_MS = 10_000;

/** Server events of the sample chat a client records whenever they arrive. */
const CHAT_EVENTS = ["welcome", "joined", "left", "msg", "typing", "uploaded", "answer", "bye"] as const;

/** One observation, in the order the client made it. Values are normalized at the end. */
export type ClientObservation =
  | { readonly type: "connect" }
  | { readonly type: "event"; readonly name: string; readonly args: unknown[]; readonly withAck?: true }
  | { readonly type: "ack"; readonly name: string; readonly args: unknown[] }
  | { readonly type: "connect_error"; readonly message: string; readonly data: unknown }
  | { readonly type: "error"; readonly data: unknown }
  | { readonly type: "disconnect"; readonly reason: string }
  | { readonly type: "check"; readonly name: string; readonly value: unknown }
  | { readonly type: "http"; readonly status: number; readonly body: string };

export interface ScenarioTarget {
  /** Base URL of the server under test, e.g. http://127.0.0.1:4000. */
  readonly baseUrl: string;
  readonly version: ClientVersion;
  readonly mode: TransportMode;
}

export interface ScenarioTranscript {
  readonly scenario: string;
  readonly clientVersion: ClientVersion;
  readonly transport: TransportMode;
  /** Per client label: its Engine.IO sessions as the tap saw them. */
  readonly wire: Record<string, NormalizedSession[]>;
  /** Per client label: what the application observed. */
  readonly client: Record<string, unknown[]>;
  /** Scenario steps that failed (a timeout, an unexpected outcome). Empty in every fixture. */
  readonly errors: string[];
  /** Raw packets with stable fake ids, for the protocol table tests (not compared). */
  readonly raw: Record<string, RawSession[]>;
}

class Waiters {
  private readonly waiting: { test: () => boolean; resolve: () => void }[] = [];

  notify(): void {
    for (const waiter of [...this.waiting]) {
      if (waiter.test()) {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  until(test: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }
}

/** A socket.io client of the scenario's generation, recording what it observes. */
export class RecordedClient {
  readonly log: ClientObservation[] = [];
  private readonly waiters = new Waiters();
  private answer: (question: unknown) => unknown = () => "42";
  private readonly seenIds: string[] = [];
  /** True when the session ended before the scenario could wait for its upgrade (see outcome()). */
  upgradeRaced = false;

  constructor(
    readonly label: string,
    readonly socket: AnySocket,
    readonly tap: WireTap,
    private readonly mode: TransportMode,
  ) {
    socket.on("connect", () => {
      this.rememberIds();
      this.observe({ type: "connect" });
    });
    socket.on("connect_error", (error: Error & { data?: unknown }) =>
      this.observe({ type: "connect_error", message: error.message, data: error.data }),
    );
    socket.on("error", (data: unknown) => this.observe({ type: "error", data }));
    socket.on("disconnect", (reason: string) => this.observe({ type: "disconnect", reason }));
    for (const name of CHAT_EVENTS) socket.on(name, (...args: unknown[]) => this.observe({ type: "event", name, args }));
    socket.on("question", (...args: unknown[]) => {
      const ack = args.pop() as (...reply: unknown[]) => void;
      this.observe({ type: "event", name: "question", args, withAck: true });
      ack(this.answer(args[0]));
    });
  }

  private rememberIds(): void {
    for (const id of [this.socket.io.engine.id, this.socket.id])
      if (typeof id === "string" && !this.seenIds.includes(id)) this.seenIds.push(id);
  }

  private observe(observation: ClientObservation): void {
    this.log.push(observation);
    this.waiters.notify();
  }

  /** How the client answers the server's `question` (the server→client ack). */
  answerWith(answer: (question: unknown) => unknown): void {
    this.answer = answer;
  }

  /** Resolves once connected, or refused (connect_error or, for 2.x, error); then waits for the upgrade. */
  async outcome(): Promise<"connected" | "refused"> {
    const ended = (o: ClientObservation) => o.type === "connect" || o.type === "connect_error" || o.type === "error";
    await this.waiters.until(() => this.log.some(ended), `${this.label} to connect or be refused`);
    const result = this.log.find(ended)?.type === "connect" ? "connected" : "refused";
    // In upgrade mode every later step runs on the WebSocket, so transcripts do not depend on upgrade timing.
    if (this.mode === "upgrade") {
      // A 4.x client closes its engine on a refusal, racing the upgrade probe: then the upgrade is not compared.
      const engineClosing = ["closing", "closed"].includes(String((this.socket.io.engine as { readyState?: string }).readyState));
      if (engineClosing) this.upgradeRaced = true;
      else await this.upgraded();
    }
    return result;
  }

  /** engine.io clients announce the upgrade on the engine; polling its transport works for every generation. */
  private async upgraded(): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (this.socket.io.engine.transport.name !== "websocket") {
      if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${this.label} to upgrade`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Its Engine.IO session is over (the close packet, if any, has been handed to the transport). */
  async engineClosed(): Promise<boolean> {
    const deadline = Date.now() + WAIT_MS;
    while ((this.socket.io.engine as { readyState?: string }).readyState !== "closed") {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return true;
  }

  async connected(): Promise<void> {
    if ((await this.outcome()) !== "connected") throw new Error(`${this.label} was refused`);
  }

  async refused(): Promise<void> {
    if ((await this.outcome()) !== "refused") throw new Error(`${this.label} connected, expected a refusal`);
  }

  /** The args of the `count`-th `name` event (waits for it). */
  async event(name: string, count = 1): Promise<any[]> {
    const events = () => this.log.filter((o): o is Extract<ClientObservation, { type: "event" }> => o.type === "event" && o.name === name);
    await this.waiters.until(() => events().length >= count, `${this.label} to receive "${name}" #${count}`);
    return events()[count - 1]!.args;
  }

  async disconnected(): Promise<void> {
    await this.waiters.until(() => this.log.some((o) => o.type === "disconnect"), `${this.label} to be disconnected`);
  }

  emit(name: string, ...args: unknown[]): void {
    this.socket.emit(name, ...args);
  }

  /** Emits with an acknowledgement and records the reply. */
  async emitWithAck(name: string, ...args: unknown[]): Promise<any[]> {
    let reply: unknown[] | undefined;
    this.socket.emit(name, ...args, (...values: unknown[]) => {
      reply = values;
      this.observe({ type: "ack", name, args: values });
    });
    await this.waiters.until(() => reply !== undefined, `${this.label} to get the ack of "${name}"`);
    return reply!;
  }

  check(name: string, value: unknown): void {
    this.observe({ type: "check", name, value });
  }

  /** Ids the client itself knows (so that ids never seen on the wire still get placeholders). */
  knownIds(): string[] {
    this.rememberIds();
    return [...this.seenIds];
  }
}

/** What one scenario run has at hand. */
export class ScenarioHarness {
  private readonly clients: RecordedClient[] = [];
  private readonly taps: { label: string; tap: WireTap; client: RecordedClient | undefined; log: ClientObservation[] }[] = [];

  constructor(readonly target: ScenarioTarget) {}

  get version(): ClientVersion {
    return this.target.version;
  }

  get mode(): TransportMode {
    return this.target.mode;
  }

  /** The Engine.IO revision of this client generation. */
  get eio(): 3 | 4 {
    return this.target.version === "2" ? 3 : 4;
  }

  /**
   * Connection options in the generation's idiom: v5 clients (3.x, 4.x) send `auth` in the CONNECT packet,
   * 2.x clients have only the query string (which they also append to the namespace CONNECT).
   */
  options(auth: Record<string, string>, query: Record<string, string> = {}): ConnectOptions {
    if (this.target.version === "2") return { query: { ...query, ...auth } };
    return { ...(Object.keys(auth).length > 0 ? { auth } : {}), ...(Object.keys(query).length > 0 ? { query } : {}) };
  }

  async client(label: string, nsp = "/", options: ConnectOptions = {}): Promise<RecordedClient> {
    const tap = await startWireTap(this.target.baseUrl);
    const socket = createClient(this.target.version, tap.url, nsp, { ...options, transport: this.target.mode });
    const client = new RecordedClient(label, socket, tap, this.target.mode);
    this.clients.push(client);
    this.taps.push({ label, tap, client, log: client.log });
    return client;
  }

  /** A tap with no socket.io client behind it, for raw HTTP/WebSocket requests; `log` records observations. */
  async rawTap(label: string): Promise<{ tap: WireTap; log: ClientObservation[] }> {
    const tap = await startWireTap(this.target.baseUrl);
    const entry = { label, tap, client: undefined, log: [] as ClientObservation[] };
    this.taps.push(entry);
    return entry;
  }

  /** Closes every client, waits for the wire to go quiet, and normalizes what was recorded. */
  async finish(scenario: string, errors: string[]): Promise<ScenarioTranscript> {
    for (const client of this.clients) client.socket.close();
    for (const client of this.clients) {
      if (!(await client.engineClosed())) errors.push(`${client.label}: the client's engine did not close`);
    }
    for (const { label, tap } of this.taps) {
      if (!(await tap.whenIdle())) errors.push(`${label}: the wire did not go quiet after the clients closed`);
    }
    const ids = new IdTable();
    const ordered = [...this.taps].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    for (const { tap, client } of ordered) {
      for (const session of tap.sessions) ids.addFromSession(session);
      for (const id of client?.knownIds() ?? []) ids.add(id);
    }
    const wire: Record<string, NormalizedSession[]> = {};
    const raw: Record<string, RawSession[]> = {};
    const observed: Record<string, unknown[]> = {};
    for (const { label, tap, log, client } of ordered) {
      const upgradeRaced = client?.upgradeRaced ?? false;
      wire[label] = tap.sessions.map((session) => normalizeSession(session, ids, { upgradeRaced }));
      raw[label] = tap.sessions.map((session) => rawSession(session, ids));
      observed[label] = log.map((observation) => normalizeValue(observation, ids));
    }
    await Promise.all(this.taps.map(({ tap }) => tap.close()));
    return {
      scenario,
      clientVersion: this.target.version,
      transport: this.target.mode,
      wire,
      client: observed,
      errors: errors.map((error) => normalizeValue(error, ids) as string),
      raw,
    };
  }
}
