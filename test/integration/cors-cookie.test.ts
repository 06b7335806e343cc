/**
 * socket.io's CORS and cookie options on the terminated endpoint: with nothing configured, no CORS headers
 * and no cookie (socket.io's defaults); configured, the same headers a socket.io server with those options
 * sends, measured side by side against a real one.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { Server } from "socket.io";
import { startStack, type Stack } from "../helpers/stack.js";

const ORIGIN = "https://chat.example";

async function socketIoServer(options: ConstructorParameters<typeof Server>[1]): Promise<{ url: string; close(): Promise<void> }> {
  const http = createServer();
  const io = new Server(http, options);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => io.close(() => resolve())),
  };
}

function relevantHeaders(response: Response): Record<string, string | null> {
  return {
    status: String(response.status),
    "access-control-allow-origin": response.headers.get("access-control-allow-origin"),
    "access-control-allow-credentials": response.headers.get("access-control-allow-credentials"),
    "access-control-allow-methods": response.headers.get("access-control-allow-methods"),
    vary: response.headers.get("vary"),
    "set-cookie": response.headers.get("set-cookie")?.replace(/^io=[^;]+/, "io=<sid>") ?? null,
  };
}

describe("CORS and cookie options on terminated sessions", () => {
  const stacks: Stack[] = [];
  const references: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const stack of stacks) await stack.close();
    for (const reference of references) await reference.close();
  });

  const cases: { name: string; env: Record<string, string>; io: ConstructorParameters<typeof Server>[1] }[] = [
    { name: "defaults: no CORS headers, no cookie", env: {}, io: {} },
    {
      name: "CORS_ORIGIN + CORS_CREDENTIALS + COOKIE_NAME",
      env: { CORS_ORIGIN: ORIGIN, CORS_CREDENTIALS: "true", COOKIE_NAME: "io" },
      io: { cors: { origin: [ORIGIN], credentials: true }, cookie: { name: "io", path: "/", httpOnly: true, sameSite: "lax" } },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const stack = await startStack({ mode: "terminate", env: c.env });
      stacks.push(stack);
      const reference = await socketIoServer({ ...c.io, allowEIO3: true });
      references.push(reference);
      const handshake = "/socket.io/?EIO=4&transport=polling";
      const [ours, theirs] = await Promise.all([
        fetch(stack.url + handshake, { headers: { origin: ORIGIN } }),
        fetch(reference.url + handshake, { headers: { origin: ORIGIN } }),
      ]);
      assert.deepEqual(relevantHeaders(ours), relevantHeaders(theirs));
      const configured = c.env.CORS_ORIGIN !== undefined;
      assert.equal(ours.headers.get("access-control-allow-origin"), configured ? ORIGIN : null);
      assert.equal(ours.headers.get("set-cookie")?.startsWith("io=") ?? false, configured);
      const preflight = { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } };
      const [ourPreflight, theirPreflight] = await Promise.all([
        fetch(stack.url + handshake, preflight),
        fetch(reference.url + handshake, preflight),
      ]);
      assert.deepEqual(relevantHeaders(ourPreflight), relevantHeaders(theirPreflight));
      await Promise.all([ours.arrayBuffer(), theirs.arrayBuffer(), ourPreflight.arrayBuffer(), theirPreflight.arrayBuffer()]);
    });
  }
});
