/**
 * A load generator process (started by load-clients.ts over IPC): real socket.io clients of every
 * generation that join a room each, say something in it and ask for an echo every period, and account
 * for every message per phase. Rooms are whole within one generator, so that the accounting of who
 * should have received what needs no other process. Messages carry their sender's stable label, a
 * sequence number and the phase they were sent in.
 */
import { createClient, type AnySocket, type ClientVersion, type TransportMode } from "../clients.js";
import type { ClientSpec, GeneratorReport, PairTally, Request } from "./load-protocol.js";

const TICK_MS = 100;

interface Client {
  readonly spec: ClientSpec;
  readonly socket: AnySocket;
  joined: boolean;
  backend: string | undefined;
  seq: number;
  /** This phase: */
  upAtStart: boolean;
  sent: number[];
  received: Map<string, number[]>;
  echoSent: number;
  echoAcked: number;
  disconnects: number;
  firstDisconnectAt: number | undefined;
  backAt: number | undefined;
}

let phase = 0;
let sending = false;
let periodTicks = 20;
let tick = 0;
const clients: Client[] = [];
/** Since the start, for the soak's throughput: room messages received, echoes answered. */
const totals = { delivered: 0, acked: 0 };
const reasons = new Map<string, number>();
const connectErrors = new Map<string, number>();

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function open(spec: ClientSpec, url: string): Client {
  const socket = createClient(spec.version as ClientVersion, url, "/", {
    transport: spec.transport as TransportMode,
    query: { userId: spec.userId, gw: String(spec.gw) },
    reconnection: true,
    timeout: 10_000,
  });
  const client: Client = {
    spec,
    socket,
    joined: false,
    backend: undefined,
    seq: 0,
    upAtStart: false,
    sent: [],
    received: new Map(),
    echoSent: 0,
    echoAcked: 0,
    disconnects: 0,
    firstDisconnectAt: undefined,
    backAt: undefined,
  };
  socket.on("connect", () => {
    client.joined = false;
    socket.emit("where", (backend: string) => {
      client.backend = backend;
    });
    socket.emit("join", spec.room, () => {
      client.joined = true;
      if (client.disconnects > 0) client.backAt = Date.now();
    });
  });
  socket.on("disconnect", (reason: string) => {
    client.joined = false;
    client.disconnects++;
    client.firstDisconnectAt ??= Date.now();
    client.backAt = undefined;
    bump(reasons, reason);
  });
  // 2.x reports failed reconnection attempts as "reconnect_error" on the manager, 3.x/4.x as "connect_error".
  const onError = (error: { message?: string } | string) =>
    bump(connectErrors, typeof error === "string" ? error : (error?.message ?? "?"));
  socket.on("connect_error", onError);
  (socket.io as unknown as { on(event: string, listener: (error: { message?: string }) => void): void }).on("reconnect_error", onError);
  socket.on("said", (body: { from?: unknown; seq?: unknown; ph?: unknown }) => {
    totals.delivered++;
    if (body.ph !== phase || typeof body.from !== "string" || typeof body.seq !== "number") return;
    const list = client.received.get(body.from);
    if (list) list.push(body.seq);
    else client.received.set(body.from, [body.seq]);
  });
  return client;
}

function up(client: Client): boolean {
  return client.socket.connected && client.joined;
}

function onTick(): void {
  tick++;
  if (!sending) return;
  for (const [i, client] of clients.entries()) {
    if ((tick + i) % periodTicks !== 0 || !up(client)) continue;
    const ph = phase;
    const seq = ++client.seq;
    client.sent.push(seq);
    client.socket.emit("say", client.spec.room, { from: client.spec.label, seq, ph });
    client.echoSent++;
    client.socket.emit("echo", seq, () => {
      totals.acked++;
      if (ph === phase) client.echoAcked++;
    });
  }
}

