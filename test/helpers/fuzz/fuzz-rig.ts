/**
 * The fuzz rig: real backends and two real gateway processes carrying every route at once, so that one run
 * attacks them all in parallel on one machine:
 * - the sample legacy chat, the sample hub and a dark legacy server (for hub sessions shadowed to legacy),
 *   each a process of its own;
 * - gateway `pipe` (LEGACY_MODE=pipe): the pipe route, the hub route, legacy sessions shadowed to the hub and
 *   hub sessions shadowed to the dark legacy server (route-keys.ts picks a routing key for each);
 * - gateway `terminate` (LEGACY_MODE=terminate): the terminated legacy route.
 */
import { startSampleBackend, type SampleBackend } from "../../../src/sample-backends.js";
import { startGatewayProcess } from "../process.js";
import { observeGateway, type ObservedGateway } from "./gateway-under-test.js";
import { multiRouteSetup, type MultiRoute } from "./route-keys.js";

export type FuzzRoute = "pipe" | "terminate" | "hub" | "shadow-to-hub" | "shadow-to-legacy";
export const FUZZ_ROUTES: readonly FuzzRoute[] = ["pipe", "terminate", "hub", "shadow-to-hub", "shadow-to-legacy"];

export interface RigGateway extends ObservedGateway {
  readonly name: "pipe" | "terminate";
}

export interface FuzzRig {
  readonly gateways: Readonly<Record<"pipe" | "terminate", RigGateway>>;
  /** Where a route's sessions go: its gateway's URL and its routing key. */
  target(route: FuzzRoute): { readonly gateway: RigGateway; readonly url: string; readonly key: string };
  stop(): Promise<void>;
}

const MULTI_ROUTE_OF: Record<FuzzRoute, MultiRoute> = {
  pipe: "legacy",
  terminate: "legacy",
  hub: "hub",
  "shadow-to-hub": "shadow-to-hub",
  "shadow-to-legacy": "shadow-to-legacy",
};

export async function startFuzzRig(): Promise<FuzzRig> {
  const backends: SampleBackend[] = await Promise.all([
    startSampleBackend("legacy", "../examples/legacy-chat/server"),
    startSampleBackend("hub", "../examples/hub/server"),
    startSampleBackend("dark-legacy", "../examples/legacy-chat/server"),
  ]);
  const [legacy, hub, darkLegacy] = backends as [SampleBackend, SampleBackend, SampleBackend];
  const setup = multiRouteSetup("fuzz");
  const env = (mode: string) => ({
    LEGACY_URL: legacy.url,
    HUB_URL: hub.url,
    LEGACY_SHADOW_URL: darkLegacy.url,
    LEGACY_MODE: mode,
    ROUTING_CONFIG: JSON.stringify(setup.routing),
  });
  // Only error lines are kept: the fuzz makes the gateways log a line per refused session (info).
  const errorsOnly = (line: string) => /"level":"(error|fatal)"/.test(line);
  const [pipe, terminate] = await Promise.all([
    startGatewayProcess(env("pipe"), 20_000, [], errorsOnly),
    startGatewayProcess(env("terminate"), 20_000, [], errorsOnly),
  ]);
  // Object.assign keeps the observer's getters (alive, stderr) live.
  const gateways = {
    pipe: Object.assign(observeGateway(pipe), { name: "pipe" as const }),
    terminate: Object.assign(observeGateway(terminate), { name: "terminate" as const }),
  };
  return {
    gateways,
    target(route) {
      const gateway = route === "terminate" ? gateways.terminate : gateways.pipe;
      return { gateway, url: gateway.process.url, key: setup.keys[MULTI_ROUTE_OF[route]] };
    },
    async stop() {
      await Promise.all([pipe.stop(), terminate.stop()]);
      await Promise.all(backends.map((backend) => backend.stop()));
    },
  };
}
