/**
 * The hub upstream end to end: real socket.io clients (2.x, 3.x, 4.x) over polling, WebSocket and
 * upgrade, through the real gateway routing every session to the sample hub, observe exactly what the same
 * steps show against the legacy chat directly.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSampleHub } from "../../examples/hub/server.js";
import { chatTranscript } from "../helpers/chat-transcript.js";
import { CLIENT_VERSIONS, connected, createClient, TRANSPORT_MODES, waitFor } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { startHubGateway, type HubGateway } from "../helpers/hub-gateway.js";
import { shortenPollingCloseTimeout } from "../helpers/polling-close.js";

describe("gateway → sample hub behaves like the legacy chat", () => {
  let gateway: HubGateway;

  before(async () => {
    // The sample hub keeps its rooms itself here (one event frame per member, hub protocol v1); the gateway's
    // rooms are tested in hub-compat-matrix and rooms-*.
    gateway = await startHubGateway({ rooms: "hub" });
    shortenPollingCloseTimeout(gateway.legacy.io.engine);
    shortenPollingCloseTimeout(gateway.switchyard.gateway.engine);
  });

  after(() => gateway.close());

  for (const version of CLIENT_VERSIONS) {
    for (const transport of TRANSPORT_MODES) {
      it(`socket.io-client ${version}.x over ${transport}`, async () => {
        const run = { version, transport, tag: "compat" };
        const expected = await chatTranscript(gateway.legacy.url, run);
        const actual = await chatTranscript(gateway.url, run);
        assert.equal(expected.aliceIdMatches, true, "the legacy chat itself reports the client's socket.id");
        assert.deepEqual(actual, expected);
      });
    }
  }

  it("leaves no session behind, and reported no session errors", async () => {
    await eventually(
      () => gateway.switchyard.gateway.sessions.size === 0 && gateway.hub!.runtime.sessionCount === 0,
      "every session to close",
    );
    assert.deepEqual(gateway.errors, []);
    assert.deepEqual(gateway.openFailures, []);
  });
});

// A hub that shuts down ends each session with 1001 (v1: its socket; v2: its close frame on the link, and then the
// links): SWY_ERR_UPSTREAM_CLOSED either way (docs/hub-protocol.md §7). v1 explicitly, and the default (auto: links).
for (const protocol of ["v1", "auto"] as const)
  describe(`HUB_PROTOCOL=${protocol}: a hub that goes away`, () => {
    for (const version of CLIENT_VERSIONS) {
      it(`closes the sessions of ${version}.x clients so that they reconnect, and they get back in once a hub is there`, async () => {
        const gateway = await startHubGateway({}, { HUB_PROTOCOL: protocol });
        let hub = gateway.hub!;
        const port = hub.port;
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
          await hub.close();
          await gateway.close();
        }
      });
    }
  });
