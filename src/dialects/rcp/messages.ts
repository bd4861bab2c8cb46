import { exceedsJsonDepth, jsonTooDeep } from "../../core/json-depth.ts";
import type { Change } from "../../sm/change.ts";
import type { SmErrorBody } from "../../sm/errors.ts";

/** The JSON messages of RCP (requests in, responses and events out). */
export interface RcpRequest {
  id: string | number;
  op: string;
  params?: unknown;
}

export const okResponse = (id: RcpRequest["id"], result: unknown) => ({
  type: "response",
  id,
  status: "ok",
  result,
});

export const errorResponse = (id: RcpRequest["id"], error: SmErrorBody) => ({
  type: "response",
  id,
  status: "error",
  error,
});

export const eventMessage = (subscriptionId: string, c: Change, includeCtx: boolean) => ({
  type: "event",
  subscription_id: subscriptionId,
  kind: c.kind,
  instance_id: c.instanceId,
  machine: c.machine,
  version: c.version,
  wal_offset: c.walOffset,
  from_state: c.fromState,
  to_state: c.toState,
  event: c.event,
  payload: c.payload,
  ...(includeCtx ? { ctx: c.ctx } : {}),
});

/**
 * The last message of a subscription that fell behind (sent with END_STREAM). Its type is
 * `end`, which rstmdb's JS client reads as the end of that subscription and its other clients
 * skip; an `event` without an instance would break their event parsers.
 */
export const endMessage = (subscriptionId: string, resumeFromOffset: number) => {
  const message =
    `this watcher fell behind and was ended; events from wal_offset ${resumeFromOffset} ` +
    `were not delivered: watch again with from_offset ${resumeFromOffset} to resume`;
  return {
    type: "end",
    subscription_id: subscriptionId,
    reason: message,
    lost: true,
    resume_from_offset: resumeFromOffset,
    error: {
      code: "RATE_LIMITED",
      message,
      retryable: true,
      details: { resume_from_offset: resumeFromOffset },
    },
  };
};

/** Parses one request; failures say what is wrong and carry the id when it could be read. */
export function parseRequest(
  text: string,
  maxJsonDepth: number,
): { request: RcpRequest } | { error: string; id: RcpRequest["id"] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `payload is not valid JSON (${(e as Error).message})`, id: "" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: "a request must be a JSON object {type, id, op, params}", id: "" };
  }
  const { type, id, op, params } = value as Record<string, unknown>;
  const knownId = typeof id === "string" || typeof id === "number" ? id : "";
  if (type !== undefined && type !== "request") {
    return {
      error: `message type ${JSON.stringify(type)} cannot be sent to the server; send "request"`,
      id: knownId,
    };
  }
  if (knownId === "") return { error: "a request needs an id (string)", id: "" };
  // Refused before the engine sees it: its canonical JSON and WAL encoding recurse per level.
  // (JSON.parse itself does not.)
  if (exceedsJsonDepth(text, maxJsonDepth)) {
    return { error: jsonTooDeep("the request", maxJsonDepth), id: knownId };
  }
  if (typeof op !== "string") return { error: "a request needs an op (string)", id: knownId };
  return { request: { id: knownId, op, params } };
}
