/**
 * The client-version matrix: real socket.io-client 2.x, 3.x and 4.x (npm aliases), with helpers that
 * turn their callback APIs into promises with timeouts.
 */
import io2 from "sio-client-2";
import { io as io3 } from "sio-client-3";
import { io as io4 } from "sio-client-4";

export type ClientVersion = "2" | "3" | "4";
export const CLIENT_VERSIONS: readonly ClientVersion[] = ["2", "3", "4"];

export type TransportMode = "polling" | "websocket" | "upgrade";
export const TRANSPORT_MODES: readonly TransportMode[] = ["polling", "websocket", "upgrade"];

export const TRANSPORTS: Record<TransportMode, string[]> = {
  polling: ["polling"],
  websocket: ["websocket"],
  upgrade: ["polling", "websocket"],
};

/** The subset of the socket API every client generation shares. */
export interface AnySocket {
  id: string | undefined;
  connected: boolean;
  io: { engine: { id?: string; transport: { name: string }; on(event: string, listener: (...args: any[]) => void): unknown } };
  on(event: string, listener: (...args: any[]) => void): AnySocket;
  once(event: string, listener: (...args: any[]) => void): AnySocket;
  off(event: string, listener?: (...args: any[]) => void): AnySocket;
  emit(event: string, ...args: any[]): AnySocket;
  connect(): AnySocket;
  disconnect(): AnySocket;
  close(): AnySocket;
}

export interface ConnectOptions {
  readonly transport?: TransportMode;
  readonly query?: Record<string, string>;
  readonly auth?: Record<string, unknown>;
  readonly reconnection?: boolean;
  readonly extraHeaders?: Record<string, string>;
  readonly timeout?: number;
  /** A PEM certificate to trust (a gateway with a self-signed TLS certificate). */
  readonly ca?: string;
}

/** Creates (and starts connecting) a client of the given generation; `nsp` is a path like "/admin". */
export function createClient(version: ClientVersion, baseUrl: string, nsp = "/", options: ConnectOptions = {}): AnySocket {
  const common = {
    forceNew: true,
    transports: TRANSPORTS[options.transport ?? "websocket"],
    reconnection: options.reconnection ?? false,
    timeout: options.timeout ?? 5000,
    ...(options.extraHeaders ? { extraHeaders: options.extraHeaders } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
  };
  const url = baseUrl + (nsp === "/" ? "" : nsp);
  if (version === "2") {
    // 2.x takes the query as a string (it also ends up in the namespace CONNECT) and has no auth.
    const query = options.query ? new URLSearchParams(options.query).toString() : undefined;
    return (io2 as unknown as (url: string, opts: object) => AnySocket)(url, { ...common, ...(query ? { query } : {}) });
  }
  const factory = (version === "3" ? io3 : io4) as unknown as (url: string, opts: object) => AnySocket;
  return factory(url, { ...common, ...(options.query ? { query: options.query } : {}), ...(options.auth ? { auth: options.auth } : {}) });
}

export function waitFor<T = unknown>(socket: AnySocket, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    const listener = (value: T) => {
      clearTimeout(timer);
      resolve(value);
    };
    socket.once(event, listener);
  });
}

/** Resolves on connect, rejects with the connect_error (or "error" for 2.x middleware refusals). */
export function connected(socket: AnySocket, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      socket.off("error", onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`not connected within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(error instanceof Error ? error : Object.assign(new Error("connect refused"), { data: error }));
    };
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
    socket.once("error", onError);
  });
}

export function emitWithAck<T = unknown[]>(socket: AnySocket, event: string, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within 5000 ms`)), 5000);
    socket.emit(event, ...args, (...reply: unknown[]) => {
      clearTimeout(timer);
      resolve(reply as T);
    });
  });
}
