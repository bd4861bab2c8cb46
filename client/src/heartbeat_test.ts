import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
import { startHeartbeat } from "./heartbeat.ts";

/** A peer heard from at every look; what the heartbeat does with it is recorded. */
function chattyServer() {
  const pinged = Promise.withResolvers<void>();
  let dead = false;
  return {
    pinged: pinged.promise,
    get dead() {
      return dead;
    },
    peer: {
      lastHeard: () => performance.now(),
      sentSinceAsked: () => false,
      ping: () => pinged.resolve(),
      dead: () => dead = true,
    },
  };
}

Deno.test("heartbeat - a connection that only receives still pings (the server drops a client it hears nothing from)", async () => {
  const server = chattyServer();
  const stop = startHeartbeat(20, server.peer);
  try {
    await within(server.pinged, 10_000, "a ping while the server keeps talking");
    assert.equal(server.dead, false, "a server that talks is not given up");
  } finally {
    stop();
  }
});

Deno.test("heartbeat - while this side keeps sending and the server keeps talking, no ping is needed", async () => {
  let pings = 0, looks = 0;
  const enough = Promise.withResolvers<void>();
  const stop = startHeartbeat(20, {
    lastHeard: () => performance.now(),
    sentSinceAsked: () => {
      if (++looks === 20) enough.resolve();
      return true;
    },
    ping: () => pings++,
    dead: () => assert.fail("given up"),
  });
  try {
    await within(enough.promise, 10_000, "20 heartbeat ticks");
    assert.equal(pings, 0);
  } finally {
    stop();
  }
});
