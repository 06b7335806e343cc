/**
 * The handshake values clients get (pingInterval, pingTimeout, maxPayload) are the legacy server's own,
 * learned by a probe at start-up, or learned later when the legacy server was down at start-up; and the
 * configuration overrides them.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startLegacyChat } from "../../examples/legacy-chat/server.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { freePort } from "../helpers/ports.js";
import { gatewayEnv } from "../helpers/stack.js";

const LEGACY_VALUES = { pingInterval: 12_345, pingTimeout: 6_789, maxHttpBufferSize: 424_242 };

async function openPacket(url: string, eio: 3 | 4): Promise<Record<string, unknown>> {
  const body = await (await fetch(`${url}/socket.io/?EIO=${eio}&transport=polling`)).text();
  // v4: `0{...}`; v3: `<length>:0{...}` possibly followed by more packets.
  const open = eio === 4 ? body : body.slice(body.indexOf(":") + 1);
  return JSON.parse(open.slice(1, eio === 4 ? undefined : open.indexOf("}") + 1)) as Record<string, unknown>;
}

describe("handshake values", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function gateway(legacyUrl: string, env: Record<string, string> = {}): Promise<Switchyard> {
    const switchyard = await startSwitchyard({ config: loadStaticConfig(gatewayEnv({ LEGACY_MODE: "terminate", ...env })), legacyUrl });
    cleanups.push(() => switchyard.close());
    return switchyard;
  }

  it("are the legacy server's own, learned by the probe handshake", async () => {
    const legacy = await startLegacyChat(LEGACY_VALUES);
    cleanups.push(() => legacy.close());
    const switchyard = await gateway(legacy.url);
    const direct = await openPacket(legacy.url, 4);
    const ours = await openPacket(switchyard.url, 4);
    assert.deepEqual(
      { pingInterval: ours.pingInterval, pingTimeout: ours.pingTimeout, maxPayload: ours.maxPayload, upgrades: ours.upgrades },
      { pingInterval: direct.pingInterval, pingTimeout: direct.pingTimeout, maxPayload: direct.maxPayload, upgrades: direct.upgrades },
    );
    assert.equal(ours.pingInterval, LEGACY_VALUES.pingInterval);
    assert.equal(ours.maxPayload, LEGACY_VALUES.maxHttpBufferSize);
    const v3 = await openPacket(switchyard.url, 3);
    assert.equal(v3.pingInterval, LEGACY_VALUES.pingInterval);
    assert.equal(v3.pingTimeout, LEGACY_VALUES.pingTimeout);
  });

  it("are overridden by PING_INTERVAL_MS, PING_TIMEOUT_MS and MAX_PAYLOAD_BYTES", async () => {
    const legacy = await startLegacyChat(LEGACY_VALUES);
    cleanups.push(() => legacy.close());
    const switchyard = await gateway(legacy.url, { PING_INTERVAL_MS: "30000", MAX_PAYLOAD_BYTES: "2000000" });
    const ours = await openPacket(switchyard.url, 4);
    assert.equal(ours.pingInterval, 30_000);
    assert.equal(ours.pingTimeout, LEGACY_VALUES.pingTimeout, "what is not overridden is still learned");
    assert.equal(ours.maxPayload, 2_000_000);
  });

  it("are learned once the legacy server comes up, when it was down at start-up", async () => {
    const port = await freePort();
    const switchyard = await gateway(`http://127.0.0.1:${port}`);
    const ready = await fetch(`${switchyard.opsUrl}/readyz`);
    assert.equal(ready.status, 503, "not ready before the legacy handshake is known");
    assert.match(JSON.stringify(await ready.json()), /not learned yet/);
    const legacy = await startLegacyChat({ ...LEGACY_VALUES, port });
    cleanups.push(() => legacy.close());
    const learned = await switchyard.handshakeLearned;
    assert.equal(learned.pingInterval, LEGACY_VALUES.pingInterval);
    assert.equal((await fetch(`${switchyard.opsUrl}/readyz`)).status, 200);
    const ours = await openPacket(switchyard.url, 4);
    assert.equal(ours.pingInterval, LEGACY_VALUES.pingInterval);
    assert.equal(ours.maxPayload, LEGACY_VALUES.maxHttpBufferSize);
  });
});
