/**
 * What a reconnect storm meets at the gateway, checked without a clock: the client listener's accept queue
 * (LISTEN_BACKLOG, read back from the kernel) and handshakes that are never serialised on their way to the
 * legacy server (every route opens its upstream while the others' are still opening).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Server } from "socket.io";
import { io as io4, type Socket } from "sio-client-4";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { gatewayEnv } from "../helpers/stack.js";

/** The backlog the kernel gave a listening port: `ss` shows it as a listener's Send-Q. */
function kernelBacklog(port: number): number {
  const line =
    execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" })
      .trim()
      .split("\n")[0] ?? "";
  const [, , sendQ] = line.trim().split(/\s+/);
  return Number(sendQ);
}

const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim());

/**
 * A socket.io server whose engine.io holds every handshake until `expected` of them wait at once, then admits
 * them all: it answers only if the gateway has that many handshakes in flight to it together.
 */
function gatedLegacy(expected: number): { http: HttpServer; io: Server; maxWaiting: () => number } {
  const http = createServer();
  let waiting: ((error: string | null | undefined, success: boolean) => void)[] = [];
  let maxWaiting = 0;
  const io = new Server(http, {
    allowRequest: (_req, callback) => {
      waiting.push(callback);
      maxWaiting = Math.max(maxWaiting, waiting.length);
      if (waiting.length < expected) return;
      const admitted = waiting;
      waiting = [];
      for (const admit of admitted) admit(null, true);
    },
  });
  return { http, io, maxWaiting: () => maxWaiting };
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
}

describe("handshakes in a storm", () => {
  it("the client listener's accept queue is LISTEN_BACKLOG (default 511, capped by net.core.somaxconn)", async () => {
    for (const [env, expected] of [
      [{ LISTEN_BACKLOG: "777" }, Math.min(777, somaxconn)],
      [{}, Math.min(511, somaxconn)],
    ] as const) {
      const gateway = await startSwitchyard({ config: loadStaticConfig(gatewayEnv(env)), legacyUrl: "http://127.0.0.1:9" });
      try {
        assert.equal(kernelBacklog(Number(new URL(gateway.url).port)), expected);
      } finally {
        await gateway.close();
      }
    }
  });

  for (const mode of ["terminate", "pipe"] as const) {
    describe(`LEGACY_MODE=${mode}`, () => {
      const concurrent = 40;
      const legacy = gatedLegacy(concurrent);
      let gateway: Switchyard;
      const clients: Socket[] = [];

      before(async () => {
        await new Promise<void>((resolve) => legacy.http.listen(0, "127.0.0.1", resolve));
        const legacyUrl = `http://127.0.0.1:${(legacy.http.address() as AddressInfo).port}`;
        // The handshake values are given, so that no probe handshake of the gateway's joins the clients' at the gate.
        const env = gatewayEnv({ LEGACY_MODE: mode, PING_INTERVAL_MS: "25000", PING_TIMEOUT_MS: "20000", MAX_PAYLOAD_BYTES: "1000000" });
        gateway = await startSwitchyard({ config: loadStaticConfig(env), legacyUrl });
      });
      after(async () => {
        for (const client of clients) client.close();
        await gateway.close();
        legacy.io.close();
      });

      it(`${concurrent} handshakes reach the legacy server together, none waiting for another`, async () => {
        for (let i = 0; i < concurrent; i++)
          clients.push(io4(gateway.url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 30_000 }));
        await Promise.all(clients.map(connected));
        assert.equal(legacy.maxWaiting(), concurrent);
        assert.ok(clients.every((client) => client.connected));
      });
    });
  }
});
