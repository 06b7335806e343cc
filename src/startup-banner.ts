/**
 * What `npm start` tells a person at start-up (on stderr; the logs stay JSON on stdout). In the demo (no
 * LEGACY_URL and no HUB_URL: the sample backends run), the gateway gets an admin token (ADMIN_TOKEN, or one
 * generated for this run) and saves it with the admin URL as the CLI's context "local", as minikube or kind
 * configure kubectl for the cluster they start, so that the commands printed here work as printed.
 */
import { randomBytes } from "node:crypto";
import { cliConfigPath, DEMO_CONTEXT, displayPath, saveContext } from "./cli/cli-config.js";
import type { RoutingConfig } from "./config/routing-config.js";
import { BUCKETS, routingHash } from "./routing/hash.js";

/** A token for a demo run without ADMIN_TOKEN: 32 hex characters (ADMIN_TOKEN needs 16 or more). */
export function generateDemoToken(): string {
  return randomBytes(16).toString("hex");
}

/** Saves the demo gateway as the CLI's current context; the file's path, or the reason it could not be written. */
export function saveDemoContext(opsUrl: string, token: string): { path: string } | { error: string } {
  const path = cliConfigPath();
  try {
    saveContext(path, DEMO_CONTEXT, { url: opsUrl, token });
    return { path };
  } catch (error) {
    return { error: `cannot write ${path}: ${(error as Error).message}` };
  }
}

export interface BannerInfo {
  readonly url: string;
  readonly opsUrl: string;
  readonly legacyUrl: string;
  readonly hubUrl: string | undefined;
  readonly store: string;
  readonly routing: RoutingConfig;
  /** The demo's saved context, or why it could not be saved (then the banner prints the login command). */
  readonly demo?: { readonly saved: { path: string } | { error: string }; readonly token: string };
  readonly adminEnabled: boolean;
}

const USERS = ["alice", "carol"] as const;

/** True when, at 50 %, alice goes to the hub and carol to legacy under this document's salt (the README's demo). */
function usersSplit(routing: RoutingConfig): boolean {
  const bucket = (user: string) => routingHash(routing.key.salt, user) % BUCKETS;
  return bucket(USERS[0]) < BUCKETS / 2 && bucket(USERS[1]) >= BUCKETS / 2;
}

export function startupBanner(info: BannerInfo): string {
  const lines = [""];
  const routing = `Routing: ${info.routing.hubPercent}% of users on the hub (${info.store} store).`;
  if (info.demo !== undefined) {
    lines.push(
      "  Switchyard is up, in front of the sample legacy chat and the sample hub.",
      "",
      "  Open the chat through the gateway, as two users:",
      ...USERS.map((user) => `    ${info.url}/?user=${user}`),
      `  ${routing}${usersSplit(info.routing) ? " At 50%, alice is on the hub and carol on legacy." : ""}`,
      "",
    );
    const { saved } = info.demo;
    if ("path" in saved) lines.push(`  The CLI talks to this gateway (context "${DEMO_CONTEXT}" saved in ${displayPath(saved.path)}):`);
    else
      lines.push(
        `  The CLI's context could not be saved (${saved.error}); run this once:`,
        `    npx switchyard login --url ${info.opsUrl} --token ${info.demo.token}`,
      );
    lines.push("    npx switchyard status", "    npx switchyard split 50");
  } else {
    lines.push(`  Switchyard is up: ${info.url}/`, `  ${routing}`, "");
    lines.push(
      info.adminEnabled
        ? `  CLI (once, in a shell where ADMIN_TOKEN is set): npx switchyard login --url ${info.opsUrl} --token "$ADMIN_TOKEN"`
        : "  Admin changes are disabled: start with ADMIN_TOKEN (16+ characters) to allow them.",
      `    npx switchyard status --url ${info.opsUrl}`,
    );
  }
  lines.push(
    "",
    `  Metrics: ${info.opsUrl}/metrics   Health: ${info.opsUrl}/readyz`,
    `  Legacy server: ${info.legacyUrl}   Hub: ${info.hubUrl ?? "none"}`,
    "  Stop with Ctrl-C (open sessions are drained first).",
    "",
    "",
  );
  return lines.join("\n");
}

export interface Announcement extends Omit<BannerInfo, "demo" | "adminEnabled"> {
  /** The demo (both sample backends): the CLI context is saved, the banner always printed. */
  readonly demo: boolean;
  readonly adminToken: string | undefined;
}

/** Prints the banner on a terminal or in the demo, after saving the demo's CLI context. */
export function announce(info: Announcement, warn: (reason: string) => void): void {
  if (!process.stdout.isTTY && !info.demo) return;
  const { demo, adminToken, ...rest } = info;
  const saved = demo && adminToken !== undefined ? saveDemoContext(info.opsUrl, adminToken) : undefined;
  if (saved !== undefined && "error" in saved) warn(saved.error);
  process.stderr.write(
    startupBanner({
      ...rest,
      adminEnabled: adminToken !== undefined,
      ...(saved !== undefined && adminToken !== undefined ? { demo: { saved, token: adminToken } } : {}),
    }),
  );
}
