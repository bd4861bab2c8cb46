import assert from "node:assert/strict";
import type { BusMessage } from "../core/message.ts";
import type { PublishInput } from "../core/broker.ts";
import type { NodeChannels, RegistryListener } from "./node-channels.ts";
import { NodeRelay } from "./node-relay.ts";

/** Node channels that keep what is sent and entered; the test plays the other nodes. */
function fakeChannels() {
  const sent: { to: string; body: Uint8Array }[] = [];
  const entered: string[] = [];
  let mail: (from: string, body: Uint8Array) => void = () => {};
  let listener: RegistryListener | undefined;
  const channels: NodeChannels = {
    node: "me",
    send: (to, body) => (sent.push({ to, body: body.slice() }), Promise.resolve()),
    onMail: (receive) => void (mail = receive),
    enter: (entry, on) => (entered.push((on ? "+" : "-") + entry), Promise.resolve()),
    watch: (l) => void (listener = l),
    urls: () => [],
    nodes: () => [],
    advertise: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return {
    channels,
    sent,
    entered,
    mail: (f: string, b: Uint8Array) => mail(f, b),
    registry: () => listener!,
  };
}

function fakeBroker() {
  const published: PublishInput[] = [];
  const acks: string[] = [];
  return {
    published,
    acks,
    broker: {
      publish: (input: PublishInput) => (published.push(input), Promise.resolve()),
      peerAcked: (ns: string, seq: number) => void acks.push(`${ns} ${seq}`),
    },
  };
}

const message = (channel: string, id = "m1"): BusMessage => ({
  channel,
  seq: 1,
  epoch: "e",
  id,
  time: 1,
  payload: new TextEncoder().encode('"hi"'),
  binary: false,
});

Deno.test("node relay - responders and replies follow the other nodes' subscription patterns", async () => {
  const f = fakeChannels();
  const relay = new NodeRelay(f.channels, () => {});
  const b = fakeBroker();
  relay.start(b.broker);
  assert.equal(relay.responds("svc.echo"), false);
  f.registry().reset("n2", new Set(["s svc.*", "s _inbox.c2.>"]));
  assert.equal(relay.responds("svc.echo"), true);
  relay.forward(message("_inbox.c2.r1"));
  relay.forward(message("_inbox.c9.r1", "m2")); // nobody there subscribes
  assert.deepEqual(f.sent.map((s) => s.to), ["n2"]);
  // Delivered on the other side: published into that node's reply namespace, not sent back.
  const other = fakeChannels();
  const there = new NodeRelay(other.channels, () => {});
  const ob = fakeBroker();
  there.start(ob.broker);
  other.registry().reset("me", new Set(["s _inbox.c2.>"]));
  other.mail("me", f.sent[0].body);
  assert.deepEqual(ob.published.map((p) => [p.channel, p.id]), [["_inbox.c2.r1", "m1"]]);
  there.forward(message("_inbox.c2.r1"));
  assert.equal(other.sent.length, 0);
  f.registry().gone("n2");
  assert.equal(relay.responds("svc.echo"), false);
  await relay.interest("svc.>", true);
  assert.deepEqual(f.entered, ["+s svc.>"]);
  relay.close();
  there.close();
});

Deno.test("node relay - a reply published before the requester's node listed its inbox goes there once it does, once", () => {
  const f = fakeChannels();
  const relay = new NodeRelay(f.channels, () => {});
  relay.start(fakeBroker().broker);
  relay.forward(message("_inbox.c3.r1")); // the request came first; the inbox listing is late
  relay.forward(message("_inbox.c4.r1", "m2")); // nobody will want this one
  assert.equal(f.sent.length, 0);
  f.registry().added("n3", "s _inbox.c3.>");
  assert.deepEqual(f.sent.map((s) => s.to), ["n3"]);
  f.registry().added("n4", "s _inbox.c3.>");
  assert.deepEqual(f.sent.map((s) => s.to), ["n3"], "claimed once, by the first");
  relay.close();
});

Deno.test("node relay - acks reach the nodes waiting for confirmations, those made before too", async () => {
  const f = fakeChannels();
  const relay = new NodeRelay(f.channels, () => {});
  relay.start(fakeBroker().broker);
  relay.acked("pay", 1); // nobody waits yet
  await Promise.resolve();
  assert.equal(f.sent.length, 0);
  f.registry().added("n1", "c pay");
  relay.acked("pay", 2);
  await Promise.resolve();
  const text = f.sent.map((s) => new TextDecoder().decode(s.body.subarray(1)));
  assert.deepEqual(f.sent.map((s) => s.to), ["n1"]);
  assert.deepEqual(text, ["pay 1 2"]);
  // The waiting side counts them.
  const other = fakeChannels();
  const there = new NodeRelay(other.channels, () => {});
  const b = fakeBroker();
  there.start(b.broker);
  other.mail("me", f.sent[0].body);
  assert.deepEqual(b.acks, ["pay 1", "pay 2"]);
  relay.close();
  there.close();
});
