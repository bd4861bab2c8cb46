/**
 * RCP as an independent client sees it, written from the spec (../shared/specs/rcp.md): its own
 * frame encoder and CRC-32C, no code from src/sm. Covers framing, malformed input answered with
 * BAD_REQUEST on a connection that stays usable, jsonl from the first byte, and a watcher too
 * slow to read being told what it lost.
 */
import assert from "node:assert/strict";
import { ORDER, startSm } from "./sm_helpers.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface FrameOptions {
  version?: number;
  flags?: number;
  extension?: Uint8Array;
  crc?: number;
  magic?: string;
}

function frame(payload: Uint8Array, o: FrameOptions = {}): Uint8Array {
  const ext = o.extension ?? new Uint8Array(0);
  const out = new Uint8Array(18 + ext.length + payload.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(o.magic ?? "RCPX"));
  v.setUint16(4, o.version ?? 1);
  v.setUint16(6, o.flags ?? 1);
  v.setUint16(8, ext.length);
  v.setUint32(10, payload.length);
  v.setUint32(14, o.crc ?? crc32c(payload));
  out.set(ext, 18);
  out.set(payload, 18 + ext.length);
  return out;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const request = (id: string, op: string, params: unknown = {}) =>
  json({ type: "request", id, op, params });

/** A raw connection that parses the server's frames itself. */
class Raw {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  jsonl = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#reader = conn.readable.getReader();
  }

  static async open(port: number) {
    return new Raw(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(bytes: Uint8Array) {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      const next = new Uint8Array(this.#buf.length + value.length);
      next.set(this.#buf);
      next.set(value, this.#buf.length);
      this.#buf = next;
    }
    return true;
  }

  /** The next message, or undefined when the server closed the connection. */
  async next(): Promise<{ flags: number; message: Record<string, unknown> } | undefined> {
    if (this.jsonl) {
      for (;;) {
        const nl = this.#buf.indexOf(0x0a);
        if (nl >= 0) {
          const line = this.#buf.subarray(0, nl);
          this.#buf = this.#buf.slice(nl + 1);
          return { flags: 0, message: JSON.parse(new TextDecoder().decode(line)) };
        }
        if (!await this.#fill(this.#buf.length + 1)) return undefined;
      }
    }
    if (!await this.#fill(18)) return undefined;
    const v = new DataView(this.#buf.buffer, this.#buf.byteOffset);
    assert.equal(new TextDecoder().decode(this.#buf.subarray(0, 4)), "RCPX");
    assert.equal(v.getUint16(4), 1);
    const flags = v.getUint16(6);
    assert.ok(flags & 1, "the server always sets CRC_PRESENT");
    const total = 18 + v.getUint16(8) + v.getUint32(10);
    const crc = v.getUint32(14);
    if (!await this.#fill(total)) return undefined;
    const payload = this.#buf.slice(18 + v.getUint16(8), total);
    this.#buf = this.#buf.slice(total);
    assert.equal(crc32c(payload), crc, "payload CRC");
    return { flags, message: JSON.parse(new TextDecoder().decode(payload)) };
  }

  async response(): Promise<Record<string, unknown>> {
    for (;;) {
      const got = await this.next();
      assert.ok(got, "connection closed");
      if (got.message.type === "response") return got.message;
    }
  }

  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

const code = (r: Record<string, unknown>) =>
  (r.error as { code: string } | undefined)?.code ?? r.status;

Deno.test("sm conformance - frames, HELLO, extension blocks and pipelined requests", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1, wire_modes: ["binary_json"] })));
  const hello = await c.response();
  assert.deepEqual([hello.id, hello.status], ["h", "ok"]);
  assert.equal((hello.result as { wire_mode: string }).wire_mode, "binary_json");
  // Two requests in one write, one with an extension block and one without a CRC.
  await c.send(
    new Uint8Array([
      ...frame(request("1", "PUT_MACHINE", { machine: "m", version: 1, definition: ORDER }), {
        extension: new Uint8Array([1, 2, 3]),
      }),
      ...frame(request("2", "PING"), { flags: 0, crc: 0 }),
    ]),
  );
  const answers = [await c.response(), await c.response()].sort((a, b) =>
    String(a.id).localeCompare(String(b.id))
  );
  assert.deepEqual(answers.map((a) => [a.id, a.status]), [["1", "ok"], ["2", "ok"]]);
  c.close();
});

Deno.test("sm conformance - malformed input gets BAD_REQUEST and the connection stays usable", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  assert.equal((await c.response()).status, "ok");
  const bad: [Uint8Array, string][] = [
    [frame(request("x", "PING"), { crc: 12345 }), "BAD_REQUEST"],
    [frame(new TextEncoder().encode("{not json")), "BAD_REQUEST"],
    [frame(new Uint8Array([0xff, 0xfe])), "BAD_REQUEST"],
    [frame(json([1, 2])), "BAD_REQUEST"],
    [frame(json({ type: "request", op: "PING" })), "BAD_REQUEST"],
    [frame(request("u", "FLY")), "BAD_REQUEST"],
    [frame(request("v", "PING"), { version: 9 }), "UNSUPPORTED_PROTOCOL"],
    [frame(request("f", "PING"), { flags: 0x41 }), "BAD_REQUEST"],
    [frame(request("z", "PING"), { flags: 0x3 }), "BAD_REQUEST"],
    [frame(request("p", "APPLY_EVENT", { instance_id: 5 })), "BAD_REQUEST"],
  ];
  for (const [bytes, expected] of bad) {
    await c.send(bytes);
    const r = await c.response();
    assert.equal(code(r), expected, JSON.stringify(r));
    await c.send(frame(request("ping", "PING")));
    assert.equal((await c.response()).status, "ok", "still usable");
  }
  // An oversized frame is skipped without buffering it.
  const huge = new Uint8Array(18);
  huge.set(new TextEncoder().encode("RCPX"));
  new DataView(huge.buffer).setUint16(4, 1);
  new DataView(huge.buffer).setUint32(10, 17 * 1024 * 1024);
  await c.send(huge);
  assert.equal(code(await c.response()), "BAD_REQUEST");
  c.close();

  // A bad magic loses the frame boundary: an answer, then the connection closes.
  const d = await Raw.open(server.rcpPort!);
  await d.send(frame(request("1", "PING"), { magic: "XXXX" }));
  assert.equal(code(await d.response()), "BAD_REQUEST");
  assert.equal(await d.next(), undefined);
  d.close();
});

Deno.test("sm conformance - a jsonl client from the first byte; HELLO required first", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  c.jsonl = true;
  const line = (v: unknown) => c.send(new TextEncoder().encode(JSON.stringify(v) + "\n"));
  await line({ type: "request", id: "1", op: "LIST_MACHINES" });
  assert.equal(code(await c.response()), "BAD_REQUEST");
  await line({
    type: "request",
    id: "2",
    op: "HELLO",
    params: { protocol_version: 1, wire_modes: ["jsonl"] },
  });
  assert.equal((await c.response()).status, "ok");
  await c.send(new TextEncoder().encode("not json\r\n"));
  assert.equal(code(await c.response()), "BAD_REQUEST");
  await line({ type: "request", id: "3", op: "LIST_MACHINES" });
  const r = await c.response();
  assert.deepEqual([r.id, r.status], ["3", "ok"]);
  c.close();
});

Deno.test("sm conformance - a watcher that stops reading is told it lost events, with where to resume", async () => {
  await using server = await startSm(["--sm-fsync", "never"]);
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  await c.response();
  await c.send(frame(request("p", "PUT_MACHINE", {
    machine: "m",
    version: 1,
    definition: { states: ["s"], initial: "s", transitions: [{ from: "s", event: "E", to: "s" }] },
  })));
  await c.response();
  await c.send(
    frame(request("i", "CREATE_INSTANCE", { instance_id: "x", machine: "m", version: 1 })),
  );
  await c.response();
  const slow = await Raw.open(server.rcpPort!);
  await slow.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  await slow.response();
  await slow.send(frame(request("w", "WATCH_ALL", { include_ctx: true })));
  await slow.response();
  // ~40 MiB of events with a watcher that does not read: more than the socket buffers and the
  // server's 8 MiB queue hold.
  const big = "x".repeat(64 * 1024);
  for (let i = 0; i < 640; i += 32) {
    const batch = [];
    for (let j = i; j < i + 32; j++) {
      batch.push(
        ...frame(
          request(`e${j}`, "APPLY_EVENT", { instance_id: "x", event: "E", payload: { big, j } }),
        ),
      );
    }
    await c.send(new Uint8Array(batch));
    for (let j = 0; j < 32; j++) assert.equal((await c.response()).status, "ok");
  }
  let delivered = 0;
  for (;;) {
    const got = await slow.next();
    assert.ok(got, "closed before the notice");
    if (got.message.lost) {
      assert.ok(got.flags & 8, "END_STREAM");
      const error = got.message.error as { code: string; details: { resume_from_offset: number } };
      assert.equal(error.code, "RATE_LIMITED");
      assert.ok(error.details.resume_from_offset > 0);
      break;
    }
    delivered++;
  }
  assert.ok(delivered < 640);
  c.close();
  slow.close();
});
