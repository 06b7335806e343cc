/**
 * A token bucket: `ratePerSecond` tokens a second on average, at most `burst` at once. Pure (the clock is
 * passed in), so that its arithmetic is tested without waiting.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Seconds until the next token, rounded up (a Retry-After value; at least 1). */
  secondsUntilNext(): number {
    this.refill();
    return Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerSecond));
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
  }
}
