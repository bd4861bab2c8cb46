import assert from "node:assert/strict";
import {
  CatbusError,
  ErrorCode,
  type MessageHandler,
  type MessageMeta,
  type SubscribeOptions,
  type Subscription,
} from "../../client/mod.ts";
import { type CallbackSubscriber, listen } from "./listen.ts";

/** A client's subscribe(), answered by the test. */
class FakeClient implements CallbackSubscriber {
  readonly calls: {
    pattern: string;
    handler: MessageHandler;
    options: SubscribeOptions;
    answer: PromiseWithResolvers<Subscription>;
  }[] = [];
  unsubscribed = 0;

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ) {
    const answer = Promise.withResolvers<Subscription>();
    this.calls.push({ pattern, handler, options, answer });
    return answer.promise;
  }

  accept(index: number) {
    this.calls[index].answer.resolve({
      pattern: "p",
      unsubscribe: () => {
        this.unsubscribed++;
        return Promise.resolve();
      },
    });
  }
}

const meta = {
  channel: "c",
  seq: 1,
  epoch: "e",
  id: "1",
  time: 0,
} as MessageMeta;
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function recorder() {
  const messages: unknown[] = [];
  const errors: Error[] = [];
  return {
    messages,
    errors,
    handlers: {
      onMessage: (_c: string, p: unknown) => messages.push(p),
      onError: (e: Error) => errors.push(e),
    },
  };
}

Deno.test("listen - delivers until stopped, then unsubscribes", async () => {
  const client = new FakeClient();
  const r = recorder();
  const stop = listen(client, "p", r.handlers);
  client.accept(0);
  client.calls[0].handler("c", 1, meta);
  stop();
  client.calls[0].handler("c", 2, meta);
  await settle();
  assert.deepEqual(r.messages, [1]);
  assert.equal(client.unsubscribed, 1);
});

Deno.test("listen - stopped before subscribe resolved: unsubscribes once it exists", async () => {
  const client = new FakeClient();
  const r = recorder();
  const stop = listen(client, "p", r.handlers);
  stop();
  client.calls[0].handler("c", 1, meta);
  assert.equal(client.unsubscribed, 0);
  client.accept(0);
  await settle();
  assert.equal(client.unsubscribed, 1);
  assert.deepEqual(r.messages, []);
});

Deno.test("listen - subscribes again when the connection dropped during the request", async () => {
  const client = new FakeClient();
  const r = recorder();
  listen(client, "p", r.handlers);
  client.calls[0].answer.reject(
    new CatbusError(ErrorCode.Disconnected, "lost"),
  );
  await settle();
  assert.deepEqual(client.calls.map((c) => c.pattern), ["p", "p"]);
  assert.deepEqual(r.errors, []);
});

Deno.test("listen - reports refusals and server-side ends, not after stop", async () => {
  const client = new FakeClient();
  const r = recorder();
  const stop = listen(client, "p", r.handlers);
  client.calls[0].answer.reject(
    new CatbusError(ErrorCode.Forbidden, "no grant"),
  );
  await settle();
  assert.deepEqual(r.errors.map((e) => (e as CatbusError).code), [
    ErrorCode.Forbidden,
  ]);

  const second = listen(client, "q", r.handlers);
  client.calls[1].options.onError?.(
    new CatbusError(ErrorCode.Revoked, "revoked"),
  );
  second();
  client.calls[1].options.onError?.(
    new CatbusError(ErrorCode.Revoked, "again"),
  );
  stop();
  assert.deepEqual(r.errors.map((e) => e.message), ["no grant", "revoked"]);
});

Deno.test("listen - onSubscribed when subscribe resolved and after every resubscribe, not after stop", async () => {
  const client = new FakeClient();
  let subscribed = 0;
  const stop = listen(client, "p", {
    ...recorder().handlers,
    onSubscribed: () => subscribed++,
  });
  // Offline, subscribe resolves at once; the server's confirmation is the resubscribe on connect.
  client.accept(0);
  await settle();
  const recovery = { pattern: "p", recovered: true, namespaces: {} };
  client.calls[0].options.onRecovery?.(recovery);
  assert.equal(subscribed, 2);
  stop();
  client.calls[0].options.onRecovery?.(recovery);
  assert.equal(subscribed, 2);
});
