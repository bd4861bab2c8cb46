import assert from "node:assert/strict";
import { testDatabase } from "../../../test/helpers/postgres.ts";
import { AsyncQueue } from "../../../test/helpers/queue.ts";
import { AdvisoryLock } from "./advisory-lock.ts";

/** A lock on `url` whose events are queued as "acquired" / "lost". */
function lockOn(url: string, applicationName: string) {
  const events = new AsyncQueue<string>();
  const lock = new AdvisoryLock(url, applicationName, {
    name: "advisory lock test",
    intervalMs: 50,
    acquired: () => events.push("acquired"),
    lost: () => events.push("lost"),
  });
  lock.start();
  return { lock, events };
}

Deno.test("advisory lock - one holder; when it closes or its session is terminated, the other takes it", async () => {
  await using db = await testDatabase("advisory lock");
  if (!db) return;
  const a = lockOn(db.url, "lock test a");
  assert.equal(await a.events.next("a acquires"), "acquired");
  const b = lockOn(db.url, "lock test b");
  try {
    // One holder: PostgreSQL shows one advisory lock granted, and b does not hold it.
    const [{ n }] = await db.sql`select count(*)::int as n from pg_locks
      where locktype = 'advisory' and granted
        and database = (select oid from pg_database where datname = current_database())`;
    assert.equal(n, 1);
    assert.equal(b.lock.held, false);
    await a.lock.close();
    assert.equal(await a.events.next("a lets go"), "lost");
    assert.equal(await b.events.next("b acquires"), "acquired");

    // The holder's session ends under it: it hears so, and takes the lock again once free.
    const killed = await db.sql`select pg_terminate_backend(pid) as done from pg_stat_activity
      where datname = ${db.name} and application_name = 'lock test b'`;
    assert.deepEqual(killed.map((r) => r.done), [true]);
    assert.equal(await b.events.next("b loses it"), "lost");
    assert.equal(await b.events.next("b takes it again"), "acquired");
  } finally {
    await a.lock.close();
    await b.lock.close();
  }
});
