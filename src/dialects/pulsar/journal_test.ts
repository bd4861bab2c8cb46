import assert from "node:assert/strict";
import { join } from "node:path";
import { Journal } from "./journal.ts";

const none = () => Promise.resolve();

Deno.test("journal - entries appended at once are all kept, in order, and read back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "j.jsonl");
    const { journal, entries } = await Journal.open(path, none);
    assert.deepEqual(entries, []);
    await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append({ i })));
    await journal.close();
    const again = await Journal.open(path, none);
    assert.deepEqual(again.entries, Array.from({ length: 50 }, (_, i) => ({ i })));
    assert.equal(again.journal.size, (await Deno.stat(path)).size);
    await again.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal - a torn last line is dropped and cut off, so the next line starts clean", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "j.jsonl");
    await Deno.writeTextFile(path, '{"a":1}\n{"b":');
    const { journal, entries } = await Journal.open(path, none);
    assert.deepEqual(entries, [{ a: 1 }]);
    await journal.append({ c: 3 });
    await journal.close();
    assert.equal(await Deno.readTextFile(path), '{"a":1}\n{"c":3}\n');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal - a last line that does not parse is torn too (cut off), even with its newline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "j.jsonl");
    await Deno.writeTextFile(path, '{"a":1}\n{"b"\0\0\n');
    const { journal, entries } = await Journal.open(path, none);
    assert.deepEqual(entries, [{ a: 1 }]);
    await journal.close();
    assert.equal(await Deno.readTextFile(path), '{"a":1}\n');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal - a damaged line before the last refuses to open, naming the line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "j.jsonl");
    await Deno.writeTextFile(path, '{"a":1}\n{"b"\n{"c":3}\n');
    await assert.rejects(Journal.open(path, none), /j\.jsonl line 2 is damaged.*backup/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal - clear from afterWrite empties the file; later entries follow", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "j.jsonl");
    let clears = 0;
    const { journal } = await Journal.open(path, async () => {
      if (clears++ === 0) await journal.clear(); // runs after a write: `journal` is set by then
    });
    await journal.append({ gone: true });
    await journal.append({ kept: true });
    await journal.close();
    const again = await Journal.open(path, none);
    assert.deepEqual(again.entries, [{ kept: true }]);
    await again.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
