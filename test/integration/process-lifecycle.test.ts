/**
 * The process as an operator runs it: invalid configuration exits non-zero naming the setting; SIGTERM
 * stops new sessions, closes open ones so that their clients reconnect elsewhere, and exits in time.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { connected, createClient, waitFor, type AnySocket } from "../helpers/clients.js";
import { spawnGateway, startGatewayProcess } from "../helpers/process.js";

describe("process lifecycle", () => {
  let legacy: LegacyChat;
  before(async () => {
    legacy = await startLegacyChat();
  });
  after(async () => {
    await legacy.close();
  });

  it("exits with code 78 and names every invalid setting", async () => {
    const child = spawnGateway({ PORT: "not-a-port", LOG_LEVEL: "chatty", LEGACY_URL: "http://127.0.0.1:1" });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number];
    assert.equal(code, 78);
    assert.match(stderr, /SWY_ERR_CONFIG_INVALID/);
    assert.match(stderr, /PORT must be an integer between 0 and 65535 \(got "not-a-port"\)/);
    assert.match(stderr, /LOG_LEVEL must be one of/);
  });

  for (const mode of ["terminate", "pipe"]) {
    it(`drains on SIGTERM: clients are disconnected reconnectably and the process exits 0 (${mode})`, async () => {
      const gateway = await startGatewayProcess({ LEGACY_URL: legacy.url, LEGACY_MODE: mode, DRAIN_TIMEOUT_MS: "4000" });
      const clients: AnySocket[] = [];
      try {
        for (const transport of ["websocket", "polling", "websocket", "polling"] as const) {
          const socket = createClient("4", gateway.url, "/", { transport, reconnection: false });
          await connected(socket);
          clients.push(socket);
        }
        const ready = await fetch(`${gateway.opsUrl}/readyz`);
        assert.equal(ready.status, 200);
        const reasons = clients.map((socket) => waitFor<string>(socket, "disconnect", 8000));
        gateway.child.kill("SIGTERM");
        // "transport close" is the reason socket.io clients reconnect on (unlike "io server disconnect").
        assert.deepEqual(await Promise.all(reasons), ["transport close", "transport close", "transport close", "transport close"]);
        assert.equal(await gateway.exited, 0);
        assert.ok(gateway.logs.some((entry) => entry.msg === "draining"));
      } finally {
        for (const socket of clients) socket.close();
        await gateway.stop();
      }
    });
  }
});
