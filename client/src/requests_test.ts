import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { type Frame, FrameDecoder, FrameType } from "../shared/frame.ts";
import { PendingRequests } from "./requests.ts";

/** A connection that decodes what is sent over it. */
function recordingConnection() {
  const sent: Frame[] = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  return {
    sent,
    send: (bytes: Uint8Array) =>
      decoder.push(bytes, (e) => e.kind === "frame" && sent.push({ ...e.frame })),
    close: () => {},
  };
}

Deno.test("requests - answers settle their request by frame id; end() fails the rest", async () => {
  const requests = new PendingRequests(60_000);
  const conn = recordingConnection();
  const first = requests.send(conn, FrameType.Ping, undefined);
  const second = requests.send(conn, FrameType.Ping, undefined);
  assert.deepEqual(conn.sent.map((f) => f.id), [1, 2]);
  requests.resolve(conn.sent[0].id, { ok: true });
  assert.deepEqual(await first, { ok: true });
  const gone = new CatbusError(ErrorCode.Disconnected, "gone");
  requests.end(gone);
  await assert.rejects(second, (e) => e === gone);
  // A late answer to a settled request is ignored.
  requests.resolve(conn.sent[1].id, {});
});

Deno.test("requests - an unanswered request fails with timeout once the sweep sees it", async () => {
  const requests = new PendingRequests(20);
  requests.startSweeping();
  try {
    const asked = requests.send(recordingConnection(), FrameType.Ping, undefined);
    await within(
      assert.rejects(asked, (e) => e instanceof CatbusError && e.code === ErrorCode.Timeout),
      5000,
      "the timeout",
    );
  } finally {
    requests.end(new CatbusError(ErrorCode.Disconnected, "test over"));
  }
});
