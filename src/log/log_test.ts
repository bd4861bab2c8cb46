import assert from "node:assert/strict";
import { LogCorruptionError, LogKeyError } from "./errors.ts";
import { parseFsyncPolicy } from "./fsync-policy.ts";
import { Log, type LogOptions } from "./log.ts";
import { OpenFiles } from "./open-files.ts";
import { parseRecord, writeRecord } from "./record.ts";
import { repairLog, verifyLog } from "./verify.ts";
import { within } from "../../test/helpers/deadline.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "catbus-log-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const open = (dir: string, extra: Partial<LogOptions> = {}) =>
  Log.open({ dir, fsync: { kind: "never" }, ...extra });

async function fill(log: Log, n: number, from = 0) {
  for (let i = from; i < from + n; i++) {
    await log.append([{ data: text(`record-${i}`), time: 1000 + i }]);
  }
}

/** The records with seq ≥ `fromSeq`, oldest first, at most `max`. */
async function readFrom(log: Log, fromSeq: number, max = Infinity) {
  const out = [];
  for await (const r of log.readIter(fromSeq)) {
    out.push(r);
    if (out.length >= max) break;
  }
  return out;
}

async function segmentFiles(dir: string) {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".seg")) names.push(e.name);
  return names.sort();
}

Deno.test("log - appends get contiguous sequences and survive reopen, across segment rolls", async () => {
  await withDir(async (dir) => {
    const log = await open(dir, { segmentBytes: 300 });
    assert.deepEqual(
      await log.append([{ data: text("a"), time: 1 }, { data: text("b"), time: 2 }]),
      {
        firstSeq: 1,
        lastSeq: 2,
      },
    );
    await fill(log, 40, 2);
    await log.close();
    assert.ok((await segmentFiles(dir)).length > 3, "rolled into several segments");
    const again = await open(dir, { segmentBytes: 300 });
    assert.equal(again.firstSeq, 1);
    assert.equal(again.lastSeq, 42);
    const all = await readFrom(again, 1);
    assert.deepEqual(all.map((r) => r.seq), Array.from({ length: 42 }, (_, i) => i + 1));
    assert.equal(str(all[41].data), "record-41");
    assert.deepEqual((await again.append([{ data: text("next"), time: 9999 }])).firstSeq, 43);
    await again.close();
  });
});

Deno.test("log - seeks by sequence and by time use the index, across segments", async () => {
  await withDir(async (dir) => {
    const log = await open(dir, { segmentBytes: 500, indexEvery: 64 });
    await fill(log, 100);
    for (const from of [1, 37, 64, 99, 100]) {
      const got = await readFrom(log, from, 2);
      assert.equal(got[0].seq, from);
      assert.equal(str(got[0].data), `record-${from - 1}`);
    }
    assert.deepEqual(await readFrom(log, 101), []);
    assert.equal(await log.seekTime(1000), 1);
    assert.equal(await log.seekTime(1050), 51);
    assert.equal(await log.seekTime(1050.5), 52);
    assert.equal(await log.seekTime(5000), 101);
    await log.close();
  });
});

Deno.test("log - a torn tail is cut back to the last whole record, at every truncation point", async () => {
  await withDir(async (dir) => {
    const log = await open(dir);
    await fill(log, 3);
    await log.close();
    const [name] = await segmentFiles(dir);
    const full = await Deno.readFile(`${dir}/${name}`);
    const lastStart = (await (async () => {
      const l = await open(dir);
      const size = l.segments()[0].size;
      await l.close();
      return size;
    })()) - (8 + 16 + "record-2".length);
    for (let cut = lastStart; cut < full.length; cut++) {
      await Deno.writeFile(`${dir}/${name}`, full.subarray(0, cut));
      const l = await open(dir);
      assert.equal(l.lastSeq, 2, `cut at ${cut}`);
      assert.equal((await l.append([{ data: text("again"), time: 5 }])).firstSeq, 3);
      await l.close();
    }
  });
});

Deno.test("log - a flipped byte mid-log stops open with file and offset; repair keeps the rest", async () => {
  await withDir(async (dir) => {
    const log = await open(dir);
    await fill(log, 10);
    await log.close();
    const [name] = await segmentFiles(dir);
    const path = `${dir}/${name}`;
    const bytes = await Deno.readFile(path);
    const recordLength = 8 + 16 + "record-0".length;
    const offset = recordLength * 3 + 30; // inside record 4's data
    bytes[offset] ^= 0xff;
    await Deno.writeFile(path, bytes);
    await assert.rejects(open(dir), (e: unknown) => {
      assert.ok(e instanceof LogCorruptionError);
      assert.equal(e.file, path);
      assert.equal(e.offset, recordLength * 3);
      assert.match(e.message, /catbus repair/);
      return true;
    });
    const report = await verifyLog(dir);
    assert.equal(report.errors.length, 1);
    const repaired = await repairLog(dir);
    assert.equal(repaired.kept, 9);
    assert.equal(repaired.setAside.length, 1);
    const l = await open(dir);
    assert.deepEqual((await readFrom(l, 1)).map((r) => r.seq), [1, 2, 3, 5, 6, 7, 8, 9, 10]);
    assert.equal((await l.append([{ data: text("x"), time: 1 }])).firstSeq, 11);
    await l.close();
    assert.equal((await verifyLog(dir)).errors.length, 0);
  });
});

