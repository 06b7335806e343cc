/**
 * The multiplexed hub link (switchyard-hub.v2, docs/hub-protocol.md §11): which protocol the gateway offers,
 * how many links a process opens, and the link's bounds. Each bound has a named default and an SWY_ERR_* code.
 */
import { integer, oneOf, setting } from "./setting-parsers.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB_BYTES = 1 << 30;

export const HUB_PROTOCOLS = ["v1", "v2", "auto"] as const;
export type HubProtocolChoice = (typeof HUB_PROTOCOLS)[number];

export const HUB_LINK_SETTINGS = {
  HUB_PROTOCOL: setting<HubProtocolChoice>(
    "HUB_PROTOCOL",
    "auto",
    "What the gateway offers the hub: auto (offers switchyard-hub.v2 and v1: a v2 hub carries every session over " +
      "HUB_LINKS shared links, a v1 hub selects v1 and keeps one WebSocket per session), v1 (only v1: for a hub that " +
      "mishandles a list of offered subprotocols) or v2 (links only).",
    oneOf(...HUB_PROTOCOLS),
  ),
  HUB_LINKS: setting("HUB_LINKS", 2, "Shared WebSockets (switchyard-hub.v2 links) a gateway process opens to a hub.", integer(1, 64)),
  HUB_LINK_MAX_SESSIONS: setting(
    "HUB_LINK_MAX_SESSIONS",
    5_000,
    "Sessions one hub link carries (or the hub's maxSessions when smaller); a new session finding every link full " +
      "goes to the legacy server (SWY_ERR_HUB_LINK_FULL).",
    integer(1, 1_000_000),
  ),
  HUB_LINK_MAX_FRAME_BYTES: setting(
    "HUB_LINK_MAX_FRAME_BYTES",
    4 * MIB,
    "Largest frame on a hub link. A larger one from the hub breaks the link (SWY_ERR_HUB_LINK_LOST for its sessions); " +
      "a session's larger one to the hub ends that session (SWY_ERR_HUB_LINK_FRAME_TOO_LARGE).",
    integer(64 * KIB, GIB_BYTES),
  ),
  HUB_LINK_PAUSED_BYTES: setting(
    "HUB_LINK_PAUSED_BYTES",
    1 * MIB,
    "Bytes the gateway takes for a hub-link session after asking the hub to pause it (its client reads slowly); more " +
      "ends the session (SWY_ERR_HUB_LINK_OVERFLOW).",
    integer(KIB, GIB_BYTES),
  ),
};
