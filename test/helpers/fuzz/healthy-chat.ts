/**
 * Healthy clients that keep chatting through a gateway while hostile ones attack it: real socket.io-client
 * 2.x/3.x/4.x over every transport, in one room, each sending numbered messages (acked) at a steady pace.
 * `stop()` stops sending and waits (for a condition, not a time) until every client has received every
 * message every client sent; it reports what was lost and every disconnect. A healthy client must lose
 * nothing and never be disconnected, whatever the others send.
 */
import { connected, createClient, emitWithAck, type AnySocket, type ClientVersion, type TransportMode } from "../clients.js";
import { eventually } from "../eventually.js";

export interface HealthyReport {
  readonly sent: number;
  readonly delivered: number;
  /** "<receiver> missed <text>" lines (empty when nothing was lost). */
  readonly lost: readonly string[];
  /** "<client>: <reason>" for every disconnect and every failed ack. */
  readonly failures: readonly string[];
}

export interface HealthyChat {
  /** Messages sent so far (acked or not). */
  readonly sent: number;
  stop(): Promise<HealthyReport>;
}

export const HEALTHY_MIX: readonly (readonly [ClientVersion, TransportMode])[] = [
  ["2", "websocket"],
  ["4", "polling"],
  ["3", "upgrade"],
  ["4", "websocket"],
];

interface Member {
  readonly name: string;
  readonly socket: AnySocket;
  readonly received: Set<string>;
}

const SEND_INTERVAL_MS = 40;
const DELIVERY_WAIT_MS = 20_000;

export interface HealthyChatOptions {
  /** More query parameters for every client (a routing key, to pin the chat to a route). */
  readonly query?: Readonly<Record<string, string>>;
  readonly intervalMs?: number;
  /**
   * How long an ack may take (default 5 s). A late ack is latency, not loss: on a machine shared with other
   * suites, a fuzz run lengthens the healthy clients' round trips, and what is lost still shows in the deliveries.
   */
  readonly ackTimeoutMs?: number;
}

function emitAcked<T>(socket: AnySocket, timeoutMs: number, event: string, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.emit(event, ...args, (...reply: unknown[]) => {
      clearTimeout(timer);
      resolve(reply as T);
    });
  });
}

export async function startHealthyChat(
  url: string,
  room = "healthy",
  mix = HEALTHY_MIX,
  options: HealthyChatOptions = {},
): Promise<HealthyChat> {
  const failures: string[] = [];
  const members: Member[] = [];
  for (const [index, [version, transport]] of mix.entries()) {
    const name = `healthy${index}-v${version}-${transport}`;
    const socket = createClient(version, url, "/", { transport, query: { ...options.query, name } });
    await connected(socket, 10_000);
    const member: Member = { name, socket, received: new Set() };
    socket.on("msg", (message: { text?: unknown }) => {
      if (typeof message?.text === "string") member.received.add(message.text);
    });
    socket.on("disconnect", (reason: unknown) => failures.push(`${name}: disconnected (${String(reason)})`));
    await emitWithAck(socket, "join", room);
    members.push(member);
  }
  const texts: string[] = [];
  const acks: Promise<void>[] = [];
  let seq = 0;
  const round = () => {
    for (const member of members) {
      const text = `${member.name}#${seq}`;
      texts.push(text);
      acks.push(
        emitAcked<[{ ok?: boolean }]>(member.socket, options.ackTimeoutMs ?? 5000, "msg", { room, text }).then(
          ([reply]) => {
            if (reply?.ok !== true) failures.push(`${member.name}: msg ${text} acked ${JSON.stringify(reply)}`);
          },
          (error: Error) => void failures.push(`${member.name}: ${error.message}`),
        ),
      );
    }
    seq++;
  };
  round();
  const timer = setInterval(round, options.intervalMs ?? SEND_INTERVAL_MS);

  return {
    get sent() {
      return texts.length;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all(acks);
      const missing = () => members.flatMap((m) => texts.filter((t) => !m.received.has(t)).map((t) => `${m.name} missed ${t}`));
      await eventually(() => missing().length === 0, "every healthy message delivered to every healthy client", DELIVERY_WAIT_MS).catch(
        () => undefined,
      );
      const lost = missing();
      for (const member of members) member.socket.disconnect();
      return {
        sent: texts.length,
        delivered: members.reduce((sum, m) => sum + m.received.size, 0),
        lost,
        failures: failures.filter((f) => !f.endsWith("(io client disconnect)")),
      };
    },
  };
}
