/** Admin API: namespaces and their messages, live tails, publish and request, consumers. */
import type { Principal } from "../../auth/grants.ts";
import { openNamespace } from "../../access/publish.ts";
import { Publisher } from "../../access/publisher.ts";
import type { BusMessage } from "../../core/message.ts";
import type { Subscriber } from "../../core/broker.ts";
import { randomId } from "../../core/ids.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { REPLY_TO_HEADER } from "../../../client/shared/reply-subjects.ts";
import { matcherFor, namespaceOf, parsePattern } from "../../../client/shared/subject.ts";
import { DEAD_LETTER_HEADERS } from "../../streams/consumer-registry.ts";
import type { AdminContext } from "./context.ts";
import { DeadLetterMarks } from "./dead-letter-marks.ts";
import { badRequest, json, jsonBody, matchesQuery, page, paging } from "./http.ts";
import { messageView, readPage, startOf } from "./messages.ts";
import type { Route } from "./routes.ts";
import { Tails } from "./tail.ts";

/** The longest a request from the publish tool waits for its reply. */
const MAX_REQUEST_TIMEOUT_MS = 60_000;
const DEAD_LETTERS = "$sys";

const encoder = new TextEncoder();
const patternParam = (url: URL) => {
  const pattern = url.searchParams.get("channel");
  if (pattern === null) return () => true;
  parsePattern(pattern);
  return matcherFor(pattern);
};