Deno.test("log - truncateBefore drops whole old segments only", async () => {
  await withDir(async (dir) => {
    const log = await open(dir, { segmentBytes: 200 });
    await fill(log, 30);
    const before = (await segmentFiles(dir)).length;
    const removed = await log.truncateBefore(15);
    assert.ok(removed > 0);
    assert.equal((await segmentFiles(dir)).length, before - removed);
    assert.ok(log.firstSeq <= 15 && log.firstSeq > 1);
    assert.equal((await readFrom(log, 1))[0].seq, log.firstSeq);
    await log.close();
    const again = await open(dir, { segmentBytes: 200 });
    assert.equal(again.lastSeq, 30);
    await again.close();
  });
});

Deno.test("log - always: concurrent appends share fsyncs (group commit) and all resolve", async () => {
  await withDir(async (dir) => {
    let syncs = 0;
    const log = await Log.open({ dir, fsync: { kind: "always" }, onSync: () => syncs++ });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => log.append([{ data: text(`r${i}`), time: i }])),
    );
    assert.deepEqual(results.map((r) => r.firstSeq), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.ok(syncs >= 1 && syncs < 200, `${syncs} fsyncs for 200 appends`);
    await log.close();
    const again = await open(dir);
    assert.equal(again.lastSeq, 200);
    await again.close();
  });
});

Deno.test("log - every fsync policy parses and acknowledges", async () => {
  assert.throws(() => parseFsyncPolicy("sometimes"), /interval:5/);
  assert.throws(() => parseFsyncPolicy("interval:0"));
  for (const text of ["always", "interval:2", "every:3", "never"]) {
    await withDir(async (dir) => {
      let syncs = 0;
      const log = await Log.open({ dir, fsync: parseFsyncPolicy(text), onSync: () => syncs++ });
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => log.append([{ data: new Uint8Array([i]), time: i }])),
      );
      await log.close();
      if (text !== "never") assert.ok(syncs >= 1, text);
    });
  }
});

Deno.test("log - encryption round trip; a wrong or missing key fails loudly; tampering is caught", async () => {
  await withDir(async (dir) => {
    const encryption = { secret: "s3cret", blockSize: 4096 as const };
    const log = await open(dir, { encryption });
    const big = new Uint8Array(10_000).map((_, i) => i % 251);
    await log.append([{ data: text("hello"), time: 1 }, { data: big, time: 2 }]);
    await log.close();
    const [name] = await segmentFiles(dir);
    const raw = await Deno.readFile(`${dir}/${name}`);
    assert.ok(!str(raw).includes("hello"), "plaintext is not on disk");
    const again = await open(dir, { encryption });
    const [a, b] = await readFrom(again, 1);
    assert.equal(str(a.data), "hello");
    assert.deepEqual(b.data, big);
    await again.close();
    await assert.rejects(open(dir, { encryption: { secret: "wrong" } }), LogKeyError);
    await assert.rejects(open(dir), LogKeyError);
    // Alter a sealed byte and fix up the CRC, as an attacker would: the MAC still catches it.
    const first = parseRecord(raw, 0);
    assert.ok(first.kind === "record");
    const tampered = raw.slice();
    const dataAt = first.record.data.byteOffset + 30;
    tampered[dataAt] ^= 1;
    writeRecord(tampered, 0, { ...first.record, data: tampered.subarray(dataAt - 30, first.end) });
    await Deno.writeFile(`${dir}/${name}`, tampered);
    const reopened = await open(dir, { encryption });
    await assert.rejects(readFrom(reopened, 1), LogKeyError);
    await reopened.close();
  });
});

Deno.test("log - reads see only whole written records while appends go on", async () => {
  await withDir(async (dir) => {
    const log = await open(dir);
    const writes = Array.from(
      { length: 50 },
      (_, i) => log.append([{ data: text(`w${i}`), time: i }]),
    );
    const seen = await readFrom(log, 1);
    assert.deepEqual(seen.map((r) => r.seq), Array.from({ length: seen.length }, (_, i) => i + 1));
    await Promise.all(writes);
    assert.equal((await readFrom(log, 1)).length, 50);
    await log.close();
  });
});

Deno.test("log - snapshots replace atomically and load back", async () => {
  const { readSnapshot, writeSnapshot } = await import("./snapshot.ts");
  await withDir(async (dir) => {
    assert.equal(await readSnapshot(dir, "state"), undefined);
    await writeSnapshot(dir, "state", text('{"upTo":5}'));
    await writeSnapshot(dir, "state", text('{"upTo":9}'));
    assert.equal(str((await readSnapshot(dir, "state"))!), '{"upTo":9}');
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["state.snapshot"], "no temp files left behind");
  });
});

