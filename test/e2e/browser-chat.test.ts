/**
 * A real browser through the gateway: headless Chromium loads the sample chat page from Switchyard
 * (passed through to the legacy app, with the client bundle the socket.io server serves), two users in
 * separate browser contexts chat in a room, and each page is checked for what it shows. Run for both
 * LEGACY_MODE values: `pipe` (proxied byte for byte) and `terminate` (relayed packet by packet).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import type { LegacyMode } from "../../src/config/settings.js";
import { describeLog, launchChromium, openPage, waitInPage, type TestPage } from "../helpers/browser.js";
import { startStack, type Stack } from "../helpers/stack.js";

interface ShownMessage {
  readonly from: string;
  readonly text: string;
}

const MODES: readonly LegacyMode[] = ["pipe", "terminate"];

/** The chat page as a user sees it: only what is on screen, read through the DOM. */
async function shownMessages(user: TestPage): Promise<ShownMessage[]> {
  const items = user.page.locator("#messages li");
  const [from, text, times] = await Promise.all([
    items.locator(".from").allTextContents(),
    items.locator(".text").allTextContents(),
    items.locator("time").allTextContents(),
  ]);
  // Every rendered message carries its server timestamp; a message without `ts` renders "Invalid Date".
  assert.ok(
    times.every((time) => time.trim() !== "" && !/invalid/i.test(time)),
    `${user.label}: a message without a valid time: ${JSON.stringify(times)}`,
  );
  return from.map((name, i) => ({ from: name, text: text[i] ?? "<missing .text>" }));
}

function waitForMessageCount(user: TestPage, count: number): Promise<void> {
  return waitInPage(user, `${count} message(s) in #messages`, `document.querySelectorAll("#messages li").length === ${count}`);
}

function waitConnected(user: TestPage): Promise<void> {
  return waitInPage(user, "#status connected", `document.getElementById("status").dataset.state === "connected"`);
}

async function join(user: TestPage, room: string): Promise<void> {
  await user.page.click("#join");
  // The page enables the composer and marks the body only once the server acked the join.
  await waitInPage(
    user,
    `the join ack for ${room}`,
    `document.body.dataset.room === ${JSON.stringify(room)} && !document.getElementById("text").disabled`,
  );
}

async function send(user: TestPage, text: string): Promise<void> {
  await user.page.fill("#text", text);
  await user.page.click("#send");
  // The page clears the input only on the server's ack `{ok: true}`: the round trip completed.
  await waitInPage(user, "the msg ack (input cleared)", `document.getElementById("text").value === ""`);
}

async function transportOf(user: TestPage): Promise<string> {
  return String(await user.page.evaluate("socket.io.engine.transport.name"));
}

async function statusOf(user: TestPage): Promise<{ state: string | null; text: string | null }> {
  const status = user.page.locator("#status");
  return { state: await status.getAttribute("data-state"), text: await status.textContent() };
}

