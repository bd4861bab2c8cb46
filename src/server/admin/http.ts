/** What every admin API handler shares: JSON answers, errors as statuses, paging, bodies. */
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { readBody } from "../../transport/http-body.ts";
import { HTTP_STATUS } from "../../dialects/http-status.ts";
import { wholeResponse } from "../../transport/http-response.ts";

/** A request through the publish tool that nobody answers is the service's absence: 503. */
const STATUS: Record<string, number> = { ...HTTP_STATUS, [ErrorCode.NoResponders]: 503 };

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  wholeResponse(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });

/** A refusal as `{code, message}` with its status; anything else is an internal error. */
export function errorResponse(e: unknown): Response {
  if (isCatbusError(e)) {
    return json(STATUS[e.code] ?? 500, { code: e.code, message: e.clientMessage });
  }
  return json(500, { code: ErrorCode.Internal, message: "internal error; see the server log" });
}

export const badRequest = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/** The largest page a list answers. */
export const MAX_LIMIT = 500;

/** `?offset=&limit=` (default 0 and 50; at most 500). */
export function paging(url: URL): { offset: number; limit: number } {
  const number = (name: string, fallback: number, max = Infinity) => {
    const raw = url.searchParams.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) {
      throw badRequest(`?${name}= must be a whole number from 0 to ${max}`);
    }
    return n;
  };
  return { offset: number("offset", 0), limit: number("limit", 50, MAX_LIMIT) || 50 };
}

/** One page of `items`, and how many there are in all. */
export function page<T>(items: T[], url: URL) {
  const { offset, limit } = paging(url);
  return { items: items.slice(offset, offset + limit), total: items.length, offset, limit };
}

/** A JSON object body, at most `maxBytes`. */
export async function jsonBody(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  if (!request.headers.get("content-type")?.startsWith("application/json")) {
    throw badRequest("send the body as JSON (content-type: application/json)");
  }
  const text = new TextDecoder().decode(await readBody(request, maxBytes));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest("the body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest("the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** The text filter `?q=`: true when `text` contains it (any case), or when none is given. */
export const matchesQuery = (url: URL, ...texts: (string | undefined)[]): boolean => {
  const q = url.searchParams.get("q")?.toLowerCase();
  return !q || texts.some((t) => t?.toLowerCase().includes(q));
};