export function streamRoutes(ctx: AdminContext) {
  const tails = new Tails(ctx.broker);
  const marks = new DeadLetterMarks(ctx.data);
  const principal: Principal = { clientId: `console-${randomId(6)}`, kind: "admin", grants: [] };
  const publisher = new Publisher(principal, ctx.replies.holder(principal.clientId), ctx.limits);
  const publish = async (input: Parameters<AdminContext["broker"]["publish"]>[0]) => {
    publisher.authorize({
      channel: input.channel,
      payload: input.payload,
      binary: input.binary,
      headers: input.headers,
    });
    await openNamespace(ctx.broker, principal, input.channel, ctx.checkNamespace);
    return await ctx.broker.publish(input);
  };

  const consumer = (name: string) => {
    const c = ctx.consumers.get(name);
    if (!c) {
      throw new CatbusError(
        ErrorCode.NotFound,
        `no consumer "${name}"; GET /admin/api/consumers lists them`,
      );
    }
    return c;
  };

  /** A stored dead letter of consumer `name` at `seq`. */
  const deadLetterAt = async (name: string, seq: number): Promise<BusMessage> => {
    const channel = consumer(name).config.deadLetter;
    const { items } = await readPage(ctx.broker, DEAD_LETTERS, seq, 1, () => true);
    const m = items[0];
    if (!m || m.seq !== seq || m.channel !== channel) {
      throw new CatbusError(ErrorCode.NotFound, `no dead letter ${seq} of consumer "${name}"`);
    }
    return m;
  };

  return {
    tails,
    routes: [
      ["GET", /^\/namespaces$/, (_r: Request, url: URL) => {
        const items = [...ctx.broker.namespaces()]
          .filter((ns) => matchesQuery(url, ns.name))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((ns) => ({
            name: ns.name,
            epoch: ns.epoch,
            first_seq: ns.firstSeq,
            last_seq: ns.lastSeq,
            messages: ns.lastSeq - ns.firstSeq + 1,
            stored: ns.stored,
            // On disk (null when the engine does not say: Valkey), and the in-memory history.
            stored_bytes: ns.storedBytes ?? null,
            memory_bytes: ns.memoryBytes,
          }));
        return json(200, { ...page(items, url), retention: ctx.retention });
      }],
      [
        "GET",
        /^\/namespaces\/([^/]+)\/messages$/,
        async (_r: Request, url: URL, [name]: string[]) => {
          const from = await startOf(ctx.broker, name, url);
          const { limit } = paging(url);
          const keep = patternParam(url);
          const { items, next } = await readPage(
            ctx.broker,
            name,
            from,
            limit,
            (m) => keep(m.channel),
          );
          return json(200, { items: items.map(messageView), ...(next ? { next_seq: next } : {}) });
        },
      ],
      ["GET", /^\/tail$/, (_r: Request, url: URL) => tails.open(url.searchParams.get("pattern"))],
      ["POST", /^\/publish$/, async (request: Request) => {
        const body = await jsonBody(request, ctx.limits.maxPayload * 2 + 64 * 1024);
        const channel = body.channel;
        if (typeof channel !== "string") throw badRequest('"channel" must be a channel name');
        if (typeof body.payload !== "string") {
          throw badRequest('"payload" must be the message\'s JSON text');
        }
        const headers = body.headers ?? {};
        if (
          typeof headers !== "object" || Object.values(headers).some((v) => typeof v !== "string")
        ) {
          throw badRequest('"headers" must be an object of strings');
        }
        const payload = encoder.encode(body.payload);
        if (body.request === undefined) {
          const m = await publish({ channel, payload, headers: headers as Record<string, string> });
          return json(200, {
            seq: m.seq,
            id: m.id,
            epoch: m.epoch,
            time: new Date(m.time).toISOString(),
          });
        }
        const timeoutMs = Number((body.request as { timeout_ms?: unknown })?.timeout_ms ?? 5000);
        if (
          !Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_REQUEST_TIMEOUT_MS
        ) {
          throw badRequest(`"request.timeout_ms" must be from 1 to ${MAX_REQUEST_TIMEOUT_MS}`);
        }
        const inbox = `_inbox.${principal.clientId}.${randomId(8)}`;
        const reply = Promise.withResolvers<BusMessage>();
        const sub: Subscriber = { deliver: (m) => reply.resolve(m) };
        await ctx.broker.subscribe(sub, inbox);
        const timer = setTimeout(
          () => reply.reject(new CatbusError(ErrorCode.Timeout, `no reply within ${timeoutMs} ms`)),
          timeoutMs,
        );
        try {
          await publish({
            channel,
            payload,
            headers: { ...headers as Record<string, string>, [REPLY_TO_HEADER]: inbox },
            request: true,
            replyBy: Date.now() + timeoutMs,
          });
          return json(200, { reply: messageView(await reply.promise) });
        } finally {
          clearTimeout(timer);
          ctx.broker.unsubscribe(sub, inbox);
        }
      }],
      ["GET", /^\/consumers$/, (_r: Request, url: URL) => {
        const items = ctx.consumers.list()
          .filter((c) => matchesQuery(url, c.name, c.config.pattern))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((c) => {
            const info = c.info();
            const counts = c.counts();
            return {
              name: c.name,
              pattern: c.config.pattern,
              cursor: info.cursor,
              members: info.members,
              pending: counts.pending,
              redelivered: counts.redelivered,
              dead_lettered: counts.deadLettered,
              dead_letter_channel: c.config.deadLetter,
              ack_wait_ms: c.config.ackWaitMs,
              max_deliver: c.config.maxDeliver,
            };
          });
        return json(200, page(items, url));
      }],
      [
        "GET",
        /^\/consumers\/([^/]+)\/dead-letters$/,
        async (_r: Request, url: URL, [name]: string[]) => {
          const channel = consumer(name).config.deadLetter;
          const { floor, requeued } = await marks.of(name);
          const ns = ctx.broker.namespace(namespaceOf(channel));
          if (!ns) return json(200, { items: [] });
          const asked = url.searchParams.has("from_seq")
            ? await startOf(ctx.broker, ns.name, url)
            : 0;
          const from = Math.max(asked, floor + 1, ns.firstSeq);
          const { limit } = paging(url);
          const { items, next } = await readPage(
            ctx.broker,
            ns.name,
            from,
            limit,
            (m) => m.channel === channel,
          );
          const done = new Set(requeued);
          return json(200, {
            items: items.map((m) => ({ ...messageView(m), requeued: done.has(m.seq) })),
            ...(next ? { next_seq: next } : {}),
          });
        },
      ],
      [
        "POST",
        /^\/consumers\/([^/]+)\/dead-letters\/(\d+)\/requeue$/,
        async (_r: Request, _u: URL, [name, seqText]: string[]) => {
          const seq = Number(seqText);
          const letter = await deadLetterAt(name, seq);
          if ((await marks.of(name)).requeued.includes(seq)) {
            throw new CatbusError(ErrorCode.Conflict, `dead letter ${seq} was requeued already`);
          }
          const h = DEAD_LETTER_HEADERS;
          const channel = letter.headers?.[h.channel];
          if (!channel) throw badRequest(`dead letter ${seq} does not name its channel`);
          const headers = Object.fromEntries(
            Object.entries(letter.headers ?? {}).filter(([k]) =>
              !Object.values(h).includes(k as never)
            ),
          );
          const m = await publish({
            channel,
            payload: letter.payload,
            binary: letter.binary,
            headers,
          });
          await marks.requeued(name, seq);
          ctx.log("info", "dead letter requeued", {
            door: "console",
            consumer: name,
            seq,
            channel,
            new_seq: m.seq,
          });
          return json(200, { channel, seq: m.seq, id: m.id });
        },
      ],
      [
        "POST",
        /^\/consumers\/([^/]+)\/dead-letters\/purge$/,
        async (_r: Request, _u: URL, [name]: string[]) => {
          const channel = consumer(name).config.deadLetter;
          const ns = ctx.broker.namespace(namespaceOf(channel));
          const upTo = ns?.lastSeq ?? 0;
          await marks.purge(name, upTo);
          ctx.log("info", "dead letters purged", { door: "console", consumer: name, up_to: upTo });
          return json(200, { purged_up_to: upTo });
        },
      ],
    ] satisfies Route[],
  };
}
