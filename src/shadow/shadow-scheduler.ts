/**
 * Runs the shadow taps' deferred work in batches, off the relay's hot path. A tap only records what it
 * sees and asks to be run; one setImmediate per batch (not one per session and message) then runs every
 * tap that has work, in the order they asked. A batch yields after `sliceMs` so that a burst of
 * comparisons never holds up the primary sessions' I/O for long: the rest runs in the next turn of the
 * event loop, after the I/O that arrived meanwhile. Each tap bounds its own backlog (SHADOW_BACKLOG_LIMIT).
 */

export interface ScheduledWork {
  /** Does the work recorded so far. Must not throw (the taps guard themselves). */
  runScheduled(): void;
}

/** Longest stretch of shadow work before the event loop gets to the primaries' I/O again. */
export const DEFAULT_SLICE_MS = 4;

export class ShadowScheduler {
  private queue: ScheduledWork[] = [];
  private next = 0;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly sliceMs = DEFAULT_SLICE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Work waiting to run. */
  get waiting(): number {
    return this.queue.length - this.next;
  }

  /** Runs `work` in the next batch. The caller asks once until it has been run (it keeps its own flag). */
  schedule(work: ScheduledWork): void {
    this.queue.push(work);
    this.immediate ??= setImmediate(this.run);
  }

  /** Stops scheduling (the gateway is closing); what is waiting is dropped. */
  close(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.queue = [];
    this.next = 0;
  }

  private readonly run = (): void => {
    this.immediate = undefined;
    const started = this.now();
    while (this.next < this.queue.length) {
      const work = this.queue[this.next++] as ScheduledWork;
      work.runScheduled();
      if (this.now() - started >= this.sliceMs && this.next < this.queue.length) {
        this.immediate = setImmediate(this.run);
        this.compact();
        return;
      }
    }
    this.queue = [];
    this.next = 0;
  };

  private compact(): void {
    if (this.next > 1024 && this.next * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.next);
      this.next = 0;
    }
  }
}
