/**
 * A hub session's channel: what HubUpstream needs from the wire, so that a v1 session (its own WebSocket) and
 * a v2 session (one of many on a shared link, hub-link.ts) look the same to it and to ClientSession. The
 * channel owns liveness (v1: a ping per session; v2: a ping per link) and reports every way it can end once.
 */
import type WebSocket from "ws";
import type { ErrorCode } from "../errors.js";
import { closeReason, HUB_CLOSE_CODE } from "../protocol/hub-frames.js";
import { DrainSignal } from "./upstream-socket.js";
import { WsHeartbeat } from "./ws-heartbeat.js";

export interface HubChannelListener {
  /** A frame of the session from the hub. `parsed`: a text frame's JSON value when the channel parsed it already. */
  frame(data: Buffer, isBinary: boolean, parsed: unknown): void;
  /** The channel ended from the hub's side (or its link's); `code` undefined: an orderly end (1000). */
  ended(code: ErrorCode | undefined, detail: string): void;
  /** The hub has room again: a paused client may resume. */
  drained(): void;
}

export interface HubChannel {
  /** 1: the session's own WebSocket; 2: a session on a shared link. */
  readonly protocol: 1 | 2;
  /** Bytes written towards the hub and not sent yet (v2: the link's, which is this session's path). */
  readonly bufferedAmount: number;
  /** Starts delivering; frames that arrived before are delivered first. */
  listen(listener: HubChannelListener): void;
  /** One frame to the hub (v1 form; a v2 channel adds the session). */
  write(frame: string | Buffer): void;
  /** After a client message was written: asks for drained() once the hub is caught up, if it is behind. */
  wrote(): void;
  /** The client reads slowly: stop taking the hub's frames of this session (v1: stop reading the socket). */
  pause(): void;
  resume(): void;
  /** Ends the session towards the hub; `closeCode` undefined: cut it (v1: no close frame). */
  close(closeCode: number | undefined, reason: string): void;
}

/** v1: one WebSocket per session, pinged every `pingIntervalMs`. */
export class WebSocketChannel implements HubChannel {
  readonly protocol = 1;
  private readonly drain: DrainSignal;
  private listener: HubChannelListener | undefined;
  private heartbeat: WsHeartbeat | undefined;
  private paused = false;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    drainLowWater: number,
    private readonly pingIntervalMs: number,
  ) {
    this.drain = new DrainSignal(ws, drainLowWater, () => this.listener?.drained());
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  listen(listener: HubChannelListener): void {
    this.listener = listener;
    const { ws } = this;
    ws.on("message", (data: Buffer, isBinary: boolean) => listener.frame(data, isBinary, undefined));
    ws.on("close", (code: number, reason: Buffer) => {
      const detail = `the hub closed the WebSocket (${code}${reason.length > 0 ? ` ${reason.toString()}` : ""})`;
      listener.ended(code === HUB_CLOSE_CODE.normal ? undefined : "SWY_ERR_UPSTREAM_CLOSED", detail);
    });
    ws.on("error", (error: Error) => listener.ended("SWY_ERR_UPSTREAM_CLOSED", error.message));
    this.heartbeat = new WsHeartbeat(ws, this.pingIntervalMs, {
      idle: () => this.closed || this.paused,
      silent: () => listener.ended("SWY_ERR_UPSTREAM_PING_TIMEOUT", "the hub did not answer a WebSocket ping"),
    });
  }

  write(frame: string | Buffer): void {
    this.ws.send(frame, this.drain.written);
  }

  wrote(): void {
    this.drain.sent();
  }

  pause(): void {
    this.paused = true;
    this.ws.pause();
  }

  resume(): void {
    this.paused = false;
    // A paused socket cannot read pongs: the heartbeat starts afresh.
    this.heartbeat?.reset();
    this.ws.resume();
  }

  close(closeCode: number | undefined, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat?.stop();
    if (closeCode === undefined) this.ws.terminate();
    else this.ws.close(closeCode, closeReason(reason));
  }
}
