/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core (no downloaded
 * browsers). Launching is bounded so that a missing or broken browser fails the test with a message that
 * says what to do, instead of hanging it; page helpers wait on DOM conditions and, on timeout, say what
 * they were waiting for and what the page logged.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * The machine has no internet: everything Chromium would fetch on its own (component updates, sync,
 * field trials, QUIC probes) only produces refused connections and noise, so it is switched off.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const DEFAULT_LAUNCH_TIMEOUT_MS = 20_000;

export interface LaunchOptions {
  readonly executablePath?: string;
  readonly timeoutMs?: number;
}

/** Launches headless Chromium, or rejects within `timeoutMs` with an actionable message. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? CHROMIUM_PATH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS;
  const advice = `Install Debian's "chromium" package or point CHROMIUM_PATH at a Chromium binary.`;
  try {
    await access(executablePath, constants.X_OK);
  } catch {
    throw new Error(`Chromium is not an executable file at ${executablePath}. ${advice}`);
  }
  const launching = chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], timeout: timeoutMs });
  // Playwright's own timeout covers the launch handshake; this guard also covers anything before it,
  // and closes a browser that shows up after we gave up on it so that no process outlives the test.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs + 5_000} ms`)), timeoutMs + 5_000);
  });
  try {
    return await Promise.race([launching, deadline]);
  } catch (error) {
    void launching.then(
      (late) => late.close(),
      () => {},
    );
    throw new Error(
      `Cannot start headless Chromium (${executablePath}) within ${timeoutMs} ms: ${firstLine(error).replace(/\.+$/, "")}. ${advice}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** What a page did and reported: for assertions (which transports it used) and for failure messages. */
export interface PageLog {
  /** Uncaught exceptions. */
  readonly errors: string[];
  /** The last console lines, "type: text". */
  readonly console: string[];
  /** URLs of the page's HTTP requests (long-polling included), oldest first. */
  readonly requests: string[];
  /** URLs of the WebSockets the page opened. */
  readonly websockets: string[];
}

export interface TestPage {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly log: PageLog;
  /** A label for messages ("alice"). */
  readonly label: string;
}

const CONSOLE_LINES_KEPT = 50;

/**
 * Opens a page in a context of its own, so that pages do not share cookies or storage (two users, not
 * two tabs of one). Every wait on the page defaults to `timeoutMs`.
 */
export async function openPage(browser: Browser, label: string, timeoutMs = 10_000): Promise<TestPage> {
  const context = await browser.newContext();
  context.setDefaultTimeout(timeoutMs);
  const page = await context.newPage();
  const log: PageLog = { errors: [], console: [], requests: [], websockets: [] };
  page.on("pageerror", (error) => log.errors.push(error.message));
  page.on("console", (message) => {
    log.console.push(`${message.type()}: ${message.text()}`);
    if (log.console.length > CONSOLE_LINES_KEPT) log.console.shift();
  });
  page.on("request", (request) => log.requests.push(request.url()));
  page.on("websocket", (socket) => log.websockets.push(socket.url()));
  return { context, page, log, label };
}

/**
 * Waits until `expression` (evaluated in the page, where the page's own globals are in scope) is truthy;
 * on timeout, rejects with `what` and the page's log instead of Playwright's bare "Timeout exceeded".
 * Expressions are strings because the page's globals (`socket`, `document`) are not Node types.
 */
export async function waitInPage(target: TestPage, what: string, expression: string): Promise<void> {
  try {
    await target.page.waitForFunction(expression, undefined, { polling: 50 });
  } catch (error) {
    throw new Error(`${target.label}: gave up waiting for ${what} (${firstLine(error)})${describeLog(target.log)}`, { cause: error });
  }
}

/** The page's log, formatted to append to a failure message. */
export function describeLog(log: PageLog): string {
  const errors = log.errors.length > 0 ? `\n  page errors: ${log.errors.join(" | ")}` : "";
  const lines = log.console.length > 0 ? `\n  console: ${log.console.slice(-10).join(" | ")}` : "";
  return errors + lines;
}

function firstLine(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.message) : String(error);
}
