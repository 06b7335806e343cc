/**
 * Runs the sample chat's behaviours (docs/sample-chat.md) with real clients against one server URL and
 * returns what the clients observed, normalised (ids become labels, timestamps `<ts>`, bytes hex), so
 * that two backends can be compared with deepEqual. Every step waits for what it expects; nothing here
 * depends on timing. Also checks, per step, that each socket.id equals the id the server reports.
 */
import {
  connected,
  createClient,
  emitWithAck,
  waitFor,
  type AnySocket,
  type ClientVersion,
  type ConnectOptions,
  type TransportMode,
} from "./clients.js";

export interface TranscriptRun {
  readonly version: ClientVersion;
  readonly transport: TransportMode;
  /** Keeps rooms of concurrent runs apart. */
  readonly tag: string;
}

class Normalizer {
  private readonly labels = new Map<string, string>();

  label(id: string | undefined, name: string): void {
    if (id !== undefined) this.labels.set(id, `<${name}.id>`);
  }

  apply(value: unknown): unknown {
    if (Buffer.isBuffer(value)) return { bytes: value.toString("hex") };
    if (value instanceof ArrayBuffer) return { bytes: Buffer.from(value).toString("hex") };
    if (typeof value === "string") return this.labels.get(value) ?? value;
    if (Array.isArray(value)) return value.map((item) => this.apply(item));
    if (value instanceof Error) return { error: value.message, data: this.apply((value as { data?: unknown }).data) };
    if (typeof value === "object" && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = key === "ts" && typeof item === "number" ? "<ts>" : this.apply(item);
      return out;
    }
    return value;
  }
}

/** Every event a socket receives, in order, with its arguments. */
function record(socket: AnySocket, events: string[]): unknown[][] {
  const seen: unknown[][] = [];
  for (const event of events) socket.on(event, (...args: unknown[]) => seen.push([event, ...args.filter((a) => typeof a !== "function")]));
  return seen;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

export async function chatTranscript(url: string, run: TranscriptRun): Promise<Record<string, unknown>> {
  const { version, transport } = run;
  const room = `room-${run.tag}-${version}-${transport}`;
  const names = new Normalizer();
  const steps: Record<string, unknown> = {};
  const sockets: AnySocket[] = [];
  const open = (nsp: string, options: ConnectOptions) => {
    const socket = createClient(version, url, nsp, { transport, ...options });
    sockets.push(socket);
    return socket;
  };
  // 2.x has no auth: the same data travels as query parameters (also the namespace query, socket.io's 2.x auth).
  const credentials = (auth: Record<string, string>, query: Record<string, string> = {}): ConnectOptions =>
    version === "2" ? { query: { ...query, ...auth } } : { query, auth };

  try {
    const alice = open("/", credentials({ name: "alice" }, { lang: "en" }));
    const aliceWelcome = waitFor<Record<string, unknown>>(alice, "welcome");
    await connected(alice);
    const welcome = await aliceWelcome;
    names.label(alice.id, "alice");
    steps.welcome = welcome;
    steps.aliceIdMatches = alice.id === welcome.id && (version !== "2" || alice.id === alice.io.engine.id);
    steps.whoami = await emitWithAck(alice, "whoami");
    steps.echo = await emitWithAck(alice, "echo", "a", 1, { x: [1, null] }, Buffer.from([0, 1, 254, 255]));
    const uploaded = waitFor<unknown>(alice, "uploaded");
    const uploadedArgs: unknown[] = [];
    alice.once("uploaded", (...args: unknown[]) => uploadedArgs.push(...args));
    steps.upload = await emitWithAck(alice, "upload", { name: "f.bin" }, Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256)));
    await uploaded;
    steps.uploaded = uploadedArgs;
    alice.once("question", (question: unknown, answer: (reply: unknown) => void) => answer(`answer to ${String(question)}`));
    const answered = waitFor<unknown>(alice, "answer");
    steps.ask = await emitWithAck(alice, "ask", "why?");
    steps.answer = await answered;

    const bob = open("/", credentials({ name: "bob" }));
    await connected(bob);
    names.label(bob.id, "bob");
    const aliceSaw = record(alice, ["joined", "msg", "typing", "left"]);
    const bobSaw = record(bob, ["joined", "msg", "typing", "left"]);
    steps.aliceJoin = await emitWithAck(alice, "join", room);
    steps.bobJoin = await emitWithAck(bob, "join", room);
    await until(() => aliceSaw.length === 1, "alice to see bob join");
    steps.msgAck = await emitWithAck(bob, "msg", { room, text: "hi" });
    steps.badMsgAck = await emitWithAck(bob, "msg", { room, text: 42 });
    bob.emit("typing", { room, typing: 1 });
    await until(() => aliceSaw.length === 3 && bobSaw.length === 1, "the msg and typing broadcasts");
    steps.history = await emitWithAck(alice, "history", room);
    steps.aliceLeave = await emitWithAck(alice, "leave", room);
    await until(() => bobSaw.length === 2, "bob to see alice leave");
    steps.aliceSaw = aliceSaw;
    steps.bobSaw = bobSaw;

    const admin = open("/admin", credentials({ role: "admin" }));
    const adminWelcome = waitFor<Record<string, unknown>>(admin, "welcome");
    await connected(admin);
    names.label(admin.id, "admin");
    steps.adminWelcome = await adminWelcome;
    steps.adminWhoami = await emitWithAck(admin, "whoami");
    steps.adminIdMatches = admin.id === (steps.adminWelcome as { id?: unknown }).id;

    const outcome = (socket: AnySocket) =>
      connected(socket).then(
        () => "connected",
        (error: unknown) => error,
      );
    steps.forbidden = await outcome(open("/admin", credentials({ role: "user" })));
    steps.unknownNamespace = await outcome(open("/nope", credentials({})));
    steps.rejected = await outcome(open("/", credentials({ token: "reject" })));

    const bye = waitFor<unknown>(alice, "bye");
    const gone = waitFor<unknown>(alice, "disconnect");
    alice.emit("kick");
    steps.bye = await bye;
    steps.kickReason = await gone;
    return names.apply(steps) as Record<string, unknown>;
  } finally {
    for (const socket of sockets) socket.close();
  }
}
