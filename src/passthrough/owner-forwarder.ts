/**
 * Forwards a request of a session this instance does not own to the instance that does (found in the
 * shared session registry), so that any load balancer works without sticky sessions. A forwarded request
 * carries `x-switchyard-forwarded` with the deployment's marker (src/downstream/gateway-headers.ts), and a
 * request that carries it is never forwarded again (no loops).
 */
import { Agent, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Duplex } from "node:stream";
import { createProxyServer, type ProxyServer } from "http-proxy-3";
import { FORWARDED_HEADER } from "../downstream/gateway-headers.js";
import { publish } from "../telemetry/events.js";

/** What engine.io answers for a sid it does not know: the client then starts a new session. */
const UNKNOWN_SID_BODY = JSON.stringify({ code: 1, message: "Session ID unknown" });

export function answerUnknownSid(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(UNKNOWN_SID_BODY) });
  res.end(UNKNOWN_SID_BODY);
}

export class OwnerForwarder {
  private readonly proxy: ProxyServer;
  // Idle sockets go before the owner's 5 s keep-alive timeout could close them under us.
  private readonly agent = new Agent({ keepAlive: true, timeout: 4_000 });
  /** For owners that serve TLS (INTERNAL_URL https:); their certificate is verified against that URL's host. */
  private readonly tlsAgent = new HttpsAgent({ keepAlive: true, timeout: 4_000 });

  /** `marker`: the deployment's forwarding marker (forwardingMarker), which the owner recognises. */
  constructor(private readonly marker: string) {
    this.proxy = createProxyServer({ agent: this.agent, ws: true, xfwd: false });
    this.proxy.on("error", () => {});
  }

  /**
   * `ownerUrl` comes from the session registry, which validates it (an http: URL; anything else is treated
   * as no owner). http-proxy-3 may still throw synchronously: that is counted as a failed forward and
   * rethrown for the gateway's request guard (SWY_ERR_INTERNAL, 500).
   */
  web(req: IncomingMessage, res: ServerResponse, ownerUrl: string): void {
    req.headers[FORWARDED_HEADER] = this.marker;
    const failed = () => {
      publish("switchyard:owner:forward", { outcome: "failed" });
      // The owner is gone, and its sessions with it: tell the client as engine.io would.
      answerUnknownSid(res);
    };
    this.forward(() => this.proxy.web(req, res, this.targetOf(ownerUrl), failed));
  }

  ws(req: IncomingMessage, socket: Duplex, head: Buffer, ownerUrl: string): void {
    req.headers[FORWARDED_HEADER] = this.marker;
    const failed = () => {
      publish("switchyard:owner:forward", { outcome: "failed" });
      socket.destroy();
    };
    this.forward(() => this.proxy.ws(req, socket, head, this.targetOf(ownerUrl), failed));
  }

  private targetOf(ownerUrl: string): { target: string; agent: Agent } {
    return { target: ownerUrl, agent: ownerUrl.startsWith("https:") ? this.tlsAgent : this.agent };
  }

  private forward(start: () => void): void {
    try {
      start();
    } catch (error) {
      publish("switchyard:owner:forward", { outcome: "failed" });
      throw error;
    }
    publish("switchyard:owner:forward", { outcome: "forwarded" });
  }

  close(): void {
    this.proxy.close();
    this.agent.destroy();
    this.tlsAgent.destroy();
  }
}
