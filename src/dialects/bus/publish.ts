import type { Broker, Published, PublishInput } from "../../core/broker.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { jsonTooDeep } from "../../core/json-depth.ts";
import { namespaceOf, parseChannel } from "../../../client/shared/subject.ts";
import { openNamespace } from "../../access/publish.ts";
import { checkPayloadSize, type Publisher } from "../../access/publisher.ts";
import { timeOfId } from "../../core/ids.ts";
import {
  JsonSyntaxError,
  problemOf,
  scanObject,
  skipSpace,
  skipValue,
} from "../../core/json-scan.ts";
import {
  checkBusSubject,
  isEventId,
  KEY_HEADER,
  messageIdOf,
  REPLY_HEADER,
  TRACE_HEADER,
} from "./event.ts";

const decoder = new TextDecoder();
const NULL = new TextEncoder().encode("null");
const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/** One event of a POST, checked and ready for the broker. */
type BusItem = PublishInput & { subject: string };

export interface BusPublishContext {
  broker: Broker;
  /** The access layer's publish rules for this request's principal. */
  publisher: Publisher;
  checkNamespace(name: string): Promise<void>;
}

/** Bus's dedupe key is per subject; the broker's is per namespace, so the subject goes in it. */
const dedupeKey = (subject: string, key: string) => `bus\n${subject}\n${key}`;

/** What Go's `time.Time{}` marshals to: Bus's Go SDK sends it when no time was set. */
const GO_ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

function optionalString(item: Record<string, unknown>, field: string, max: number) {
  const v = item[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || v.length > max) {
    throw bad(`"${field}" must be a string of at most ${max} characters`);
  }
  return v;
}

/**
 * A restored event's own id and time (what `bus restore` and `catbus restore` send). An id
 * that is not one Catbus makes (e.g. the original's) cannot be found by time, so the event
 * gets a new one; its `created_at` is kept either way.
 */
function restoredIdentity(item: Record<string, unknown>): Pick<PublishInput, "id" | "time"> {
  const out: Pick<PublishInput, "id" | "time"> = {};
  const createdAt = optionalString(item, "created_at", 64);
  if (createdAt && !GO_ZERO_TIME.test(createdAt)) {
    const time = RFC3339.test(createdAt) ? Date.parse(createdAt) : NaN;
    if (!Number.isFinite(time)) {
      throw bad(`"created_at" must be an RFC 3339 time such as 2026-01-02T15:04:05Z`);
    }
    out.time = time;
  }
  const id = optionalString(item, "id", 64);
  if (id && isEventId(id)) {
    const messageId = messageIdOf(id);
    const idTime = timeOfId(messageId);
    if (out.time !== undefined && out.time !== idTime) {
      throw bad(
        `"id" ${id} was made at ${new Date(idTime).toISOString()} but "created_at" says ` +
          `${createdAt}; send both as stored, or neither`,
      );
    }
    out.id = messageId;
    out.time = idTime;
  }
  return out;
}

type Limits = { maxPayload: number; maxJsonDepth: number };

/** The event object at `at`, inside `depth` arrays (1 in a batch). */
function parseItem(body: Uint8Array, at: number, depth: number, where: string, limits: Limits) {
  const { maxPayload } = limits;
  const { members, end } = scanObject(body, at, depth, limits.maxJsonDepth);
  const item: Record<string, unknown> = {};
  let payload = NULL;
  for (const m of members) {
    if (m.name === "payload") payload = body.slice(m.start, m.end);
    else item[m.name] = JSON.parse(decoder.decode(body.subarray(m.start, m.end)));
  }
  if (typeof item.subject !== "string" || item.subject === "") {
    throw bad(`${where}: "subject" is required (e.g. "orders.created")`);
  }
  parseChannel(item.subject);
  checkBusSubject(item.subject);
  const traceId = optionalString(item, "trace_id", 256);
  const key = optionalString(item, "key", 256);
  const replyTo = optionalString(item, "response_subject", 255);
  if (replyTo) parseChannel(replyTo);
  checkPayloadSize(payload.length, maxPayload, where);
  const headers: Record<string, string> = {};
  if (traceId) headers[TRACE_HEADER] = traceId;
  if (key) headers[KEY_HEADER] = key;
  if (replyTo) headers[REPLY_HEADER] = replyTo;
  const parsed: BusItem = {
    subject: item.subject,
    channel: item.subject,
    // The JSON text as published, never re-encoded (`null` when there is none).
    payload,
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(key ? { key: dedupeKey(item.subject, key) } : {}),
    ...restoredIdentity(item),
  };
  return { item: parsed, end };
}

