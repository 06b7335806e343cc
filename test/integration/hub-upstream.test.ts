/**
 * The hub upstream end to end: real socket.io clients (2.x, 3.x, 4.x) over polling, WebSocket and
 * upgrade, through a gateway wired to the sample hub, observe exactly what the same steps show against
 * the legacy chat directly.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { startSampleHub, type SampleHub } from "../../examples/hub/server.js";
import { chatTranscript } from "../helpers/chat-transcript.js";
import { CLIENT_VERSIONS, connected, createClient, TRANSPORT_MODES, waitFor } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { shortenPollingCloseTimeout, startHubTestGateway, type HubTestGateway } from "../helpers/hub-test-gateway.js";

describe("gateway → sample hub behaves like the legacy chat", () => {
  let legacy: LegacyChat;
  let hub: SampleHub;
  let gateway: HubTestGateway;

  before(async () => {
    legacy = await startLegacyChat();
    shortenPollingCloseTimeout(legacy.io.engine);
    // This test-only gateway has no room worlds: the sample hub keeps its rooms itself (one event frame per
    // member, hub protocol v1). The gateway's rooms are tested through the real gateway (hub-compat-matrix, rooms-*).
    hub = await startSampleHub({ rooms: "hub" });
    gateway = await startHubTestGateway(hub.url);
  });

  after(async () => {
    await gateway.close();
    await hub.close();
    await legacy.close();
  });

  for (const version of CLIENT_VERSIONS) {
    for (const transport of TRANSPORT_MODES) {
      it(`socket.io-client ${version}.x over ${transport}`, async () => {
        const run = { version, transport, tag: "compat" };
        const expected = await chatTranscript(legacy.url, run);
        const actual = await chatTranscript(gateway.url, run);
        assert.equal(expected.aliceIdMatches, true, "the legacy chat itself reports the client's socket.id");
        assert.deepEqual(actual, expected);
      });
    }
  }

  it("leaves no session behind, and reported no session errors", async () => {
    await eventually(() => gateway.sessions.size === 0 && hub.runtime.sessionCount === 0, "every session to close");
    assert.deepEqual(gateway.errors, []);
    assert.deepEqual(gateway.openFailures, []);
  });
});

describe("a hub that goes away", () => {
  for (const version of CLIENT_VERSIONS) {
    it(`closes the sessions of ${version}.x clients so that they reconnect, and they get back in once a hub is there`, async () => {
      let hub = await startSampleHub();
      const port = hub.port;
      const gateway = await startHubTestGateway(hub.url);
      const sockets = (["polling", "websocket"] as const).map((transport) =>
        createClient(version, gateway.url, "/", { transport, reconnection: true }),
      );
      try {
        await Promise.all(sockets.map((socket) => connected(socket)));
        const reasons = Promise.all(sockets.map((socket) => waitFor(socket, "disconnect")));
        await hub.close();
        // Reasons after which socket.io clients reconnect on their own (unlike "io server disconnect").
        assert.deepEqual(await reasons, ["transport close", "transport close"]);
        assert.deepEqual(
          gateway.errors.map((e) => e.code),
          ["SWY_ERR_UPSTREAM_CLOSED", "SWY_ERR_UPSTREAM_CLOSED"],
        );
        assert.match(gateway.errors[0]?.detail ?? "", /1001 hub shutting down/);
        const welcomes = Promise.all(sockets.map((socket) => waitFor<{ id: string }>(socket, "welcome", 15_000)));
        hub = await startSampleHub({ port });
        for (const [i, welcome] of (await welcomes).entries()) assert.equal(welcome.id, sockets[i]?.id, "reconnected, with matching ids");
      } finally {
        for (const socket of sockets) socket.close();
        await gateway.close();
        await hub.close();
      }
    });
  }
});
