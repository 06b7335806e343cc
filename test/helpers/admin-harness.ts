/**
 * A real ops server with the admin API, the memory routing store and a fake gateway whose sessions are
 * plain records (closing one removes it), for the admin API and CLI tests.
 */
import { pino } from "pino";
import { routingConfigOrThrow } from "../../src/config/routing-config.js";
import { registerAdminApi, storeReadinessCheck, type AdminApi, type GatewayControl } from "../../src/ops/admin-api.js";
import { createMetrics } from "../../src/ops/metrics.js";
import { createOpsServer, type OpsServer } from "../../src/ops/ops-server.js";
import { MemoryRoutingStore } from "../../src/store/memory-store.js";
import type { Backend, ClientTransport } from "../../src/domain.js";

export const ADMIN_TEST_TOKEN = "test-admin-token-0123456789";

export class FakeGateway implements GatewayControl {
  sessions: { backend: Backend; transport: ClientTransport }[] = [];
  readonly closeCalls: { backend: Backend; asked: number; closed: number }[] = [];

  add(backend: Backend, transport: ClientTransport, count: number): void {
    for (let i = 0; i < count; i++) this.sessions.push({ backend, transport });
  }

  count(backend: Backend): number {
    return this.sessions.filter((s) => s.backend === backend).length;
  }

  sessionCounts(): Record<Backend, Record<ClientTransport, number>> {
    const counts = { legacy: { polling: 0, websocket: 0 }, hub: { polling: 0, websocket: 0 } };
    for (const s of this.sessions) counts[s.backend][s.transport]++;
    return counts;
  }

  closeSessions(backend: Backend, count: number): number {
    let closed = 0;
    this.sessions = this.sessions.filter((s) => {
      if (s.backend !== backend || closed >= count) return true;
      closed++;
      return false;
    });
    this.closeCalls.push({ backend, asked: count, closed });
    return closed;
  }
}

export interface AdminHarness {
  readonly url: string;
  readonly store: MemoryRoutingStore;
  readonly gateway: FakeGateway;
  readonly api: AdminApi;
  readonly ops: OpsServer;
  /** The admin API's log lines, as JSON objects (at warn and above). */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Drains close at most 5 sessions every 20 ms; bodies are limited to 64 KiB. */
export async function startAdminHarness(adminToken: string | undefined): Promise<AdminHarness> {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const gateway = new FakeGateway();
  const store = new MemoryRoutingStore({
    instanceId: "gw-1",
    logger,
    initialConfig: routingConfigOrThrow({ hubPercent: 0 }),
    internalUrl: "http://gw-1:3000",
  });
  await store.start();
  const metrics = createMetrics({ sessionCounts: () => gateway.sessionCounts() }, "gw-1");
  const ops = createOpsServer(metrics, logger);
  const api = registerAdminApi(ops, {
    store,
    control: gateway,
    adminToken,
    logger,
    pacing: { stepSize: 5, stepMs: 20 },
    maxBodyBytes: 64 * 1024,
  });
  ops.addReadinessCheck(storeReadinessCheck(store));
  const address = await ops.listen(0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${address.port}`,
    store,
    gateway,
    api,
    ops,
    logs,
    close: async () => {
      api.close();
      await ops.close();
      metrics.close();
      await store.close();
    },
  };
}
