/**
 * What every admin route shares, the server's and the doors' (`RunningDoor.adminRoutes`): JSON
 * answers, and lists paged and filtered on the server (docs/admin-api.md, "Lists").
 */
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { wholeResponse } from "../transport/http-response.ts";

export const adminJson = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  wholeResponse(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });

/** The largest page a list answers. */
export const MAX_LIMIT = 500;

/** `?offset=&limit=` (default 0 and 50; at most 500). */
export function paging(url: URL): { offset: number; limit: number } {
  const number = (name: string, fallback: number, max = Infinity) => {
    const raw = url.searchParams.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `?${name}= must be a whole number from 0 to ${max}`,
      );
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

/** The text filter `?q=`: true when `text` contains it (any case), or when none is given. */
export const matchesQuery = (url: URL, ...texts: (string | null | undefined)[]): boolean => {
  const q = url.searchParams.get("q")?.toLowerCase();
  return !q || texts.some((t) => t?.toLowerCase().includes(q));
};
