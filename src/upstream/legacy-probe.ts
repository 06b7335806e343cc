/**
 * The probe handshake: at start-up the gateway opens (and at once closes) one Engine.IO session with the
 * legacy server to learn the values its clients get (pingInterval, pingTimeout, maxPayload), so that
 * clients of the gateway get the same ones.
 */
import { SwitchyardError } from "../errors.js";
import { parseHandshake, splitV4Payload, type EngineIoHandshake } from "../protocol/engineio.js";
import { backendUrl } from "./backend-url.js";

export async function probeLegacyHandshake(legacyUrl: string, path: string, timeoutMs: number): Promise<EngineIoHandshake> {
  const url = backendUrl(legacyUrl, path, [
    ["EIO", "4"],
    ["transport", "polling"],
  ]);
  let body: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { "user-agent": "switchyard-probe" } });
    body = await response.text();
    if (!response.ok) throw new SwitchyardError("SWY_ERR_UPSTREAM_REJECTED", `probe handshake got HTTP ${response.status}`);
  } catch (error) {
    if (error instanceof SwitchyardError) throw error;
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SwitchyardError("SWY_ERR_UPSTREAM_UNREACHABLE", `probe handshake to ${url.origin}: ${cause}`);
  }
  const open = splitV4Payload(body)[0] ?? "";
  if (!open.startsWith("0"))
    throw new SwitchyardError("SWY_ERR_UPSTREAM_HANDSHAKE", `probe handshake got ${JSON.stringify(body.slice(0, 80))}`);
  let handshake: EngineIoHandshake;
  try {
    handshake = parseHandshake(open.slice(1));
  } catch (error) {
    throw new SwitchyardError("SWY_ERR_UPSTREAM_HANDSHAKE", (error as Error).message);
  }
  // Close the probe session at once so that it does not linger on the legacy server until its ping timeout.
  url.search = `EIO=4&transport=polling&sid=${encodeURIComponent(handshake.sid)}`;
  await fetch(url, {
    method: "POST",
    body: "1",
    headers: { "content-type": "text/plain;charset=UTF-8" },
    signal: AbortSignal.timeout(timeoutMs),
  })
    .then((response) => response.arrayBuffer())
    .catch(() => undefined);
  return handshake;
}
