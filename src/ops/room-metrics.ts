/** The rooms and bridge metrics (issue 10): fed by the rooms' telemetry events and read from the room worlds on scrape. */
import type { Registry } from "prom-client";
import { subscribe, type RoomWorldName, type Unsubscribe } from "../telemetry/events.js";
import { SWITCHYARD_METRICS as m } from "./metric-catalog.js";
import { counterOf, gaugeOf, histogramOf } from "./metrics.js";

export interface RoomsSource {
  /** Hub-routed sockets per world. */
  sockets(): Record<RoomWorldName, number>;
  /** Bridge connection per world; undefined without a bridge (then switchyard_bridge_up is not exported). */
  bridgeUp(): Record<RoomWorldName, boolean> | undefined;
}

const WORLDS: readonly RoomWorldName[] = ["primary", "shadow"];
const SOURCES = ["hub", "gateway", "legacy", "emitter"] as const;

export function registerRoomMetrics(registry: Registry, rooms: RoomsSource | undefined): Unsubscribe[] {
  const broadcasts = counterOf(registry, m.roomBroadcasts);
  const deliveries = counterOf(registry, m.roomDeliveries);
  const publishFailures = counterOf(registry, m.bridgePublishFailures);
  const malformed = counterOf(registry, m.bridgeMalformed);
  const lag = histogramOf(registry, m.bridgeLag);
  for (const world of WORLDS) {
    for (const source of SOURCES) broadcasts.inc({ world, source }, 0);
    deliveries.inc({ world }, 0);
    publishFailures.inc({ world }, 0);
    for (const kind of ["message", "request"]) malformed.inc({ world, kind }, 0);
    lag.zero({ world });
  }
  if (rooms) {
    gaugeOf(registry, m.roomSockets, function collect() {
      const sockets = rooms.sockets();
      for (const world of WORLDS) this.set({ world }, sockets[world]);
    });
    gaugeOf(registry, m.bridgeUp, function collect() {
      const up = rooms.bridgeUp();
      if (up === undefined) return;
      for (const world of WORLDS) this.set({ world }, up[world] ? 1 : 0);
    });
  }
  return [
    subscribe("switchyard:rooms:broadcast", (e) => {
      broadcasts.inc({ world: e.world, source: e.source });
      if (e.recipients > 0) deliveries.inc({ world: e.world }, e.recipients);
    }),
    subscribe("switchyard:bridge:gap", (e) => publishFailures.inc({ world: e.world })),
    subscribe("switchyard:bridge:malformed", (e) => malformed.inc({ world: e.world, kind: e.kind })),
    subscribe("switchyard:bridge:lag", (e) => lag.observe({ world: e.world }, e.seconds)),
  ];
}
