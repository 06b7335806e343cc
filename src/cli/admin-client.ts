/**
 * The CLI's client of the admin API: one method per call, and every failure turned into a CliError
 * with a sentence an operator can act on and a distinct exit code.
 */

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  unauthorized: 4,
  conflict: 5,
  invalid: 6,
  unavailable: 7,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly status?: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

interface ErrorBody {
  code?: string;
  message?: string;
  problems?: string[];
  currentVersion?: number;
}

export interface AdminResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly etag: string | undefined;
}

const REQUEST_TIMEOUT_MS = 10_000;

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  switch (cause?.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host";
    case "ECONNRESET":
      return "the connection was reset";
    case "ETIMEDOUT":
      return "the connection timed out";
    default:
      return cause?.message ?? (error as Error).message;
  }
}

export class AdminClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
    /** How the user runs the CLI ("npx switchyard"), for the hints in messages. */
    private readonly program = "npx switchyard",
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  private requireToken(): string {
    if (this.token === undefined || this.token === "") {
      throw new CliError(
        `this command needs the admin token: pass --token or set SWITCHYARD_TOKEN ` +
          `(the gateway's ADMIN_TOKEN), or save it once with \`${this.program} login\``,
        EXIT.unauthorized,
      );
    }
    return this.token;
  }

  /** A plain-text read (/metrics), or undefined when it cannot be had: callers show less, never fail for it. */
  async text(path: string): Promise<string | undefined> {
    try {
      const response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  }

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; ifMatch?: number; auth?: boolean; contentType?: string } = {},
  ): Promise<AdminResponse<T>> {
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "switchyard-cli" };
    if (options.auth === true) headers.authorization = `Bearer ${this.requireToken()}`;
    if (options.ifMatch !== undefined) headers["if-match"] = String(options.ifMatch);
    if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach the admin API at ${this.baseUrl} (${networkReason(error)}); check --url or SWITCHYARD_URL (the gateway's OPS_PORT)`,
        EXIT.unreachable,
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(
        `${this.baseUrl}${path} answered ${response.status} with something that is not JSON; is --url the gateway's ops port?`,
        EXIT.failed,
        response.status,
      );
    }
    if (!response.ok) throw this.errorFor(response.status, (body ?? {}) as ErrorBody);
    return { status: response.status, body: body as T, etag: response.headers.get("etag") ?? undefined };
  }

  private errorFor(status: number, body: ErrorBody): CliError {
    const code = body.code === undefined ? "" : ` (${body.code})`;
    const reason = body.message ?? `HTTP ${status}`;
    switch (status) {
      case 401:
        return new CliError(
          `the token was refused${code}: check --token or SWITCHYARD_TOKEN against the gateway's ADMIN_TOKEN`,
          EXIT.unauthorized,
          status,
        );
      case 403:
        return new CliError(`admin changes are disabled on this gateway${code}: ${reason}`, EXIT.unauthorized, status);
      case 409:
        if (body.code?.startsWith("SWY_ERR_ROLLOUT") === true) return new CliError(`${reason}${code}`, EXIT.conflict, status);
        return new CliError(`the routing config was changed by someone else meanwhile${code}: ${reason}`, EXIT.conflict, status);
      case 400:
        return new CliError(
          `the gateway refused the request${code}:\n${(body.problems ?? [reason]).map((p) => `  - ${p}`).join("\n")}`,
          EXIT.invalid,
          status,
        );
      case 503:
        return new CliError(`the routing store is unavailable${code}: ${reason}; nothing was changed`, EXIT.unavailable, status);
      case 404:
        return new CliError(`${this.baseUrl} has no admin API${code}; is --url the gateway's ops port?`, EXIT.failed, status);
      default:
        return new CliError(`the admin API answered ${status}${code}: ${reason}`, EXIT.failed, status);
    }
  }
}
