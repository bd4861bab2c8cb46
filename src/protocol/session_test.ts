import assert from "node:assert/strict";
import { Broker } from "../core/broker.ts";
import type { BusMessage } from "../core/message.ts";
import type {
  AppendRequest,
  EngineStream,
  StreamEngine,
  StreamListener,
} from "../core/stream-engine.ts";
import { encodeFrame, FrameType } from "../../client/shared/frame.ts";
import { PROTOCOL_VERSION } from "../../client/shared/messages.ts";
import { concat } from "../../client/shared/bytes.ts";
import { sessionHost } from "../../test/helpers/session-host.ts";
import { Session } from "./session.ts";

/** A stream whose appends become durable only when the test says so: a slow disk. */
class GatedStream implements EngineStream {
  readonly epoch = "e";
  readonly firstSeq = 0;
  lastSeq = 0;
  readonly #held: BusMessage[] = [];
  readonly #listener: StreamListener;

  constructor(listener: StreamListener) {
    this.#listener = listener;
  }

  append(batch: AppendRequest[]) {
    for (const { message } of batch) {
      message.epoch = this.epoch;
      message.seq = ++this.lastSeq;
      this.#held.push(message);
    }
  }

  /** The oldest `n` appended messages are durable now. */
  store(n: number) {
    this.#listener.durable(this.#held.splice(0, n));
  }

  async *read() {}
  seekTime = () => Promise.resolve(this.lastSeq + 1);
  tail = () => Promise.resolve([]);
  recentKeys = () => Promise.resolve(new Map());
  purgeChannel = () => Promise.resolve();
}

class GatedEngine implements StreamEngine {
  stream?: GatedStream;
  list = () => Promise.resolve([]);
  open(_name: string, listener: StreamListener): Promise<EngineStream> {
    return Promise.resolve(this.stream = new GatedStream(listener));
  }
  applyRetention = () => Promise.resolve();
  close = () => Promise.resolve();
}

const principal = {
  clientId: "c1",
  kind: "sub" as const,
  grants: [{ pattern: "app.>", permission: "write" as const }],
};

/** `n` fire-and-forget publishes in one chunk, as one read delivers them. */
const publishes = (n: number) =>
  concat(
    Array.from(
      { length: n },
      () => encodeFrame(FrameType.Publish, 0, { channel: "app.x" }, new TextEncoder().encode("1")),
    ),
  );

async function gatedSession(maxPublishesInFlight: number) {
  const engine = new GatedEngine();
  const broker = new Broker({ history: { maxMessages: 100, maxBytes: 1 << 20 }, storage: engine });
  await broker.createNamespace("app");
  const session = new Session(sessionHost(broker, principal, { maxPublishesInFlight }), {
    remote: "test",
    write: () => {},
    close: () => {},
  });
  session.receive(encodeFrame(FrameType.Hello, 1, { version: PROTOCOL_VERSION, token: "t" }));
  // Hello's token check is asynchronous: a later turn sees it done.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(session.principal, "hello done");
  return { engine, session };
}

/** Whether `promise` settled by the time already queued callbacks ran. */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("session - publishes that outrun the log pause reading until half of them are stored", async () => {
  const { engine, session } = await gatedSession(8);
  assert.equal(session.receive(publishes(5)), undefined, "under the limit: reading goes on");
  const paused = session.receive(publishes(5));
  assert.ok(paused instanceof Promise, "10 waiting for the log, the limit is 8: reading pauses");
  engine.stream!.store(5);
  assert.equal(await settled(paused), false, "5 waiting: more than half of the limit");
  engine.stream!.store(1);
  assert.equal(await settled(paused), true, "4 waiting: reading goes on");
  assert.equal(session.receive(publishes(1)), undefined);
  session.connectionEnded();
});

Deno.test("session - a connection that ends while paused lets its reader go", async () => {
  const { session } = await gatedSession(2);
  const paused = session.receive(publishes(3));
  assert.ok(paused instanceof Promise);
  session.connectionEnded();
  assert.equal(await settled(paused), true);
});
