import assert from "node:assert/strict";
import type { Grant, Principal } from "../auth/grants.ts";
import { Broker } from "../core/broker.ts";
import { isCatbusError } from "../../client/shared/errors.ts";
import { ReplyPermits } from "../core/replies.ts";
import { parsePublishBody, publishItems } from "../dialects/bus/publish.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../../client/shared/frame.ts";
import { PROTOCOL_VERSION } from "../../client/shared/messages.ts";
import { Session } from "../protocol/session.ts";
import { sessionHost } from "../../test/helpers/session-host.ts";
import { Publisher } from "./publisher.ts";

const limits = { maxPayload: 64, maxJsonDepth: 4 };
const grants: Grant[] = [
  { pattern: "app.>", permission: "read" },
  { pattern: "app.>", permission: "write" },
  { pattern: "new.>", permission: "write" },
  { pattern: "new.>", permission: "create" },
  { pattern: "_inbox.c1.>", permission: "read" },
  { pattern: "nocreate.>", permission: "write" },
];
const principal = (): Principal => ({ clientId: "c1", kind: "sub", grants });
const encoder = new TextEncoder();

/** One publish as a client sends it; `payload` is JSON text. */
interface Case {
  name: string;
  channel: string;
  payload: string;
  replyTo?: string;
  /** The error code both doors answer, or undefined for a stored message. */
  code?: string;
}

const CASES: Case[] = [
  { name: "granted channel", channel: "app.x", payload: '{"a":1}' },
  { name: "no write grant", channel: "other.x", payload: "1", code: "forbidden" },
  { name: "$sys is written by the server", channel: "$sys.x", payload: "1", code: "forbidden" },
  { name: "sm is written by the server", channel: "sm.x", payload: "1", code: "forbidden" },
  { name: "a wildcard is no channel", channel: "app.*", payload: "1", code: "bad_request" },
  {
    name: "payload above --max-payload",
    channel: "app.x",
    payload: JSON.stringify("x".repeat(100)),
    code: "too_large",
  },
  {
    name: "payload deeper than --max-json-depth",
    channel: "app.x",
    payload: "[[[[[1]]]]]",
    code: "bad_request",
  },
  {
    name: "a reply subject without a permit",
    channel: "_inbox.c9.r",
    payload: "1",
    code: "forbidden",
  },
  {
    name: "reply_to outside the inboxes",
    channel: "app.x",
    payload: "1",
    replyTo: "app.y",
    code: "bad_request",
  },
  {
    name: "reply_to an inbox it cannot read",
    channel: "app.x",
    payload: "1",
    replyTo: "_inbox.c9.r",
    code: "forbidden",
  },
  { name: "reply_to its own inbox", channel: "app.x", payload: "1", replyTo: "_inbox.c1.r" },
  { name: "a new namespace needs create", channel: "nocreate.x", payload: "1", code: "not_found" },
  { name: "create brings a namespace into existence", channel: "new.x", payload: "1" },
];

async function newBroker() {
  const broker = new Broker({ history: { maxMessages: 100, maxBytes: 1 << 20 } });
  await broker.createNamespace("app");
  await broker.createNamespace("_inbox");
  return broker;
}

/** Publishes through the native door's entry (a session fed frames); the error code or "". */
async function nativePublish(c: Case): Promise<string> {
  const broker = await newBroker();
  const host = sessionHost(broker, principal(), limits);
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const { promise: answer, resolve } = Promise.withResolvers<Frame>();
  const session = new Session(host, {
    remote: "test",
    write: (batch) =>
      decoder.push(batch, (e) => {
        if (e.kind === "frame" && e.frame.id === 2) resolve(e.frame);
      }),
    close: () => {},
  });
  session.receive(encodeFrame(FrameType.Hello, 1, { version: PROTOCOL_VERSION, token: "t" }));
  const meta = { channel: c.channel, ...(c.replyTo ? { headers: { reply_to: c.replyTo } } : {}) };
  session.receive(encodeFrame(FrameType.Publish, 2, meta, encoder.encode(c.payload)));
  const timeout = setTimeout(() => resolve({ type: -1 } as Frame), 5000);
  const frame = await answer;
  clearTimeout(timeout);
  session.connectionEnded();
  assert.notEqual(frame.type, -1, `${c.name}: no answer within 5 s`);
  return frame.type === FrameType.Error ? parseMeta<{ code: string }>(frame).code : "";
}

/** Publishes through the Bus door's entry (a POST body); the error code or "". */
async function busPublish(c: Case): Promise<string> {
  const broker = await newBroker();
  const replies = new ReplyPermits({ windowMs: 1000, max: 100 });
  const event = {
    subject: c.channel,
    ...(c.replyTo ? { response_subject: c.replyTo } : {}),
  };
  const body = JSON.stringify(event).slice(0, -1) + `,"payload":${c.payload}}`;
  try {
    const { items } = parsePublishBody(encoder.encode(body), limits);
    await publishItems({
      broker,
      publisher: new Publisher(principal(), replies.holder("bus-test"), limits),
      checkNamespace: () => Promise.resolve(),
    }, items);
    return "";
  } catch (e) {
    if (isCatbusError(e)) return e.code;
    throw e;
  }
}

Deno.test("access - one set of publish rules, answered alike by the native and the Bus door", async () => {
  for (const c of CASES) {
    assert.equal(await nativePublish(c), c.code ?? "", `native door: ${c.name}`);
    assert.equal(await busPublish(c), c.code ?? "", `bus door: ${c.name}`);
  }
});