/**
 * A POST body: one event or a batch (array); every item is checked before anything is stored.
 * The body is validated as JSON without building the payloads: each is kept as its bytes.
 */
export function parsePublishBody(
  body: Uint8Array,
  limits: Limits,
): { items: BusItem[]; batch: boolean } {
  const items: BusItem[] = [];
  let batch = false;
  let i = skipSpace(body, 0);
  try {
    if (body[i] === 0x5b) {
      batch = true;
      i = skipSpace(body, i + 1);
      if (body[i] === 0x5d) {
        throw bad("an empty batch publishes nothing; send at least one event");
      }
      for (;;) {
        const where = `event ${items.length}`;
        if (body[i] !== 0x7b) {
          throw bad(`${where}: an event is a JSON object with "subject" and "payload"`);
        }
        const parsed = withPlace(where, () => parseItem(body, i, 1, where, limits));
        items.push(parsed.item);
        i = skipSpace(body, parsed.end);
        if (body[i] === 0x5d) break;
        if (body[i] !== 0x2c) throw new JsonSyntaxError(i, "expected ',' or ']'");
        i = skipSpace(body, i + 1);
      }
      i++;
    } else {
      if (body[i] !== 0x7b) {
        skipValue(body, i, 0, limits.maxJsonDepth);
        throw bad(`event: an event is a JSON object with "subject" and "payload"`);
      }
      const parsed = parseItem(body, i, 0, "event", limits);
      items.push(parsed.item);
      i = parsed.end;
    }
    if (skipSpace(body, i) !== body.length) throw new JsonSyntaxError(i, "unexpected data");
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const problem = problemOf(e, body);
    if (problem === "utf8") throw bad("the body is not valid UTF-8; send UTF-8 JSON");
    if (problem === "depth") throw bad(jsonTooDeep("the body", limits.maxJsonDepth));
    throw bad(`the body is not JSON: ${e.message}`);
  }
  if (!batch) return { items, batch };
  const ns = namespaceOf(items[0].subject);
  for (const [i, item] of items.entries()) {
    if (namespaceOf(item.subject) !== ns) {
      throw bad(`event ${i}: a batch stays in one namespace ("${ns}"), got "${item.subject}"`);
    }
    if (item.headers?.[REPLY_HEADER]) {
      throw bad(`event ${i}: a batch cannot use response_subject; publish requests one by one`);
    }
  }
  return { items, batch };
}

/** Says which item of a batch is wrong. */
function withPlace<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof CatbusError && !e.message.startsWith("event ")) {
      throw new CatbusError(e.code, `${where}: ${e.message}`);
    }
    throw e;
  }
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
  // Size and JSON were checked with the body, each refusal naming its event.
  for (const item of items) ctx.publisher.authorize(item, true);
  await openNamespace(ctx.broker, ctx.publisher.principal, items[0].channel, ctx.checkNamespace);
  const ns = namespaceOf(items[0].channel);
  const keys = new Set<string>();
  for (const item of items) {
    if (item.key === undefined) continue;
    if (keys.has(item.key) || ctx.broker.seenKey(ns, item.key)) throw duplicate(item.subject);
    keys.add(item.key);
  }
  // A restored event that is already stored (a restore run twice) is answered, not repeated.
  const namespace = ctx.broker.namespace(ns)!;
  const stored = await Promise.all(
    items.map((item) => item.id ? ctx.broker.findMessage(namespace, item.id) : undefined),
  );
  const published: Published[] = await Promise.all(
    items.map(({ subject: _, ...input }, i) =>
      stored[i] ?? ctx.broker.publish({ ...input, ...confirm })
    ),
  );
  // Two concurrent requests with one key: the second learns it here.
  if (published.length === 1 && published[0].duplicate) throw duplicate(items[0].subject);
  return published;
}
