/**
 * engine.io waits up to 30 s (a non-unref'd timer) for the next poll of a polling session it closes, even
 * when the client has already closed it (a kicked client). The timer keeps a test process alive for
 * those 30 s after everything closed; tests shorten it. No effect on what clients observe.
 */
export function shortenPollingCloseTimeout(engine: EngineServerLike): void {
  engine.on("connection", (socket: { transport: { closeTimeout?: number } }) => {
    socket.transport.closeTimeout = 200;
  });
}

interface EngineServerLike {
  on(event: "connection", listener: (socket: { transport: { closeTimeout?: number } }) => void): unknown;
}
