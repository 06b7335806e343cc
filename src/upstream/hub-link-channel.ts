/**
 * One session on a switchyard-hub.v2 link (docs/hub-protocol.md §11): HubUpstream's channel. It adds the
 * session to every frame it writes, takes the frames the link routes to it, and turns the session's open,
 * close, flow control and limits into what a v1 session's own socket would give HubUpstream.
 */
import type { ErrorCode } from "../errors.js";
import { closeReason, HUB_CLOSE_CODE } from "../protocol/hub-frames.js";
import { encodeCloseFrame, encodeFlowFrame, encodeLinkBinary, encodeLinkText } from "../protocol/hub-link-frames.js";
import type { HubChannel, HubChannelListener } from "./hub-channel.js";

/** What a channel needs from its link. */
export interface LinkPort {
  readonly bufferedAmount: number;
  send(frame: string | Buffer): void;
  /** The channel wrote: if the link is behind, call its drained() once the link caught up. */
  wantDrain(channel: LinkChannel): void;
  /** The session is over: the link no longer routes to it. */
  forget(channel: LinkChannel): void;
}

/** The bounds a channel applies (HUB_LINK_MAX_FRAME_BYTES, HUB_LINK_PAUSED_BYTES). */
export interface LinkChannelLimits {
  readonly maxFrameBytes: number;
  readonly pausedBytes: number;
}

export interface OpenOutcome {
  opened(): void;
  failed(code: ErrorCode, detail: string): void;
}

/** One session on a link: HubUpstream's channel. */
export class LinkChannel implements HubChannel {
  readonly protocol = 2;
  private state: "opening" | "open" | "closed" = "opening";
  private listener: HubChannelListener | undefined;
  /** Frames (and an end) that arrived between `opened` and listen(). */
  private backlog: [Buffer, boolean, unknown][] = [];
  private endedWith: [ErrorCode | undefined, string] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private pausedBytes = 0;

  constructor(
    private readonly link: LinkPort,
    readonly session: string,
    private readonly settings: LinkChannelLimits,
    private readonly outcome: OpenOutcome,
  ) {}

  get bufferedAmount(): number {
    return this.link.bufferedAmount;
  }

  awaitOpened(timeoutMs: number): void {
    this.timer = setTimeout(() => {
      if (this.state !== "opening") return;
      this.closeOpening(HUB_CLOSE_CODE.normal, "no opened in time");
      this.outcome.failed("SWY_ERR_UPSTREAM_TIMEOUT", `no opened within ${Math.round(timeoutMs)} ms`);
    }, timeoutMs);
  }

  opened(): void {
    if (this.state !== "opening") return;
    clearTimeout(this.timer);
    this.state = "open";
    this.outcome.opened();
  }

  listen(listener: HubChannelListener): void {
    this.listener = listener;
    const backlog = this.backlog;
    this.backlog = [];
    for (const [data, isBinary, parsed] of backlog) listener.frame(data, isBinary, parsed);
    if (this.endedWith !== undefined) listener.ended(...this.endedWith);
  }

  write(frame: string | Buffer): void {
    if (this.state !== "open") return;
    const out = typeof frame === "string" ? encodeLinkText(this.session, frame) : encodeLinkBinary(this.session, frame);
    // UTF-8 is at most 3 bytes per UTF-16 unit: the exact count only for frames that might be over.
    const size = typeof out === "string" && out.length * 3 > this.settings.maxFrameBytes ? Buffer.byteLength(out) : out.length;
    if (size > this.settings.maxFrameBytes) {
      this.endHere(
        "SWY_ERR_HUB_LINK_FRAME_TOO_LARGE",
        `a ${size}-byte frame (HUB_LINK_MAX_FRAME_BYTES ${this.settings.maxFrameBytes})`,
        1009,
      );
      return;
    }
    this.link.send(out);
  }

  wrote(): void {
    if (this.state === "open") this.link.wantDrain(this);
  }

  drained(): void {
    this.listener?.drained();
  }

  pause(): void {
    if (this.state !== "open" || this.paused) return;
    this.paused = true;
    this.pausedBytes = 0;
    this.link.send(encodeFlowFrame(this.session, "pause"));
  }

  resume(): void {
    if (this.state !== "open" || !this.paused) return;
    this.paused = false;
    this.link.send(encodeFlowFrame(this.session, "resume"));
  }

  close(closeCode: number | undefined, reason: string): void {
    if (this.state !== "open") return;
    this.state = "closed";
    this.link.forget(this);
    this.link.send(encodeCloseFrame(this.session, closeCode ?? HUB_CLOSE_CODE.internal, closeReason(reason)));
  }

  receive(data: Buffer, isBinary: boolean, parsed: unknown): void {
    if (this.state === "opening") {
      // v1: nothing of a session comes before its hello; v2: before its opened.
      this.closeOpening(HUB_CLOSE_CODE.protocolError, "a frame before opened");
      this.outcome.failed("SWY_ERR_UPSTREAM_HANDSHAKE", "the hub sent a frame of the session before opened");
      return;
    }
    if (this.state === "closed") return;
    if (this.paused) {
      this.pausedBytes += data.length;
      if (this.pausedBytes > this.settings.pausedBytes) {
        this.endHere("SWY_ERR_HUB_LINK_OVERFLOW", `${this.pausedBytes} bytes while paused`, HUB_CLOSE_CODE.policy);
        return;
      }
    }
    if (this.listener !== undefined) this.listener.frame(data, isBinary, parsed);
    else this.backlog.push([data, isBinary, parsed]);
  }

  /** The hub's close frame for this session. */
  hubClosed(code: number, reason: string): void {
    const detail = `the hub closed the session (${code}${reason ? ` ${reason}` : ""})`;
    if (this.state === "opening") {
      this.closeOpening(undefined, "");
      this.outcome.failed(code === HUB_CLOSE_CODE.policy ? "SWY_ERR_UPSTREAM_REJECTED" : "SWY_ERR_UPSTREAM_HANDSHAKE", detail);
      return;
    }
    this.ended(code === HUB_CLOSE_CODE.normal ? undefined : "SWY_ERR_UPSTREAM_CLOSED", detail);
  }

  /** The link is gone. */
  lost(detail: string): void {
    if (this.state === "opening") {
      clearTimeout(this.timer);
      this.state = "closed";
      this.outcome.failed("SWY_ERR_HUB_LINK_LOST", detail);
      return;
    }
    this.ended("SWY_ERR_HUB_LINK_LOST", detail);
  }

  /** This side ends the session for a reason of its own: the hub gets a close frame, HubUpstream the code. */
  private endHere(code: ErrorCode, detail: string, closeCode: number): void {
    this.close(closeCode, detail);
    this.deliverEnd(code, detail);
  }

  private ended(code: ErrorCode | undefined, detail: string): void {
    if (this.state !== "open") return;
    this.state = "closed";
    this.link.forget(this);
    this.deliverEnd(code, detail);
  }

  private deliverEnd(code: ErrorCode | undefined, detail: string): void {
    if (this.listener !== undefined) this.listener.ended(code, detail);
    else this.endedWith = [code, detail];
  }

  /** Gives up a session before it opened; `closeCode` undefined: the hub already closed it. */
  private closeOpening(closeCode: number | undefined, reason: string): void {
    clearTimeout(this.timer);
    this.state = "closed";
    this.link.forget(this);
    if (closeCode !== undefined) this.link.send(encodeCloseFrame(this.session, closeCode, reason));
  }
}
