/** An UpstreamSink that records everything an upstream tells its client session (the upstream lifecycle tests). */
import type { ErrorCode } from "../../src/errors.js";
import type { UpstreamMessage, UpstreamSink } from "../../src/upstream/upstream.js";

export class RecordingSink implements UpstreamSink {
  readonly messages: UpstreamMessage[] = [];
  closed: { code: ErrorCode | undefined; detail: string | undefined } | undefined;
  drains = 0;
  onMessage(message: UpstreamMessage): void {
    this.messages.push(message);
  }
  onClose(code: ErrorCode | undefined, detail: string | undefined): void {
    this.closed = { code, detail };
  }
  onDrain(): void {
    this.drains++;
  }
  texts(): string[] {
    return this.messages.filter((m): m is string => typeof m === "string");
  }
}