describe("the sample chat in headless Chromium through the gateway", { timeout: 90_000 }, () => {
  let browser: Browser | undefined;

  before(async () => {
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  for (const mode of MODES) {
    test(`LEGACY_MODE=${mode}: two users chat in a room, upgrade to WebSocket, and a reload shows the history`, async () => {
      assert.ok(browser, "the browser was launched in before()");
      const stack: Stack = await startStack({ mode });
      const users: TestPage[] = [];
      try {
        const room = `e2e-${mode}`;
        const alice = await openPage(browser, "alice");
        users.push(alice);
        const bob = await openPage(browser, "bob");
        users.push(bob);
        const pageUrl = (name: string) => `${stack.url}/?${new URLSearchParams({ name, room })}`;
        await Promise.all([alice.page.goto(pageUrl("alice")), bob.page.goto(pageUrl("bob"))]);
        await Promise.all([waitConnected(alice), waitConnected(bob)]);
        // Each page shows which backend serves it (its answer to the "backend" event): no hub here.
        for (const user of [alice, bob])
          await waitInPage(user, "the backend badge", `document.getElementById("backend").textContent === "backend: legacy"`);

        // The page's default transports: a polling handshake, then an upgrade of that same session.
        for (const user of [alice, bob]) {
          await waitInPage(user, "the upgrade to websocket", `socket.io.engine.transport.name === "websocket"`);
          assert.ok(
            user.log.requests.some((url) => url.includes("/socket.io/?") && url.includes("transport=polling") && !url.includes("sid=")),
            `${user.label}: no polling handshake seen: ${JSON.stringify(user.log.requests)}`,
          );
          const sid = await user.page.evaluate("socket.io.engine.id");
          assert.ok(
            user.log.websockets.some((url) => url.includes("transport=websocket") && url.includes(`sid=${String(sid)}`)),
            `${user.label}: no WebSocket upgrade of session ${String(sid)}: ${JSON.stringify(user.log.websockets)}`,
          );
        }
        // The gateway really served them in the configured mode, and knows they are on WebSocket now.
        const gateway = stack.switchyard.gateway;
        assert.deepEqual(
          { pipes: gateway.pipes.size, terminated: gateway.sessions.size },
          mode === "pipe" ? { pipes: 2, terminated: 0 } : { pipes: 0, terminated: 2 },
        );
        assert.deepEqual(gateway.sessionCounts().legacy, { polling: 0, websocket: 2 });

        await Promise.all([join(alice, room), join(bob, room)]);

        // Alice types: Bob's page names her; her own page does not (the server tells the others only).
        await alice.page.fill("#text", "hello b");
        await waitInPage(bob, "the typing indicator naming alice", `document.getElementById("typing").textContent === "alice typing…"`);
        assert.equal(await alice.page.textContent("#typing"), "");

        await send(alice, "hello bob");
        // Sending ends the typing state.
        await waitInPage(bob, "the typing indicator to clear", `document.getElementById("typing").textContent === ""`);
        await Promise.all([waitForMessageCount(alice, 1), waitForMessageCount(bob, 1)]);

        await send(bob, "hi alice, bob here");
        await Promise.all([waitForMessageCount(alice, 2), waitForMessageCount(bob, 2)]);

        const conversation: ShownMessage[] = [
          { from: "alice", text: "hello bob" },
          { from: "bob", text: "hi alice, bob here" },
        ];
        for (const user of [alice, bob]) {
          assert.deepEqual(await shownMessages(user), conversation, `${user.label}'s page`);
          assert.deepEqual(await statusOf(user), { state: "connected", text: "connected" }, `${user.label}'s status`);
          assert.equal(await transportOf(user), "websocket", `${user.label} stayed on WebSocket`);
        }
        const [aliceSid, bobSid] = [await alice.page.textContent("#sid"), await bob.page.textContent("#sid")];
        assert.ok(aliceSid && bobSid && aliceSid !== bobSid, `distinct socket ids shown: ${aliceSid} / ${bobSid}`);

        // A reload is a new session: it reconnects, and joining again shows the room's history.
        await bob.page.reload();
        await waitConnected(bob);
        const bobSidAfterReload = await bob.page.textContent("#sid");
        assert.ok(bobSidAfterReload && bobSidAfterReload !== bobSid, `a new socket id after the reload: ${bobSidAfterReload}`);
        assert.equal(await bob.page.locator("#messages li").count(), 0, "nothing shown before joining");
        await join(bob, room);
        await waitForMessageCount(bob, 2);
        assert.deepEqual(await shownMessages(bob), conversation, "bob's page after the reload (history)");

        // The reloaded page is live in the room again, and alice's session was not disturbed.
        await send(alice, "welcome back");
        const continued = [...conversation, { from: "alice", text: "welcome back" }];
        await Promise.all([waitForMessageCount(alice, 3), waitForMessageCount(bob, 3)]);
        assert.deepEqual(await shownMessages(alice), continued, "alice's page");
        assert.deepEqual(await shownMessages(bob), continued, "bob's page");
        assert.deepEqual(await statusOf(alice), { state: "connected", text: "connected" });

        for (const user of [alice, bob])
          assert.deepEqual(user.log.errors, [], `${user.label}: uncaught page errors${describeLog(user.log)}`);
      } finally {
        for (const user of users) await user.context.close();
        await stack.close();
      }
    });
  }
});

// No browser needed: the page above loads this bundle through the gateway; here it must be the very same bytes.
test("the gateway passes the socket.io client bundle through byte for byte", async () => {
  const stack = await startStack();
  try {
    const [viaGateway, direct] = await Promise.all([
      fetch(`${stack.url}/socket.io/socket.io.js`),
      fetch(`${stack.legacy.url}/socket.io/socket.io.js`),
    ]);
    assert.equal(viaGateway.status, 200);
    assert.equal(direct.status, 200);
    for (const header of ["content-type", "etag", "cache-control"]) {
      assert.equal(viaGateway.headers.get(header), direct.headers.get(header), header);
    }
    const [gatewayBytes, directBytes] = [Buffer.from(await viaGateway.arrayBuffer()), Buffer.from(await direct.arrayBuffer())];
    assert.ok(directBytes.length > 10_000, `the legacy server serves a real bundle (${directBytes.length} bytes)`);
    assert.ok(
      gatewayBytes.equals(directBytes),
      `bundle differs: ${gatewayBytes.length} bytes via the gateway, ${directBytes.length} direct`,
    );
  } finally {
    await stack.close();
  }
});