Deno.test("log - logs sharing a bound of one open file take turns and lose nothing", async () => {
  await withDir(async (dir) => {
    const openFiles = new OpenFiles(1);
    const a = await open(`${dir}/a`, { openFiles, fsync: { kind: "every", n: 1000 } });
    const b = await open(`${dir}/b`, { openFiles, fsync: { kind: "every", n: 1000 } });
    for (let i = 0; i < 20; i++) await (i % 2 ? a : b).append([{ data: text(`r${i}`), time: i }]);
    assert.equal(openFiles.size, 1);
    assert.deepEqual(
      (await readFrom(a, 1)).map((r) => str(r.data)),
      ["r1", "r3", "r5", "r7", "r9"].concat(
        ["r11", "r13", "r15", "r17", "r19"],
      ),
    );
    await a.close();
    await b.close();
    const again = await open(`${dir}/b`);
    assert.equal(again.lastSeq, 10);
    await again.close();
  });
});

Deno.test("log - enqueue numbers at once; the durable watermark moves once per write", async () => {
  await withDir(async (dir) => {
    const moves: number[] = [];
    const log = await open(dir, { onDurable: (seq) => moves.push(seq) });
    assert.equal(log.enqueue([{ data: text("a"), time: 1 }, { data: text("b"), time: 2 }]), 1);
    const appended = log.append([{ data: text("c"), time: 3 }]);
    assert.equal(log.enqueue([{ data: text("d"), time: 4 }]), 4);
    assert.deepEqual(await appended, { firstSeq: 3, lastSeq: 3 });
    assert.deepEqual(moves, [4], "the appends of one tick are one write");
    assert.deepEqual((await readFrom(log, 1)).map((r) => r.seq), [1, 2, 3, 4]);
    await log.close();
  });
});

Deno.test("log - appends do not wait for the periodic state save; saves land in order", async () => {
  await withDir(async (dir) => {
    const saves: { highWater: number; done: PromiseWithResolvers<void> }[] = [];
    const asked = Promise.withResolvers<void>();
    const durable = Promise.withResolvers<void>();
    const log = await open(dir, {
      writeState: (_dir, state) => {
        const done = Promise.withResolvers<void>();
        saves.push({ highWater: state.highWater, done });
        if (saves.length === 2) asked.resolve(); // the periodic save, held
        else done.resolve(); // the save at open, and at close
        return done.promise;
      },
      onDurable: (seq) => seq === 2 && durable.resolve(),
    });
    const realNow = Date.now;
    Date.now = () => realNow() + 60_000; // the next write is past the save interval
    try {
      await log.append([{ data: text("a"), time: 1 }]);
      await within(asked.promise, 5000, "the periodic save");
      // That save is held: the next append is written and durable all the same.
      log.enqueue([{ data: text("b"), time: 2 }]);
      await within(durable.promise, 5000, "the append behind a held state save");
    } finally {
      Date.now = realNow;
    }
    const closed = log.close();
    saves[1].done.resolve();
    await closed;
    assert.deepEqual(saves.map((s) => s.highWater), [0, 1, 2], "in order; the last at close");
  });
});

Deno.test("log - losses: retention is not one; an emptied log reports its lost tail until accepted", async () => {
  await withDir(async (dir) => {
    const log = await open(dir, { segmentBytes: 200 });
    await fill(log, 20);
    await log.truncateBefore(10);
    await log.close();
    const kept = await open(dir, { segmentBytes: 200 });
    assert.deepEqual(kept.losses, []);
    assert.ok(kept.firstSeq > 1);
    await kept.close();
    for (const name of await segmentFiles(dir)) await Deno.remove(`${dir}/${name}`);
    const emptied = await open(dir, { segmentBytes: 200 });
    // Everything retention kept, up to the high-water mark.
    assert.deepEqual(emptied.losses.map((l) => [l.fromSeq, l.toSeq]), [[kept.firstSeq, 20]]);
    // Numbering goes on after the lost records (their numbers are not handed out again).
    assert.equal((await emptied.append([{ data: text("new"), time: 1 }])).firstSeq, 21);
    await emptied.acceptLosses();
    await emptied.close();
    const accepted = await open(dir, { segmentBytes: 200 });
    assert.deepEqual(accepted.losses, []);
    await accepted.close();
  });
});

Deno.test("log - a newest segment cut to 0 bytes: numbering goes on from its name, the tail is a loss", async () => {
  await withDir(async (dir) => {
    const log = await open(dir, { segmentBytes: 200 });
    await fill(log, 20);
    await log.truncateBefore(log.lastSeq); // retention: only the newest segment is left
    await log.close();
    const [newest] = await segmentFiles(dir);
    const base = Number(newest.slice(0, -4));
    await Deno.truncate(`${dir}/${newest}`, 0);
    const cut = await open(dir, { segmentBytes: 200 });
    assert.equal(cut.lastSeq, base - 1);
    assert.deepEqual(cut.losses.map((l) => [l.fromSeq, l.toSeq]), [[base, 20]]);
    assert.equal((await cut.append([{ data: text("new"), time: 1 }])).firstSeq, base);
    await cut.close();
  });
});
