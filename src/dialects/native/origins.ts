import { wholeResponse, withResponseHeaders } from "../../transport/http-response.ts";
/**
 * Which pages may use the HTTP listener from another origin (`--allowed-origins`; `*` = any).
 * Tokens travel in frames, never in cookies, so this is about which sites may embed the bus: an
 * origin outside the list gets no CORS headers, and its WebSocket and SSE requests are refused.
 * Requests without an `Origin` (servers, CLIs) and same-origin pages are always served.
 */
export class OriginPolicy {
  readonly #any: boolean;
  readonly #allowed: Set<string>;

  constructor(allowed: readonly string[]) {
    this.#any = allowed.includes("*");
    this.#allowed = new Set(allowed.map((o) => o.replace(/\/+$/, "")));
  }

  /** Whether the request's page may use this listener. */
  allows(request: Request): boolean {
    const origin = request.headers.get("origin");
    return origin === null || this.#any || this.#allowed.has(origin) ||
      origin === new URL(request.url).origin;
  }

  /** The CORS headers for a response to this request (none for an origin not allowed). */
  headers(request: Request): Record<string, string> {
    const origin = request.headers.get("origin");
    if (this.#any) return { "access-control-allow-origin": "*" };
    if (origin === null || !this.allows(request)) return {};
    return { "access-control-allow-origin": origin, vary: "origin" };
  }

  /** The answer to a preflight `OPTIONS` (SSE + POST sends its session secret in a header). */
  preflight(request: Request, allowHeaders: string): Response {
    if (!this.allows(request)) return this.refusal(request);
    return wholeResponse(null, {
      status: 204,
      headers: {
        ...this.headers(request),
        "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": "86400",
      },
    });
  }

  refusal(request: Request): Response {
    return wholeResponse(
      JSON.stringify({
        code: "forbidden",
        message: `origin ${request.headers.get("origin")} is not in --allowed-origins`,
      }) + "\n",
      { status: 403, headers: { "content-type": "application/json" } },
    );
  }
}

/** The same response with `headers` added (a streaming body stays a stream). */
export function withHeaders(response: Response, headers: Record<string, string>): Response {
  if (Object.keys(headers).length === 0) return response;
  const merged = new Headers(response.headers);
  for (const [name, value] of Object.entries(headers)) merged.set(name, value);
  return withResponseHeaders(response, merged);
}
