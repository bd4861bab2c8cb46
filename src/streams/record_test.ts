import assert from "node:assert/strict";
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
