/**
 * Room members for the rooms tests: real socket.io clients of every generation and transport that join
 * rooms and record every `said`/`bin` broadcast they receive, so that a test can check "every member got
 * every message exactly once, in per-sender order" against what was sent.
 */
import { connected, createClient, emitWithAck, type AnySocket, type ClientVersion, type TransportMode } from "./clients.js";
import { eventually } from "./eventually.js";

/** "upgrade": starts on polling and upgrades to WebSocket, as socket.io clients do by default. */
export type MemberTransport = TransportMode;

export interface Said {
  readonly from: string;
  readonly seq: number;
  readonly [key: string]: unknown;
}

export interface MemberOptions {
  /** Reconnect when the session ends, and join this room again on every reconnection. */
  readonly rejoin?: string;
}

export class Member {
  /** With `rejoin`: true once the member reconnected and joined its room again. */
  rejoined = false;
  /** Every `said` payload in arrival order. */
  readonly said: Said[] = [];
  /** Every `bin` broadcast: its meta and bytes. */
  readonly bins: { meta: Said; bytes: Buffer }[] = [];

  private constructor(
    readonly socket: AnySocket,
    readonly version: ClientVersion,
    readonly transport: MemberTransport,
  ) {
    socket.on("said", (body: Said) => this.said.push(body));
    socket.on("bin", (meta: Said, bytes: ArrayBuffer | Buffer) => this.bins.push({ meta, bytes: Buffer.from(bytes as ArrayBuffer) }));
  }

  static async connect(
    url: string,
    version: ClientVersion,
    transport: MemberTransport,
    nsp = "/",
    query?: Record<string, string>,
    options: MemberOptions = {},
  ): Promise<Member> {
    const rejoin = options.rejoin;
    const socket = createClient(version, url, nsp, { transport, reconnection: rejoin !== undefined, ...(query ? { query } : {}) });
    await connected(socket);
    const member = new Member(socket, version, transport);
    if (rejoin !== undefined) {
      // Every later "connect" is a reconnection: the new socket joins the room again, as an application would.
      socket.on("connect", () => {
        member.rejoined = false;
        socket.emit("join", rejoin, () => {
          member.rejoined = true;
        });
      });
    }
    return member;
  }

  get id(): string {
    return this.socket.id!;
  }

  get label(): string {
    return `${this.version}.x/${this.transport}`;
  }

  /** Joins and waits for the ack: every broadcast sent afterwards includes this member. */
  async join(room: string): Promise<void> {
    await emitWithAck(this.socket, "join", room);
  }

  async leave(room: string): Promise<void> {
    await emitWithAck(this.socket, "leave", room);
  }

  /** The seqs received from one sender, in arrival order. */
  seqsFrom(from: string): number[] {
    return this.said.filter((s) => s.from === from).map((s) => s.seq);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** The client matrix: every generation on both transports. */
export const MEMBER_KINDS: readonly [ClientVersion, MemberTransport][] = (["2", "3", "4"] as const).flatMap((v) =>
  (["polling", "websocket"] as const).map((t) => [v, t] as [ClientVersion, MemberTransport]),
);

/**
 * Waits until every member got `count` messages from each sender, then checks exactly once and per-sender
 * order (1..count). Fails naming the member and sender.
 */
export async function expectEveryMessage(
  members: readonly Member[],
  senders: readonly string[],
  count: number,
  timeoutMs = 10_000,
): Promise<void> {
  await eventually(
    () => members.every((m) => senders.every((s) => m.seqsFrom(s).length >= count)),
    `every member to receive ${count} messages from each of ${senders.length} senders`,
    timeoutMs,
  ).catch((error: Error) => {
    const short = members
      .flatMap((m) => senders.map((s) => [m, s, m.seqsFrom(s).length] as const))
      .filter(([, , n]) => n < count)
      .map(([m, s, n]) => `${m.label} ${m.id} got ${n} from ${s}`);
    throw new Error(`${error.message}: ${short.slice(0, 10).join("; ")}`);
  });
  const expected = Array.from({ length: count }, (_, i) => i + 1);
  for (const member of members) {
    for (const sender of senders) {
      const seqs = member.seqsFrom(sender);
      if (JSON.stringify(seqs) !== JSON.stringify(expected))
        throw new Error(`${member.label} ${member.id} got ${JSON.stringify(seqs)} from ${sender}, expected ${JSON.stringify(expected)}`);
    }
  }
}
