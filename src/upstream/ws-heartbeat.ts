/**
 * A WebSocket heartbeat: a ping every `intervalMs`; a ping still unanswered at the next tick means the peer is
 * gone (`silent`). Used by a v1 session's own hub socket and by a v2 hub link.
 */
import type WebSocket from "ws";

export interface HeartbeatHooks {
  /** The peer did not answer the last ping. */
  readonly silent: () => void;
  /** True while no ping should be sent (closed, or paused: a paused socket cannot read pongs). */
  readonly idle?: () => boolean;
  /** Wraps the timer's callback (e.g. to contain its failures). */
  readonly wrap?: (tick: () => void) => () => void;
}

export class WsHeartbeat {
  private awaitingPong = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    intervalMs: number,
    private readonly hooks: HeartbeatHooks,
  ) {
    ws.on("pong", () => {
      this.awaitingPong = false;
    });
    const tick = () => this.tick();
    this.timer = setInterval(hooks.wrap?.(tick) ?? tick, intervalMs);
  }

  /** Start afresh: the next tick pings instead of judging (after a pause, when pongs could not be read). */
  reset(): void {
    this.awaitingPong = false;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.hooks.idle?.() === true) return;
    if (this.awaitingPong) {
      this.hooks.silent();
      return;
    }
    this.awaitingPong = true;
    this.ws.ping();
  }
}
