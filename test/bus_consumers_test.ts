/**
 * A Bus manual-ack stream creates its consumer through the same rules as the native
 * consumer_create (src/access/consumers.ts): one test per rule, on the Bus door.
 */
import assert from "node:assert/strict";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { openSse } from "./helpers/sse.ts";
import { expectStatus, post } from "./helpers/bus.ts";

Deno.test("bus consumers - a manual-ack stream needs read and create on its pattern, as consumer_create does", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const admin = await nativeClient(server);
  await admin.publish("jobs.x", 1);
  const reader = await grantToken(server, "-p", "read", "jobs.>");
  const writer = await grantToken(server, "-p", "write", "-p", "create", "jobs.>");
  const creator = await grantToken(server, "-p", "read", "-p", "create", "jobs.>");
  const manual = (token: string) =>
    `${server.busUrl}/?subject=jobs.x&start=oldest&ack=manual&token=${token}`;
  await expectStatus(fetch(manual(reader)), 403, /create/);
  await expectStatus(fetch(manual(writer)), 403, /read/);
  const plain = await openSse(`${server.busUrl}/?subject=jobs.x&token=${reader}`);
  assert.equal(plain.response.status, 200, "a plain stream needs read only");
  await plain.close();
  const stream = await openSse(manual(creator));
  assert.equal(stream.response.status, 200);
  assert.equal(JSON.parse((await stream.next()).data).payload, 1);
  await stream.close();
  await admin.disconnect();
});

Deno.test("bus consumers - dead letters go to $sys.dlq.<consumer id>, which the creator needs no write on", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const admin = await nativeClient(server);
  await admin.publish("jobs.y", "lost");
  const creator = await grantToken(server, "-p", "read", "-p", "create", "jobs.>");
  const stream = await openSse(
    `${server.busUrl}/?subject=jobs.y&start=oldest&ack=manual&redelivery=100ms` +
      `&redelivery_count=1&token=${creator}`,
  );
  assert.equal(stream.response.status, 200);
  const consumer = stream.response.headers.get("x-bus-consumer-id")!;
  const letters = new AsyncQueue<Record<string, string> | undefined>();
  await admin.subscribe(`$sys.dlq.${consumer}`, (_ch, _p, meta) => letters.push(meta.headers));
  await stream.next(); // never acked
  assert.equal((await letters.next())?.["catbus-dlq-reason"], "max_deliver");
  await stream.close();
  await admin.disconnect();
});

Deno.test("bus consumers - --max-consumers counts manual-ack streams; a plain stream is no consumer", async () => {
  await using server = await startCatbusd(["--max-consumers", "1"]);
  await post(server, { subject: "jobs.z", payload: 1 });
  const admin = await nativeClient(server);
  await admin.createConsumer({ name: "one", pattern: "jobs.>" });
  await expectStatus(
    fetch(`${server.busUrl}/?subject=jobs.z&ack=manual`),
    429,
    /--max-consumers 1/,
  );
  const plain = await openSse(`${server.busUrl}/?subject=jobs.z`);
  assert.equal(plain.response.status, 200);
  await plain.close();
  await admin.deleteConsumer("one");
  const stream = await openSse(`${server.busUrl}/?subject=jobs.z&start=oldest&ack=manual`);
  assert.equal(stream.response.status, 200);
  await stream.close();
  await admin.disconnect();
});

Deno.test("bus consumers - a durable name is checked, and a taken one with other settings is a conflict", async () => {
  await using server = await startCatbusd();
  await post(server, { subject: "jobs.w", payload: 1 });
  await post(server, { subject: "mail.w", payload: 1 });
  await expectStatus(
    fetch(`${server.busUrl}/?subject=jobs.w&ack=manual&durable=no%20spaces`),
    400,
    /consumer "name" must be/,
  );
  const admin = await nativeClient(server);
  await admin.createConsumer({ name: "mailer", pattern: "mail.>" });
  await expectStatus(
    fetch(`${server.busUrl}/?subject=jobs.w&ack=manual&durable=mailer`),
    409,
    /exists with another configuration/,
  );
  await admin.disconnect();
});
