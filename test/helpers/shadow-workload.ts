/**
 * The client workload of the shadow isolation tests: two real clients (any generations and transports)
 * chatting in one room through the gateway, in two phases with a `midpoint` between them where a test
 * makes its shadow fail (or waits for it to). Each client's log records, in arrival order, every event
 * it receives and every ack reply it gets; the logs are normalised (socket ids become labels, `ts`
 * becomes `<ts>`, bytes hex) so that a run with shadowing can be compared with deepEqual to a run
 * without. Every step waits for what it expects, so the logs do not depend on timing.
 */
import { connected, createClient, emitWithAck, waitFor, type AnySocket, type ClientVersion, type TransportMode } from "./clients.js";

export interface WorkloadClient {
  readonly version: ClientVersion;
  readonly transport: TransportMode;
}

export interface WorkloadOptions {
  readonly alice: WorkloadClient;
  readonly bob: WorkloadClient;
  /** Keeps the rooms of concurrent workloads apart; use the same tag for runs that are compared. */
  readonly tag: string;
  /** After both clients connected, before they send anything. */
  readonly afterConnect?: () => Promise<unknown>;
  /** Between the phases, with both clients connected and in the room. */
  readonly midpoint?: (clients: { readonly alice: AnySocket; readonly bob: AnySocket }) => Promise<unknown>;
  /** After phase 2, before the clients close (a late shadow may be waited for here). */
  readonly beforeClose?: () => Promise<unknown>;
  /** Called after every step (memory probes sample here). */
  readonly onStep?: () => void;
}

export interface WorkloadResult {
  /** Normalised logs: ["event", name, ...args] and ["ack", event, ...reply], in arrival order. */
  readonly alice: unknown[];
  readonly bob: unknown[];
  /** Both clients were still connected, on their first session, at the end. */
  readonly stillConnected: boolean;
  /** The gateway's session ids of alice and bob (their engine ids). */
  readonly sessionIds: readonly string[];
}

const EVENTS = ["welcome", "joined", "left", "msg", "typing", "uploaded", "answer", "question", "bye", "disconnect"] as const;

function normalise(value: unknown, labels: ReadonlyMap<string, string>): unknown {
  if (Buffer.isBuffer(value)) return { bytes: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { bytes: Buffer.from(value).toString("hex") };
  if (typeof value === "string") return labels.get(value) ?? value;
  if (Array.isArray(value)) return value.map((item) => normalise(item, labels));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = key === "ts" && typeof item === "number" ? "<ts>" : normalise(item, labels);
    return out;
  }
  return value;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`workload: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

class LoggedClient {
  readonly log: unknown[][] = [];
  readonly socket: AnySocket;

  constructor(spec: WorkloadClient, url: string, name: string) {
    this.socket = createClient(spec.version, url, "/", { transport: spec.transport, query: { name }, auth: { name } });
    for (const event of EVENTS) {
      this.socket.on(event, (...args: unknown[]) => {
        if (event === "question") (args[args.length - 1] as (answer: unknown) => void)(`answer to ${String(args[0])}`);
        this.log.push(["event", event, ...args.filter((arg) => typeof arg !== "function")]);
      });
    }
  }

  count(event: string): number {
    return this.log.filter((entry) => entry[0] === "event" && entry[1] === event).length;
  }

  async request(event: string, ...args: unknown[]): Promise<unknown[]> {
    const reply = await emitWithAck<unknown[]>(this.socket, event, ...args);
    this.log.push(["ack", event, ...reply]);
    return reply;
  }
}

export async function runWorkload(url: string, options: WorkloadOptions): Promise<WorkloadResult> {
  const room = `room-${options.tag}`;
  const step = options.onStep ?? (() => {});
  const clients: LoggedClient[] = [];
  /** One client at a time, so that who connects first (and so who sees whom) never varies. */
  const connect = async (spec: WorkloadClient, name: string) => {
    const client = new LoggedClient(spec, url, name);
    clients.push(client);
    const welcome = waitFor(client.socket, "welcome");
    await connected(client.socket);
    await welcome;
    step();
    return client;
  };
  try {
    const alice = await connect(options.alice, "alice");
    const bob = await connect(options.bob, "bob");
    await options.afterConnect?.();
    const sessionIds = [alice.socket.io.engine.id ?? "", bob.socket.io.engine.id ?? ""];
    const labels = new Map([
      [alice.socket.id ?? "", "<alice>"],
      [bob.socket.id ?? "", "<bob>"],
    ]);

    // Phase 1: rooms, broadcasts, acks both ways, binary both ways.
    await alice.request("join", room);
    await bob.request("join", room);
    await until(() => alice.count("joined") === 1, "alice to see bob join");
    step();
    for (let i = 0; i < 5; i++) {
      await bob.request("msg", { room, text: `before ${i}` });
      await until(() => alice.count("msg") === i + 1 && bob.count("msg") === i + 1, `broadcast ${i}`);
      step();
    }
    await alice.request("whoami");
    await alice.request("echo", "a", 1, { x: [1, null] }, Buffer.from([0, 1, 254, 255]));
    await alice.request("upload", { name: "f.bin" }, Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256)));
    await until(() => alice.count("uploaded") === 1, "the uploaded event");
    await alice.request("ask", "why?");
    await until(() => alice.count("answer") === 1, "the answer event");
    bob.socket.emit("typing", { room, typing: true });
    await until(() => alice.count("typing") === 1, "alice to see bob typing");
    step();

    await options.midpoint?.({ alice: alice.socket, bob: bob.socket });
    step();

    // Phase 2: the same session keeps working whatever happened to its shadow.
    for (let i = 0; i < 3; i++) {
      await alice.request("msg", { room, text: `after ${i}` });
      await until(() => alice.count("msg") === 6 + i && bob.count("msg") === 6 + i, `broadcast after ${i}`);
      step();
    }
    await bob.request("whoami");
    await bob.request("echo", { deep: { list: [1, "two", { three: 3 }] } }, Buffer.from("bytes after the midpoint"));
    await alice.request("history", room);
    await alice.request("leave", room);
    await until(() => bob.count("left") === 1, "bob to see alice leave");
    step();
    await options.beforeClose?.();
    const stillConnected =
      alice.socket.connected &&
      bob.socket.connected &&
      alice.socket.io.engine.id === sessionIds[0] &&
      bob.socket.io.engine.id === sessionIds[1];
    return { alice: normalise(alice.log, labels) as unknown[], bob: normalise(bob.log, labels) as unknown[], stillConnected, sessionIds };
  } finally {
    for (const client of clients) client.socket.close();
  }
}
