/** What every admin API handler shares: JSON answers, errors as statuses, paging, bodies. */
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { readBody } from "../../transport/http-body.ts";
import { HTTP_STATUS } from "../../dialects/http-status.ts";
import { adminJson, matchesQuery, page, paging } from "../../dialects/admin-list.ts";

/** A request through the publish tool that nobody answers is the service's absence: 503. */
const STATUS: Record<string, number> = { ...HTTP_STATUS, [ErrorCode.NoResponders]: 503 };

export const json = adminJson;
export { matchesQuery, page, paging };

/** A refusal as `{code, message}` with its status; anything else is an internal error. */
export function errorResponse(e: unknown): Response {
  if (isCatbusError(e)) {
    return json(STATUS[e.code] ?? 500, { code: e.code, message: e.clientMessage });
  }
  return json(500, { code: ErrorCode.Internal, message: "internal error; see the server log" });
}

export const badRequest = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

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
