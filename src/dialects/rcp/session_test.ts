import assert from "node:assert/strict";
import type { LiveConnection } from "../../auth/live-connections.ts";
import type { StateMachineEngine } from "../../sm/engine.ts";
import type { TcpConnection } from "../../transport/tcp.ts";
import { AuthThrottle } from "./auth-throttle.ts";
import { type RcpHost, RcpSession } from "./session.ts";
import { hashToken, TokenVerifier } from "./token-hashes.ts";
import type { WatchHub } from "./watch-hub.ts";
import { AsyncQueue } from "../../../test/helpers/queue.ts";
import { within } from "../../../test/helpers/deadline.ts";

const SM_GRANTS = [{ permission: "read", pattern: "sm.>" }];
const encoder = new TextEncoder();

/** A session over a fake connection, with the registry it joins; AUTH needs no engine. */
function open(options: { required: boolean; identity?: TcpConnection["identity"] }) {
  const live = new Set<LiveConnection>();
  const written = new AsyncQueue<string>();
  const closed = Promise.withResolvers<void>();
  const host: RcpHost = {
    engine: undefined as unknown as StateMachineEngine,
    watches: { unwatch: () => false } as unknown as WatchHub,
    auth: new TokenVerifier(options.required, [hashToken("secret")]),
    serverName: "catbus",
    serverVersion: "test",
    outboundLimitBytes: 1024 * 1024,
    authThrottle: new AuthThrottle(10),
    maxJsonDepth: 64,
    live: { add: (c) => live.add(c), delete: (c) => live.delete(c) },
  };
  const connection: TcpConnection = {
    remote: "tcp:127.0.0.1:5000",
    hostname: "127.0.0.1",
    identity: options.identity,
    write: (bytes) => {
      written.push(new TextDecoder().decode(bytes));
      return Promise.resolve();
    },
    close: () => closed.resolve(),
  };
  const session = new RcpSession(host, connection);
  /** Sends one request; resolves with its answer as written. */
  const send = (line: object) => {
    const answer = written.next("the answer", 5000);
    session.receive(encoder.encode(JSON.stringify(line) + "\n"));
    return answer;
  };
  return { session, live, send, closed: closed.promise };
}

Deno.test("rcp session - a configured bearer token makes an rcp-token principal in the live registry", async () => {
  const { session, live, send } = open({ required: true });
  assert.equal(live.size, 0, "not registered before AUTH");
  const refused = await send({ id: "1", op: "AUTH", params: { method: "bearer", token: "x" } });
  assert.match(refused, /AUTH_FAILED/);
  assert.equal(live.size, 0, "a failed AUTH registers nothing");
  const ok = await send({ id: "2", op: "AUTH", params: { method: "bearer", token: "secret" } });
  assert.match(ok, /"authenticated":true/);
  const [registered] = live;
  assert.deepEqual(registered.principal, {
    clientId: `rcp-token-${hashToken("secret").slice(0, 12)}`,
    kind: "rcp-token",
    grants: SM_GRANTS,
  });
  assert.equal(session.principal, registered.principal);
  session.connectionEnded();
  assert.equal(live.size, 0, "gone from the registry with the connection");
});

Deno.test("rcp session - without auth.required a configured token still names the principal, others none", async () => {
  const { live, send } = open({ required: false });
  await send({ id: "1", op: "AUTH", params: { token: "anything" } });
  assert.equal(live.size, 0, "an unknown token is accepted but names nobody");
  await send({ id: "2", op: "AUTH", params: { token: "secret" } });
  assert.equal([...live][0].principal?.kind, "rcp-token");
});

Deno.test("rcp session - a verified client certificate is an rcp-cert principal from the start; a token replaces it", async () => {
  const fingerprint = "ab".repeat(32);
  const { live, send } = open({ required: true, identity: { commonName: "alice", fingerprint } });
  assert.equal(live.size, 1);
  assert.deepEqual([...live][0].principal, {
    clientId: "rcp-cert-abababababab",
    kind: "rcp-cert",
    grants: SM_GRANTS,
  });
  await send({ id: "1", op: "AUTH", params: { token: "secret" } });
  assert.equal(live.size, 1, "one registration per connection");
  assert.equal([...live][0].principal?.kind, "rcp-token");
});

Deno.test("rcp session - the registry closes it once what is queued is written", async () => {
  const { live, send, closed } = open({ required: true });
  await send({ id: "1", op: "AUTH", params: { token: "secret" } });
  [...live][0].close();
  await within(closed, 5000, "the close");
});
