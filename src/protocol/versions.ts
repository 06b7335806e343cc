/**
 * What differs between the two Socket.IO generations a gateway faces. Engine.IO v3 carries Socket.IO
 * protocol v4 (socket.io-client 2.x); Engine.IO v4 carries protocol v5 (3.x and 4.x). Pure.
 */
import type { EngineIoRevision } from "./engineio.js";
import { encodePacket, PACKET_TYPE } from "./socketio.js";

export type SocketIoRevision = 4 | 5;

export function socketIoRevisionOf(eio: EngineIoRevision): SocketIoRevision {
  return eio === 3 ? 4 : 5;
}

/**
 * A CONNECT_ERROR (called ERROR in v4) as a socket.io 4.8 server writes it for a refused namespace:
 * v5 clients get `{message, data?}`; v4 clients get `err.data || err.message` (a falsy `data` such as
 * `0` or `""` yields the message, as socket.io's `||` does).
 */
export function encodeConnectError(revision: SocketIoRevision, nsp: string, message: string, data?: unknown): string {
  const payload = revision === 5 ? (data === undefined ? { message } : { message, data }) : data || message;
  return encodePacket({ type: PACKET_TYPE.CONNECT_ERROR, nsp, data: payload });
}

/**
 * The Socket.IO id a client sees for a namespace. v5: whatever the server put in its CONNECT reply.
 * v4: derived on the client from the engine id (`id` for "/", `nsp#id` otherwise), which is why a gateway
 * facing 2.x clients must use its backend's engine id as its own.
 */
export function derivedSocketId(engineId: string, nsp: string): string {
  return nsp === "/" ? engineId : `${nsp}#${engineId}`;
}

/** v4 servers connect the default namespace unprompted; v5 clients ask for it. */
export function serverConnectsDefaultNamespace(revision: SocketIoRevision): boolean {
  return revision === 4;
}
