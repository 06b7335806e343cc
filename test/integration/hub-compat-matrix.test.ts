/**
 * The compat matrix on the hub route (hub issue, requirement 4): every scenario × socket.io-client
 * 2.x/3.x/4.x × polling, websocket and upgrade, with client → wire tap → the real gateway → sample hub,
 * every session routed to the hub (`hubPercent: 100`). The normalized transcripts — what the clients
 * observed *and* the Engine.IO packets on the wire — must equal the fixtures recorded against the legacy
 * server directly: the gateway's own engine.io faces the client on both routes and the hub upstream
 * produces the legacy server's Socket.IO packets, so nothing on the wire may differ.
 *
 * So that the test cannot pass by quietly reaching the legacy server, it also counts where sessions went:
 * every session the gateway opened is a hub session, the hub accepted exactly that many WebSockets, the
 * legacy server's engine never saw a connection, and no session fell back.
 *
 * It runs twice: over v1 (HUB_PROTOCOL=v1, a WebSocket per session: the hub accepts exactly one upgrade per
 * session) and over switchyard-hub.v2 (the default HUB_PROTOCOL=auto against the sample hub, which selects v2:
 * every session over at most HUB_LINKS shared links, so the hub accepts at most that many upgrades for all of
 * them). Each run costs ~4 s.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import type { Server as EngineServer } from "engine.io";
import type { ScenarioTranscript } from "../helpers/compat-harness.js";
import { matrixCells, runMatrix, testCellsAgainstFixtures } from "../helpers/compat-matrix.js";
import { eventually } from "../helpers/eventually.js";
import { startStack, type Stack } from "../helpers/stack.js";
import { subscribe, type Unsubscribe } from "../../src/telemetry/events.js";
import type { Backend } from "../../src/domain.js";

interface MatrixRun {
  readonly label: string;
  readonly env: Record<string, string>;
  /** Upgrades the hub may see for `sessions` hub sessions. */
  readonly upgrades: (sessions: number) => number;
}

const HUB_LINKS = 2;
const RUNS: readonly MatrixRun[] = [
  { label: "v1: a WebSocket per session", env: { HUB_PROTOCOL: "v1" }, upgrades: (sessions) => sessions },
  {
    label: "v2: sessions multiplexed over shared links",
    // HUB_PROTOCOL's default, auto: the sample hub selects v2.
    env: { HUB_LINKS: String(HUB_LINKS) },
    upgrades: () => HUB_LINKS,
  },
];

/**
 * engine.io's polling transport arms a 30 s, non-unref'd `closeTimeout` when the server closes a session
 * while no GET is pending (a kick); it would hold this process open after the last test. The timer only
 * fires a no-op on a closed transport, so shortening it changes no transcript.
 */
function shortenPollingCloseTimeout(engine: EngineServer): void {
  engine.on("connection", (socket: { transport: { name: string; closeTimeout?: number } }) => {
    if (socket.transport.name === "polling") socket.transport.closeTimeout = 1000;
  });
}

/** Where the gateway's sessions went, seen from the gateway, the hub and the legacy server. */
interface RouteCounts {
  readonly gatewayOpened: Record<Backend, number>;
  readonly routeDecided: Record<Backend, number>;
  fallbacks: number;
  hubUpgrades: number;
  legacyEngineConnections: number;
}

for (const run of RUNS) {
  const cells = matrixCells();
  describe(`compat matrix through the gateway, every session on the hub route (${run.label})`, () => {
    let stack: Stack;
    let results: Map<string, ScenarioTranscript>;
    const counts: RouteCounts = {
      gatewayOpened: { legacy: 0, hub: 0 },
      routeDecided: { legacy: 0, hub: 0 },
      fallbacks: 0,
      hubUpgrades: 0,
      legacyEngineConnections: 0,
    };
    const unsubscribes: Unsubscribe[] = [];

    before(async () => {
      stack = await startStack({ hub: true, routing: { hubPercent: 100 }, env: run.env });
      shortenPollingCloseTimeout(stack.switchyard.gateway.engine);
      shortenPollingCloseTimeout(stack.legacy.io.engine);
      stack.legacy.io.engine.on("connection", () => counts.legacyEngineConnections++);
      stack.hub!.http.on("upgrade", () => counts.hubUpgrades++);
      unsubscribes.push(
        subscribe("switchyard:session:opened", (e) => counts.gatewayOpened[e.backend]++),
        subscribe("switchyard:route:decided", (e) => counts.routeDecided[e.backend]++),
        subscribe("switchyard:hub:fallback", () => counts.fallbacks++),
      );
      results = await runMatrix(stack.url, { concurrency: 6 });
    });

    after(async () => {
      for (const unsubscribe of unsubscribes) unsubscribe();
      await stack?.close();
    });

    testCellsAgainstFixtures(cells, () => results);

    test("every session went to the hub: none reached the legacy server, none fell back", () => {
      // Engine.IO sessions the clients opened (an open packet `0{...}` on the wire), from the transcripts
      // themselves; the unknown-sid cells open none.
      let clientSessions = 0;
      for (const transcript of results.values()) {
        for (const sessions of Object.values(transcript.wire))
          clientSessions += sessions.filter((s) => s.s2c[0]?.startsWith("0{") === true).length;
      }
      assert.ok(clientSessions >= cells.length - 9, `only ${clientSessions} Engine.IO sessions in the transcripts`);
      assert.deepStrictEqual(
        { ...counts, gatewayOpened: { ...counts.gatewayOpened }, routeDecided: { ...counts.routeDecided } },
        {
          gatewayOpened: { legacy: 0, hub: clientSessions },
          routeDecided: { legacy: 0, hub: clientSessions },
          fallbacks: 0,
          hubUpgrades: run.upgrades(clientSessions),
          legacyEngineConnections: 0,
        },
      );
    });

    test("the gateway and the hub hold no session once the clients are gone", async () => {
      const idle = { legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } };
      await eventually(
        () => isDeepStrictEqual(stack.switchyard.gateway.sessionCounts(), idle) && stack.hub!.runtime.sessionCount === 0,
        "every session to close",
      );
    });
  });
}
