import type { Principal } from "../auth/grants.ts";
import type { Broker } from "../core/broker.ts";
import { channelHistory, type HistoryPage } from "../core/channel-history.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { HistoryMeta } from "../../client/shared/messages.ts";
import { literalNamespaceOf } from "../../client/shared/subject.ts";
import { authorizeSubscribe } from "./subscribe.ts";

export interface HistoryLimits {
  /** Messages per page at most, and the page size when none is asked. */
  maxHistoryLimit: number;
  /** Sequences one page looks at, at most. */
  maxHistoryScan: number;
}

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/**
 * A page of a channel's history for `principal`: granted as a subscribe is (read on the
 * channel or pattern), within one namespace, at most `maxHistoryLimit` messages.
 */
export async function readHistory(
  broker: Broker,
  principal: Principal,
  meta: HistoryMeta,
  limits: HistoryLimits,
): Promise<HistoryPage & { epoch: string }> {
  const { channel, limit = limits.maxHistoryLimit, before } = meta;
  authorizeSubscribe(principal, channel);
  const name = literalNamespaceOf(channel);
  if (name === undefined) {
    throw bad(
      `history reads one namespace: "${channel}" must start with a namespace name`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.maxHistoryLimit) {
    throw new CatbusError(
      ErrorCode.LimitExceeded,
      `history limit must be 1 to ${limits.maxHistoryLimit} (--max-history-limit); page with before`,
    );
  }
  if (before !== undefined && (!Number.isInteger(before) || before < 1)) {
    throw bad("before must be a message's seq (an integer from 1)");
  }
  const ns = broker.namespace(name);
  if (!ns) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `namespace "${name}" does not exist`,
    );
  }
  const page = await channelHistory(ns, {
    pattern: channel,
    limit,
    before,
    maxScan: limits.maxHistoryScan,
  });
  return { ...page, epoch: ns.epoch };
}
