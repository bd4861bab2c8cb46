import type { Principal } from "../../auth/grants.ts";
import type { Broker, Published, PublishInput } from "../../core/broker.ts";
import type { ReplyHolder } from "../../core/replies.ts";
import { CatbusError, ErrorCode } from "../../core/errors.ts";
import { exceedsJsonDepth, jsonTooDeep } from "../../core/json-depth.ts";
import { namespaceOf, parseChannel } from "../../core/subject.ts";
import { decodeValidUtf8 } from "../../core/utf8.ts";
import { checkPublish, checkReplyTo, openNamespace } from "../../protocol/publish-access.ts";
import { KEY_HEADER, REPLY_HEADER, TRACE_HEADER } from "./event.ts";

const encoder = new TextEncoder();
const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/** One event of a POST, checked and ready for the broker. */
type BusItem = PublishInput & { subject: string };

export interface BusPublishContext {
  broker: Broker;
  principal: Principal;
  replies: ReplyHolder;
  maxPayload: number;
  checkNamespace(name: string): Promise<void>;
}

/** Bus's dedupe key is per subject; the broker's is per namespace, so the subject goes in it. */
const dedupeKey = (subject: string, key: string) => `bus\n${subject}\n${key}`;

function optionalString(item: Record<string, unknown>, field: string, max: number) {
  const v = item[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || v.length > max) {
    throw bad(`"${field}" must be a string of at most ${max} characters`);
  }
  return v;
}

function parseItem(value: unknown, where: string, maxPayload: number): BusItem {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw bad(`${where}: an event is a JSON object with "subject" and "payload"`);
  }
  const item = value as Record<string, unknown>;
  if (typeof item.subject !== "string" || item.subject === "") {
    throw bad(`${where}: "subject" is required (e.g. "orders.created")`);
  }
  parseChannel(item.subject);
  const traceId = optionalString(item, "trace_id", 256);
  const key = optionalString(item, "key", 256);
  const replyTo = optionalString(item, "response_subject", 255);
  if (replyTo) parseChannel(replyTo);
  const payload = encoder.encode(JSON.stringify(item.payload ?? null));
  if (payload.length > maxPayload) {
    throw new CatbusError(
      ErrorCode.TooLarge,
      `${where}: payload of ${payload.length} bytes exceeds the limit of ${maxPayload}`,
    );
  }
  const headers: Record<string, string> = {};
  if (traceId) headers[TRACE_HEADER] = traceId;
  if (key) headers[KEY_HEADER] = key;
  if (replyTo) headers[REPLY_HEADER] = replyTo;
  return {
    subject: item.subject,
    channel: item.subject,
    payload,
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(key ? { key: dedupeKey(item.subject, key) } : {}),
  };
}

/** A POST body: one event or a batch (array); every item is checked before anything is stored. */
export function parsePublishBody(
  body: Uint8Array,
  limits: { maxPayload: number; maxJsonDepth: number },
): { items: BusItem[]; batch: boolean } {
  const { maxPayload, maxJsonDepth } = limits;
  const text = decodeValidUtf8(body);
  if (text === undefined) throw bad("the body is not valid UTF-8; send UTF-8 JSON");
  if (exceedsJsonDepth(body, maxJsonDepth)) throw bad(jsonTooDeep("the body", maxJsonDepth));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(`the body is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) {
    return { items: [parseItem(value, "event", maxPayload)], batch: false };
  }
  if (value.length === 0) throw bad("an empty batch publishes nothing; send at least one event");
  const items = value.map((v, i) => {
    try {
      return parseItem(v, `event ${i}`, maxPayload);
    } catch (e) {
      // Say which item of the batch is wrong.
      if (e instanceof CatbusError && !e.message.startsWith("event ")) {
        throw new CatbusError(e.code, `event ${i}: ${e.message}`);
      }
      throw e;
    }
  });
  const ns = namespaceOf(items[0].subject);
  for (const [i, item] of items.entries()) {
    if (namespaceOf(item.subject) !== ns) {
      throw bad(`event ${i}: a batch stays in one namespace ("${ns}"), got "${item.subject}"`);
    }
    if (item.headers?.[REPLY_HEADER]) {
      throw bad(`event ${i}: a batch cannot use response_subject; publish requests one by one`);
    }
  }
  return { items, batch: true };
}

const duplicate = (subject: string) =>
  new CatbusError(
    ErrorCode.Conflict,
    `key was processed before: an event with this key was published to "${subject}" ` +
      "within the dedupe window",
  );

/**
 * Publishes the events; all or nothing for a batch as far as checks go: grants, namespace and
 * dedupe keys are checked for every item before the first is stored, and the items are handed
 * to the log together (one group-committed write).
 */
export async function publishItems(
  ctx: BusPublishContext,
  items: BusItem[],
  confirm?: { confirm: number; confirmTimeoutMs: number },
): Promise<Published[]> {
  for (const item of items) {
    checkPublish(ctx.principal, item.channel, ctx.replies);
    checkReplyTo(ctx.principal, item.headers);
  }
  await openNamespace(ctx.broker, ctx.principal, items[0].channel, ctx.checkNamespace);
  const ns = namespaceOf(items[0].channel);
  const keys = new Set<string>();
  for (const item of items) {
    if (item.key === undefined) continue;
    if (keys.has(item.key) || ctx.broker.seenKey(ns, item.key)) throw duplicate(item.subject);
    keys.add(item.key);
  }
  const published = await Promise.all(
    items.map(({ subject: _, ...input }) => ctx.broker.publish({ ...input, ...confirm })),
  );
  // Two concurrent requests with one key: the second learns it here.
  if (published.length === 1 && published[0].duplicate) throw duplicate(items[0].subject);
  return published;
}
