/** The state machines, as the admin API shows them (`/admin/api/rcp/…`): read only. */
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { StateMachineEngine } from "../../sm/engine.ts";
import { SmError, SmErrorCode } from "../../sm/errors.ts";
import { MAX_LIST_LIMIT } from "../../sm/params.ts";
import type { AdminRoute } from "../door.ts";
import { adminJson } from "../admin-list.ts";

/** The engine's refusals in the admin API's terms. */
async function answer(result: Promise<unknown> | unknown): Promise<Response> {
  try {
    return adminJson(200, await result);
  } catch (e) {
    if (!(e instanceof SmError)) throw e;
    const code = e.code === SmErrorCode.BadRequest
      ? ErrorCode.BadRequest
      : /NOT_FOUND$/.test(e.code)
      ? ErrorCode.NotFound
      : ErrorCode.Unavailable;
    throw new CatbusError(code, e.message);
  }
}

const whole = (url: URL, name: string, fallback: number, max: number) => {
  const raw = url.searchParams.get(name);
  const n = raw === null ? fallback : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new CatbusError(ErrorCode.BadRequest, `?${name}= must be a whole number up to ${max}`);
  }
  return n;
};

export function smAdminRoutes(engine: StateMachineEngine): AdminRoute[] {
  return [
    ["GET", /^\/machines$/, () => answer(engine.listMachines())],
    [
      "GET",
      /^\/machines\/([^/]+)\/(\d+)$/,
      (_r, _u, [machine, version]) =>
        answer(engine.getMachine({ machine, version: Number(version) })),
    ],
    ["GET", /^\/instances$/, (_r, url) =>
      answer(engine.listInstances({
        ...(url.searchParams.get("machine") ? { machine: url.searchParams.get("machine")! } : {}),
        ...(url.searchParams.get("state") ? { state: url.searchParams.get("state")! } : {}),
        offset: whole(url, "offset", 0, Number.MAX_SAFE_INTEGER),
        limit: whole(url, "limit", 50, MAX_LIST_LIMIT) || 50,
      }))],
    [
      "GET",
      /^\/instances\/([^/]+)$/,
      (_r, _u, [id]) => answer(engine.getInstance({ instance_id: id })),
    ],
  ];
}
