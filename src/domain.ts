/**
 * The gateway's domain vocabulary: the names every layer (routing, store, downstream, upstream, shadow,
 * telemetry, ops) shares. It imports nothing, so any module may import it without pulling in a layer.
 */

/** Where a session is served: the legacy socket.io server or the new backend (the hub). */
export type Backend = "legacy" | "hub";

/** The client's Engine.IO transport (after an upgrade, `websocket`). */
export type ClientTransport = "polling" | "websocket";

/** How the gateway serves a session: proxied byte for byte (`pipe`) or terminated and relayed packet by packet. */
export type SessionMode = "terminate" | "pipe";

/**
 * Why a session went where it did: `split` (its bucket against hubPercent), `override` (a trusted
 * tester forced it), `list` (its key is in lists.alwaysHub/neverHub), `fallback` (no source yielded a
 * key and the fallback is a fixed backend, or the client address was hashed).
 */
export type RouteReason = "split" | "override" | "list" | "fallback";

/** Which way a packet travels. */
export type Direction = "client_to_server" | "server_to_client";

/** Why a session ended. Error closes also carry an ErrorCode. */
export type SessionCloseReason = "client closed" | "upstream closed" | "error" | "drained" | "shutdown";

/** What a backend session is for: serving the client (`primary`) or mirroring it for comparison (`shadow`). */
export type UpstreamRole = "primary" | "shadow";

/** Open sessions of one instance, per backend and client transport. */
export type SessionCounts = Record<Backend, Record<ClientTransport, number>>;
