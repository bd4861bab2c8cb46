import { base64url, constantTimeEqual, randomBytes } from "../../auth/crypto.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";

/** The console's session cookie. */
export const SESSION_COOKIE = "catbus_console";
/** The header every state-changing console request carries: the session's CSRF token. */
export const CSRF_HEADER = "x-catbus-csrf";

/** Console sessions at once; past it the oldest is logged out. */
const MAX_SESSIONS = 64;
/** Failed logins allowed per client address per minute; then logins answer 429. */
const MAX_FAILED_LOGINS = 10;
const FAILURE_WINDOW_MS = 60_000;

interface ConsoleSession {
  csrf: string;
  expiresAt: number;
}

/** How a request to the admin API proved it is the administrator. */
export type AdminCaller = "bearer" | "console";

const unauthorized = () =>
  new CatbusError(
    ErrorCode.Unauthorized,
    "log in to the console with the admin key, or send Authorization: Bearer <admin key>",
  );

const cookieOf = (request: Request, name: string): string | undefined => {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
};

/**
 * Who may use the admin API. Either the admin key itself as a bearer token (the CLI, scripts:
 * no cookie, so nothing a browser sends on its own), or a console session: the key, given once
 * at login, is exchanged for a random session id in an HttpOnly, SameSite=Strict cookie that
 * lasts `--console-session`. A session's requests that change anything also carry its CSRF
 * token in a header (a page on another site can neither read the token nor set the header), and
 * a request whose Origin is another site is refused outright.
 */
export class ConsoleAuth {
  readonly #adminKey: string;
  readonly #ttlMs: number;
  readonly #secure: boolean;
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #failures = new Map<string, { count: number; since: number }>();

  constructor(options: { adminKey: string; sessionMs: number; secure: boolean }) {
    this.#adminKey = options.adminKey;
    this.#ttlMs = options.sessionMs;
    this.#secure = options.secure;
  }

  /** Exchanges the admin key for a session: the Set-Cookie header and the CSRF token. */
  async login(
    key: unknown,
    client: string,
  ): Promise<{ cookie: string; csrf: string; expiresAt: number }> {
    const now = Date.now();
    const failed = this.#failures.get(client);
    if (failed && now - failed.since < FAILURE_WINDOW_MS && failed.count >= MAX_FAILED_LOGINS) {
      throw new CatbusError(
        ErrorCode.LimitExceeded,
        `more than ${MAX_FAILED_LOGINS} failed logins from this address in a minute; wait a minute`,
      );
    }
    if (typeof key !== "string" || !await constantTimeEqual(key, this.#adminKey)) {
      const current = failed && now - failed.since < FAILURE_WINDOW_MS
        ? failed
        : { count: 0, since: now };
      current.count++;
      this.#failures.set(client, current);
      if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
      throw new CatbusError(ErrorCode.Unauthorized, "wrong admin key");
    }
    this.#failures.delete(client);
    this.#sweep(now);
    while (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const id = base64url(randomBytes(32));
    const session = { csrf: base64url(randomBytes(24)), expiresAt: now + this.#ttlMs };
    this.#sessions.set(id, session);
    return { cookie: this.#cookie(id, this.#ttlMs), ...session };
  }

  /** Ends the request's session (if any): the cookie that clears it. */
  logout(request: Request): string {
    const id = cookieOf(request, SESSION_COOKIE);
    if (id) this.#sessions.delete(id);
    return this.#cookie("", 0);
  }

  /** The request's live session, or undefined. */
  session(request: Request): ConsoleSession | undefined {
    const id = cookieOf(request, SESSION_COOKIE);
    const session = id ? this.#sessions.get(id) : undefined;
    if (!session) return undefined;
    if (session.expiresAt <= Date.now()) {
      this.#sessions.delete(id!);
      return undefined;
    }
    return session;
  }

  /**
   * Throws unless the request may use the admin API: the admin key as a bearer token, or a
   * session cookie (with its CSRF header when the method changes something) from this origin.
   */
  async authorize(request: Request): Promise<AdminCaller> {
    this.authorizeOrigin(request);
    const bearer = request.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (bearer !== undefined) {
      if (await constantTimeEqual(bearer, this.#adminKey)) return "bearer";
      throw new CatbusError(ErrorCode.Unauthorized, "wrong admin key");
    }
    const session = this.session(request);
    if (!session) throw unauthorized();
    if (request.method !== "GET" && request.method !== "HEAD") {
      const csrf = request.headers.get(CSRF_HEADER);
      if (csrf === null || !await constantTimeEqual(csrf, session.csrf)) {
        throw new CatbusError(
          ErrorCode.Forbidden,
          `missing or wrong ${CSRF_HEADER} header: send the token GET /admin/api/session gives`,
        );
      }
    }
    return "console";
  }

  /** Refuses a request a page of another origin sent (browsers name it in Origin). */
  authorizeOrigin(request: Request): void {
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== new URL(request.url).origin) {
      throw new CatbusError(
        ErrorCode.Forbidden,
        `requests from ${origin} are refused: the admin API answers its own origin only`,
      );
    }
  }

  #cookie(value: string, maxAgeMs: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/admin/api; HttpOnly; SameSite=Strict; Max-Age=${
      Math.floor(maxAgeMs / 1000)
    }${this.#secure ? "; Secure" : ""}`;
  }

  #sweep(now: number) {
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}
