import assert from "node:assert/strict";
import type { BusMessage } from "./message.ts";
import { isReplySubject } from "../../client/shared/reply-subjects.ts";
import { ReplyPermits } from "./replies.ts";

const request = (replyTo: string, time: number): BusMessage => ({
  channel: "svc.time",
  seq: 1,
  epoch: "e",
  id: "x",
  time,
  payload: new Uint8Array(),
  binary: false,
  headers: { reply_to: replyTo },
});

Deno.test("replies - a delivered request lets its holder answer once, within the window", () => {
  let now = 1000;
  const permits = new ReplyPermits({ windowMs: 500, max: 100, now: () => now });
  permits.delivered("a", request("_inbox.c.1", 1000));
  assert.equal(permits.take("b", "_inbox.c.1"), false, "not delivered to b");
  assert.equal(permits.take("a", "_inbox.c.2"), false, "another subject");
  assert.equal(permits.take("a", "_inbox.c.1"), true);
  assert.equal(permits.take("a", "_inbox.c.1"), false, "once");
  // Delivered twice to one holder (two streams of a token): two answers, as Bus's confirm needs.
  permits.delivered("a", request("_bus_.c", 1000));
  permits.delivered("a", request("_bus_.c", 1000));
  assert.equal(permits.take("a", "_bus_.c"), true);
  assert.equal(permits.take("a", "_bus_.c"), true);
  assert.equal(permits.take("a", "_bus_.c"), false, "once per delivery");
  permits.delivered("a", request("_inbox.c.3", 1000));
  now = 1500;
  assert.equal(permits.take("a", "_inbox.c.3"), false, "after the window");
  permits.delivered("a", request("_inbox.c.4", 900));
  assert.equal(permits.size, 0, "a request older than the window gives nothing");
});

Deno.test("replies - permits are bounded: the oldest go first", () => {
  const permits = new ReplyPermits({ windowMs: 60_000, max: 3, now: () => 0 });
  for (let i = 1; i <= 5; i++) permits.delivered("a", request(`_inbox.c.${i}`, 0));
  assert.equal(permits.size, 3);
  assert.equal(permits.take("a", "_inbox.c.2"), false);
  assert.equal(permits.take("a", "_inbox.c.5"), true);
  assert.equal(isReplySubject("_bus_.r1"), true);
  assert.equal(isReplySubject("billing.invoices.paid"), false);
});

Deno.test("replies - a request's own timeout ends its permit before the window does", () => {
  let now = 1000;
  const permits = new ReplyPermits({ windowMs: 30_000, max: 100, now: () => now });
  permits.delivered("a", { ...request("_inbox.c.1", 1000), replyBy: 1100 });
  now = 1200;
  assert.equal(permits.take("a", "_inbox.c.1"), false);
});
