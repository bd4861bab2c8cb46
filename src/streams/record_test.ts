import assert from "node:assert/strict";
import { rawRecord } from "../core/stored-records.ts";
import { LogRecords } from "./log-records.ts";
import { decodeStored, encodeStored, type StoredMessage } from "./record.ts";

Deno.test("stream record - round trip with and without optional parts", () => {
  const cases: StoredMessage[] = [
    {
      channel: "a.b",
      id: "01ABC",
      binary: false,
      payload: new TextEncoder().encode('{"x":1}'),
      expiresAt: 0,
      key: "",
    },
    {
      channel: "ünï.cødé",
      id: "01XYZ",
      binary: true,
      payload: new Uint8Array([0, 255, 7]),
      headers: { trace: "t-1" },
      expiresAt: 1_800_000_000_000,
      key: "order-42",
    },
  ];
  for (const c of cases) {
    const back = decodeStored(encodeStored(c));
    assert.deepEqual({ ...back, payload: [...back.payload] }, { ...c, payload: [...c.payload] });
  }
});

Deno.test("stream record - sized exactly, whatever the characters (no bytes past the payload)", () => {
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  const m: StoredMessage = {
    channel: "ünï.x",
    id: "01ABC",
    binary: true,
    payload: new Uint8Array([1, 2, 3]),
    headers: { "ü": "€" },
    expiresAt: 5,
    // A lone surrogate is written as U+FFFD (3 bytes), as TextEncoder does.
    key: "ключ-\ud800",
  };
  const encoded = encodeStored(m);
  const headers = JSON.stringify(m.headers);
  assert.equal(
    encoded.length,
    1 + 1 + bytes(m.channel) + 1 + bytes(m.id) + 8 + 2 + bytes(m.key) + 4 + bytes(headers) + 3,
  );
  const back = decodeStored(encoded);
  assert.equal(back.key, "ключ-\ufffd");
  assert.deepEqual([...back.payload], [1, 2, 3]);
  assert.deepEqual(back.headers, m.headers);
  assert.equal(back.expiresAt, 5);
});

Deno.test("stream record - bytes written by the layout as documented are read by both readers", () => {
  // flags, channel "a.b", id "i1", expiresAt 2.5, key "k", headers {"h":"v"}, payload [1]:
  // the layout of every record stored so far, which replays copy from and must keep reading.
  const f64 = new Uint8Array(new Float64Array([2.5]).buffer).reverse();
  const headers = [...new TextEncoder().encode('{"h":"v"}')];
  const bytes = Uint8Array.from([
    ...[0, 3, 0x61, 0x2e, 0x62, 2, 0x69, 0x31, ...f64, 0, 1, 0x6b],
    ...[0, 0, 0, headers.length, ...headers, 0x31],
  ]);
  assert.deepEqual(decodeStored(bytes), {
    channel: "a.b",
    id: "i1",
    binary: false,
    expiresAt: 2.5,
    key: "k",
    headers: { h: "v" },
    payload: Uint8Array.of(0x31),
  });
  const records = new LogRecords([{ seq: 7, time: 9, data: bytes }], "e");
  const raw = rawRecord();
  assert.ok(records.raw(0, raw));
  const text = (start: number, end: number) => new TextDecoder().decode(bytes.subarray(start, end));
  assert.deepEqual(
    [
      records.channel(0),
      records.expiresAt(0),
      text(raw.idStart, raw.idEnd),
      text(raw.headersStart, raw.headersEnd),
      text(raw.payloadStart, raw.payloadEnd),
    ],
    ["a.b", 2.5, "i1", '{"h":"v"}', "1"],
  );
});
