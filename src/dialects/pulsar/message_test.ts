import assert from "node:assert/strict";
import type { BusMessage } from "../../core/message.ts";
import { listItem, messageIdOf, pushFrame, seqOfId } from "./message.ts";

const message = (headers?: Record<string, string>): BusMessage => ({
  channel: "pulsar.jobs",
  seq: 42,
  epoch: "e",
  id: "x",
  time: Date.UTC(2025, 9, 9, 12),
  payload: new TextEncoder().encode('{"a":[1,2]}'),
  binary: false,
  ...(headers ? { headers } : {}),
});

Deno.test("pulsar message - ids are <ms>-<seq>, as Valkey stream ids look", () => {
  assert.equal(messageIdOf(message()), "1760011200000-42");
  assert.equal(seqOfId("1760011200000-42"), 42);
  for (const bad of ["msg_abc", "1-", "-1", "1-2-3", "a-1"]) {
    assert.equal(seqOfId(bad), undefined, bad);
  }
});

Deno.test("pulsar message - one shape for pushes and lists, the payload as stored", () => {
  const m = message({ "pulsar-metadata": '{"k":"v"}' });
  assert.deepEqual(JSON.parse(pushFrame(m)), {
    type: "message",
    message_id: "1760011200000-42",
    topic: "jobs",
    payload: { a: [1, 2] },
    timestamp: "2025-10-09T12:00:00.000Z",
    metadata: { k: "v" },
  });
  const { type: _, ...item } = JSON.parse(pushFrame(m));
  assert.deepEqual(JSON.parse(listItem(m)), item);
  assert.deepEqual(JSON.parse(listItem(message())).metadata, {});
});
