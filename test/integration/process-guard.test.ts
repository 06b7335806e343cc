/**
 * The process's last line of defence (src/process-guard.ts), in a real gateway process: a test-only preload
 * (test/helpers/fault-injector.ts) raises faults outside every guard. An unhandled rejection is logged with its
 * code and counted, and the instance keeps serving its clients; an uncaught exception is logged with its code and
 * counted, then the instance drains (its clients are closed reconnectably) and exits with status 70.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { connected, createClient, emitWithAck, waitFor } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { metricSum, parseMetrics } from "../helpers/fuzz/gateway-under-test.js";
import { startGatewayProcess } from "../helpers/process.js";

const INJECTOR = fileURLToPath(new URL("../helpers/fault-injector.ts", import.meta.url));

async function uncaught(opsUrl: string, kind: string): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  return metricSum(parseMetrics(text), "switchyard_uncaught_errors_total", { kind });
}

describe("the process's last line of defence", () => {
  let legacy: LegacyChat;
  before(async () => {
    legacy = await startLegacyChat();
  });
  after(async () => {
    await legacy.close();
  });

  it("logs and counts an unhandled rejection and keeps serving; logs and counts an uncaught exception, drains, exits 70", async () => {
    const gateway = await startGatewayProcess({ LEGACY_URL: legacy.url, LEGACY_MODE: "terminate", DRAIN_TIMEOUT_MS: "6000" }, 20_000, [
      "--import",
      INJECTOR,
    ]);
    const socket = createClient("4", gateway.url, "/", { transport: "websocket", reconnection: false });
    try {
      await connected(socket);
      assert.equal(await uncaught(gateway.opsUrl, "unhandledRejection"), 0);
      assert.equal(await uncaught(gateway.opsUrl, "uncaughtException"), 0);

      // One signal at a time: signals sent together may be delivered once.
      for (const count of [1, 2]) {
        gateway.child.kill("SIGUSR2");
        await eventually(async () => (await uncaught(gateway.opsUrl, "unhandledRejection")) === count, `rejection ${count} counted`);
      }
      const rejections = gateway.logs.filter((entry) => entry.code === "SWY_ERR_UNHANDLED_REJECTION");
      assert.equal(rejections.length, 2);
      assert.match(String(rejections[0]!.error), /injected unhandled rejection/);
      // Still serving: the open session works, /healthz and /readyz answer, nothing is draining.
      assert.deepEqual(await emitWithAck(socket, "backend"), [{ backend: "legacy" }]);
      assert.equal((await fetch(`${gateway.opsUrl}/readyz`)).status, 200);
      assert.equal(gateway.child.exitCode, null);

      const disconnected = waitFor<string>(socket, "disconnect", 10_000);
      gateway.child.kill("SIGHUP");
      await eventually(async () => (await uncaught(gateway.opsUrl, "uncaughtException")) === 1, "the exception counted", 5000, 5);
      assert.equal(await disconnected, "transport close", "the client was drained reconnectably");
      assert.equal(await gateway.exited, 70);
      const fatal = gateway.logs.find((entry) => entry.code === "SWY_ERR_UNCAUGHT_EXCEPTION");
      assert.ok(fatal, "the exception was logged with its code");
      assert.match(String(fatal.error), /injected uncaught exception/);
      assert.ok(gateway.logs.some((entry) => entry.msg === "draining" && entry.reason === "uncaughtException"));
    } finally {
      socket.close();
      await gateway.stop();
    }
  });
});
