/** Where a reader starts: a subscribe's `resume` positions and `from`, checked from the wire. */
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Position, StartFrom, SubscribeMeta } from "../../client/shared/messages.ts";

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

function parsePosition(ns: string, value: unknown): Position {
  const p = value as Position;
  if (
    !p || typeof p !== "object" || typeof p.epoch !== "string" ||
    !Number.isSafeInteger(p.seq) ||
    p.seq < 0
  ) {
    throw bad(
      `resume position for "${ns}" must be {"epoch": string, "seq": integer ≥ 0}`,
    );
  }
  return { epoch: p.epoch, seq: p.seq };
}

function parseFrom(value: unknown): StartFrom | undefined {
  if (value === undefined) return undefined;
  if (value === "new" || value === "last" || value === "first") return value;
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (Number.isSafeInteger(v.seq) && (v.seq as number) >= 1) {
      return { seq: v.seq as number };
    }
    if (Number.isFinite(v.time)) return { time: v.time as number };
    if (typeof v.id === "string" && /^[0-9A-HJKMNP-TV-Z]{10}/.test(v.id)) return { id: v.id };
  }
  throw bad(
    `"from" must be "new", "last", "first", {"seq": n ≥ 1}, {"time": ms} or {"id": message id}`,
  );
}

/** Validates a subscribe's start options. */
export function parseStart(
  meta: SubscribeMeta,
): Pick<SubscribeMeta, "resume" | "from"> {
  const out: Pick<SubscribeMeta, "resume" | "from"> = {
    from: parseFrom(meta.from),
  };
  if (meta.resume !== undefined) {
    if (
      !meta.resume || typeof meta.resume !== "object" ||
      Array.isArray(meta.resume)
    ) {
      throw bad(`"resume" must map namespaces to {"epoch", "seq"}`);
    }
    out.resume = {};
    for (const [ns, p] of Object.entries(meta.resume)) {
      out.resume[ns] = parsePosition(ns, p);
    }
  }
  return out;
}
