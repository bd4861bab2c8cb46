import type { BusMessage } from "../../core/message.ts";
import { channelOf, PULSAR_NAMESPACE } from "./access.ts";
import type { PulsarContext } from "./context.ts";
import { badRequest, jsonText } from "./http.ts";
import { listItem, messageIdOf, seqOfId } from "./message.ts";
import type { TopicRecord } from "./store.ts";
import type { WholeAnswer } from "../../transport/http-response.ts";

/**
 * A topic's messages in this life of the topic, from sequence `from` on, oldest first; `keep`
 * says when to stop (the reader stops at the first false).
 */
export async function readTopic(
  ctx: PulsarContext,
  topic: TopicRecord,
  from: number,
  keep: (m: BusMessage) => boolean,
): Promise<void> {
  const ns = ctx.services.broker.namespace(PULSAR_NAMESPACE);
  if (!ns) return;
  const channel = channelOf(topic.topic_name);
  for await (const batch of ctx.services.broker.read(ns, Math.max(from, topic.first_seq))) {
    for (const m of batch) if (m.channel === channel && !keep(m)) return;
  }
}

/**
 * `GET /api/v1/topics/{name}/messages`: a page of `limit` messages, `asc` after the cursor or
 * `desc` before it (newest first). A descending page reads the topic from its start up to the
 * cursor, keeping the newest `limit`.
 */
export async function history(
  ctx: PulsarContext,
  topic: TopicRecord,
  query: { order: "asc" | "desc"; limit: number; cursor: string | null },
): Promise<WholeAnswer> {
  const { order, limit, cursor } = query;
  const cursorSeq = cursor === null ? undefined : seqOfId(cursor);
  if (cursor !== null && cursorSeq === undefined) {
    throw badRequest(`cursor must be a message_id such as 1700000000000-42, got '${cursor}'`);
  }
  let page: BusMessage[] = [];
  if (order === "asc") {
    await readTopic(ctx, topic, (cursorSeq ?? 0) + 1, (m) => page.push(m) < limit);
  } else {
    await readTopic(ctx, topic, 0, (m) => {
      if (cursorSeq !== undefined && m.seq >= cursorSeq) return false;
      page.push(m);
      if (page.length > limit) page.shift();
      return true;
    });
    page = page.reverse();
  }
  const next = page.length ? messageIdOf(page[page.length - 1]) : null;
  const body =
    `{"messages":[${page.map(listItem).join(",")}],"total":${page.length},"limit":${limit},` +
    `"order":"${order}","cursor":${JSON.stringify(cursor)},"next_cursor":${JSON.stringify(next)}}`;
  return jsonText(200, body);
}
