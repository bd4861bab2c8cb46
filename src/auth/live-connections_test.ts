import assert from "node:assert/strict";
import type { Grant, Principal } from "./grants.ts";
import type { Role, RoleStore } from "./role-store.ts";
import type { CatbusError } from "../../client/shared/errors.ts";
import { type LiveConnection, SessionRegistry } from "./live-connections.ts";

const HASH = "ab".repeat(32);

/** A connection of some door, recording what the registry did to it. */
function connection(principal: Principal) {
  const closed = Promise.withResolvers<CatbusError | undefined>();
  const regranted = Promise.withResolvers<Grant[]>();
  const live: LiveConnection = {
    principal,
    close: (e) => closed.resolve(e),
    regrant: (g) => regranted.resolve(g),
  };
  return { live, closed: closed.promise, regranted: regranted.promise };
}

/** A role store holding one role, whose changes are announced by `change()`. */
function roleStore(role: Role | undefined) {
  let onChange = () => {};
  const store = {
    find: () => Promise.resolve(role),
    watch: (f: () => void) => {
      onChange = f;
      return () => {};
    },
  } as unknown as RoleStore;
  return {
    store,
    change(next: Role | undefined) {
      role = next;
      onChange();
    },
  };
}

const within = <T>(p: Promise<T>, what: string) => {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within 5 s`)), 5000);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
};

Deno.test("live connections - the registry regrants and then closes a connection of any door when its role changes and goes", async () => {
  const grants: Grant[] = [{ pattern: "app.>", permission: "read" }];
  const role = { id: HASH.slice(0, 12), hash: HASH, name: "r", grants } as Role;
  const roles = roleStore(role);
  const registry = new SessionRegistry();
  registry.watchRoles(roles.store);
  const c = connection({ clientId: "c", kind: "role", grants, roleHash: HASH });
  registry.add(c.live);
  const fewer: Grant[] = [];
  roles.change({ ...role, grants: fewer });
  assert.deepEqual(await within(c.regranted, "regrant"), fewer);
  roles.change(undefined);
  assert.equal((await within(c.closed, "close"))?.code, "revoked");
  registry.delete(c.live);
  assert.equal(registry.size, 0);
  registry.stop();
});

Deno.test("live connections - the registry closes a connection whose token expired", async () => {
  const registry = new SessionRegistry();
  const c = connection({
    clientId: "c",
    kind: "sub",
    grants: [],
    expiresAt: Date.now() / 1000 - 1,
  });
  registry.add(c.live);
  registry.startSweeping(10, 60_000, 60_000);
  assert.equal((await within(c.closed, "expiry"))?.code, "unauthorized");
  registry.stop();
});

Deno.test("live connections - after the server itself stalled, a client is not called silent before what it sent is read", async () => {
  const registry = new SessionRegistry();
  const start = Date.now();
  // One client that kept sending (the transport reads it once the loop runs again), one that
  // really went silent.
  let heardAt = start;
  let talkerClosed: CatbusError | undefined | null = null;
  const talker: LiveConnection = {
    principal: { clientId: "talker", kind: "sub", grants: [] },
    close: (e) => talkerClosed = e,
    regrant: () => {},
    get lastSeen() {
      return heardAt;
    },
  };
  const silent = connection({ clientId: "silent", kind: "sub", grants: [] });
  registry.add(talker);
  registry.add({ ...silent.live, lastSeen: start });
  registry.startSweeping(10, 200, 60_000);
  // The server's loop is blocked for five heartbeats (a long collection, a starved process)…
  while (Date.now() < start + 1000) { /* stalled */ }
  // …and reads what the talker sent right after the first (late) sweep.
  setTimeout(() => heardAt = Date.now(), 0);
  assert.equal((await within(silent.closed, "the silent client closed"))?.code, "timeout");
  assert.equal(talkerClosed, null, "the talker was not closed");
  registry.stop();
});