function startPhase(n: number): void {
  phase = n;
  reasons.clear();
  connectErrors.clear();
  for (const client of clients) {
    client.upAtStart = up(client);
    client.sent = [];
    client.received = new Map();
    client.echoSent = 0;
    client.echoAcked = 0;
    client.disconnects = 0;
    client.firstDisconnectAt = undefined;
    client.backAt = undefined;
  }
}

function emptyTally(): PairTally {
  return { pairs: 0, expected: 0, missing: 0, duplicates: 0 };
}

function report(gwOfUser: Record<string, number>): GeneratorReport {
  const healthy = (c: Client) => c.upAtStart && c.disconnects === 0 && up(c);
  const nodeOf = (c: Client) => (c.backend === "hub" ? `hub@${gwOfUser[c.spec.userId] ?? c.spec.gw}` : (c.backend ?? "?"));
  const tallies = { sameNode: emptyTally(), crossNode: emptyTally(), affected: emptyTally() };
  const rooms = new Map<string, Client[]>();
  for (const client of clients) rooms.set(client.spec.room, [...(rooms.get(client.spec.room) ?? []), client]);
  for (const members of rooms.values()) {
    for (const sender of members) {
      for (const recipient of members) {
        const tally = !(healthy(sender) && healthy(recipient))
          ? tallies.affected
          : nodeOf(sender) === nodeOf(recipient)
            ? tallies.sameNode
            : tallies.crossNode;
        const got = recipient.received.get(sender.spec.label) ?? [];
        const distinct = new Set(got);
        tally.pairs++;
        tally.expected += sender.sent.length;
        tally.missing += sender.sent.filter((seq) => !distinct.has(seq)).length;
        tally.duplicates += got.length - distinct.size;
      }
    }
  }
  const echo = { healthy: { sent: 0, acked: 0 }, affected: { sent: 0, acked: 0 } };
  const backends: Record<string, number> = {};
  let lastBackAt = 0;
  let disconnected = 0;
  for (const client of clients) {
    const side = healthy(client) ? echo.healthy : echo.affected;
    side.sent += client.echoSent;
    side.acked += client.echoAcked;
    if (client.disconnects > 0) disconnected++;
    if (client.backAt !== undefined) lastBackAt = Math.max(lastBackAt, client.backAt);
    const node = up(client) ? nodeOf(client) : "down";
    backends[node] = (backends[node] ?? 0) + 1;
  }
  return {
    clients: clients.length,
    up: clients.filter(up).length,
    disconnected,
    lastBackAt,
    disconnectTimes: clients.flatMap((c) => (c.firstDisconnectAt === undefined ? [] : [c.firstDisconnectAt])).sort((a, b) => a - b),
    reasons: Object.fromEntries(reasons),
    connectErrors: Object.fromEntries(connectErrors),
    nodes: backends,
    pairs: tallies,
    echo,
  };
}

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case "init": {
      periodTicks = Math.max(1, Math.round(request.periodMs / TICK_MS));
      // Opened a few at a time, as users arrive, not all in one burst.
      for (const spec of request.clients) {
        clients.push(open(spec, request.url));
        if (clients.length % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return undefined;
    }
    case "status":
      return { clients: clients.length, up: clients.filter(up).length, ...totals };
    case "phase":
      startPhase(request.phase);
      sending = true;
      return undefined;
    case "quiet":
      sending = false;
      return undefined;
    case "report":
      return report(request.gwOfUser);
    case "close":
      sending = false;
      for (const client of clients) client.socket.close();
      // Time for the close frames and the polling clients' close packets to leave before the process goes.
      setTimeout(() => process.exit(0), 1000);
      return undefined;
  }
}

setInterval(onTick, TICK_MS);
process.on("message", (message: { id: number; request: Request }) => {
  handle(message.request).then(
    (result) => process.send!({ id: message.id, result }),
    (error: Error) => process.send!({ id: message.id, error: error.message }),
  );
});
process.on("disconnect", () => process.exit(0));
