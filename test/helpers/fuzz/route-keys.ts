/**
 * Several routes on one gateway: a routing document under which each route has a routing key of its own
 * (`?userId=<key>`), so that one gateway process carries pipe or terminated legacy sessions, hub sessions and
 * both shadowed routes at once (the legacy mode is the process's: pipe or terminate). Keys on the hub are
 * listed in `alwaysHub`; shadowing samples half of the keys, and each route's key is picked on the right side.
 */
import { bucketOf, shadowSaltOf } from "../../../src/routing/hash.js";

export type MultiRoute = "legacy" | "hub" | "shadow-to-hub" | "shadow-to-legacy";
export const MULTI_ROUTES: readonly MultiRoute[] = ["legacy", "hub", "shadow-to-hub", "shadow-to-legacy"];

const SALT = "switchyard-v1";
const SHADOW_PERCENT = 50;

function sampled(key: string): boolean {
  return bucketOf(shadowSaltOf(SALT), key) < SHADOW_PERCENT * 100;
}

/** The first key `<prefix>-<route>-<n>` on the route's side of the shadow sample. */
function keyOf(prefix: string, route: MultiRoute): string {
  const wantShadow = route === "shadow-to-hub" || route === "shadow-to-legacy";
  for (let n = 0; ; n++) {
    const key = `${prefix}-${route}-${n}`;
    if (sampled(key) === wantShadow) return key;
  }
}

export interface MultiRouteSetup {
  /** Each route's routing key (send it as `userId`). */
  readonly keys: Readonly<Record<MultiRoute, string>>;
  /** The ROUTING_CONFIG document. Hub-route sessions are shadowed only with LEGACY_SHADOW_URL set. */
  readonly routing: Record<string, unknown>;
}

export function multiRouteSetup(prefix = "k"): MultiRouteSetup {
  const keys = Object.fromEntries(MULTI_ROUTES.map((route) => [route, keyOf(prefix, route)])) as Record<MultiRoute, string>;
  return {
    keys,
    routing: {
      hubPercent: 0,
      key: { sources: ["query:userId"], fallback: "legacy", salt: SALT },
      lists: { alwaysHub: [keys.hub, keys["shadow-to-legacy"]], neverHub: [] },
      shadow: { percent: SHADOW_PERCENT, windowMs: 1000 },
    },
  };
}
