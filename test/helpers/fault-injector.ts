/**
 * Loaded into a gateway process by a test (`node --import tsx --import <this file> src/main.ts`), never by the
 * gateway itself: production code has no hook that raises a fault on request. Each SIGUSR2 leaves a promise
 * rejection unhandled and each SIGHUP throws from a timer, outside every guard of the gateway, so that the
 * process's last line of defence (src/process-guard.ts) is what handles them.
 */
process.on("SIGUSR2", () => {
  void Promise.reject(new Error("injected unhandled rejection"));
});
process.on("SIGHUP", () => {
  setTimeout(() => {
    throw new Error("injected uncaught exception");
  }, 0);
});
