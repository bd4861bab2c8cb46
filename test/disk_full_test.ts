import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { sample, scrape } from "./helpers/prometheus.ts";

/** A 4 MiB tmpfs as data directory; undefined (said on the console) when we may not mount. */
async function smallDisk(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "catbus-full-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir],
    stderr: "piped",
  }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
  if (mount.success) return dir;
  await Deno.remove(dir);
  const why = new TextDecoder().decode(mount.stderr).trim();
  if (Deno.env.get("CI") === "true") throw new Error(`cannot mount a tmpfs in CI: ${why}`);
  console.log(`SKIPPED disk full test: cannot mount a tmpfs (${why}); run as root`);
  return undefined;
}

async function unmount(dir: string) {
  await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir, { recursive: true });
}

/** Writes a file until the disk is full. */
async function fillDisk(path: string) {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) await file.write(chunk);
  } catch (e) {
    assert.equal((e as { code?: string }).code, "ENOSPC", String(e));
  } finally {
    file.close();
  }
}

Deno.test({
  name:
    "disk full - publishes fail with unavailable, work again once space is back, nothing acked is lost",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const data = await smallDisk();
    if (!data) return;
    try {
      const acked: number[] = [];
      {
        await using server = await startCatbusd([], { data });
        const c = await RawConnection.connect(server.tcpPort);
        await c.hello(server.adminKey);
        const publish = async (channel: string, n: number) => {
          const answer = await c.reply(
            await c.send(FrameType.Publish, { channel }, json({ n, pad: "x".repeat(2000) })),
          );
          if (answer.type === FrameType.Ok) acked.push(n);
          return answer;
        };
        for (let n = 0; n < 5; n++) assert.equal((await publish("full.x", n)).type, FrameType.Ok);
        await fillDisk(`${data}/filler`);
        let refused;
        for (let n = 5; !refused && n < 100; n++) {
          const answer = await publish("full.x", n);
          if (answer.type !== FrameType.Ok) refused = answer;
        }
        assert.ok(refused, "a publish on a full disk fails");
        assert.equal(refused.json.code, "unavailable", JSON.stringify(refused.json));
        assert.match(String(refused.json.message), /disk full/);
        assert.doesNotMatch(String(refused.json.message), /\.seg|\.json/, "no server paths");
        const metrics = await scrape(`${server.httpUrl}/metrics`);
        const failed = sample(metrics, "catbus_storage_failures_total", { namespace: "full" });
        assert.ok(failed! >= 1, "the engine's refusals are counted");
        // A burst in flight: what does not fit fails, and its sequences are handed out again.
        const burst = new Map<number, number>();
        for (let n = 2000; n < 2020; n++) {
          const payload = json({ n, pad: "x".repeat(n % 2 ? 3000 : 10) });
          burst.set(await c.send(FrameType.Publish, { channel: "full.x" }, payload), n);
        }
        for (const [id, n] of burst) {
          const answer = await c.reply(id);
          if (answer.type === FrameType.Ok) acked.push(n);
          else assert.equal(answer.json.code, "unavailable", JSON.stringify(answer.json));
        }
        // A new namespace cannot be stored either, and says so.
        const fresh = await publish("other.x", -1);
        assert.equal(fresh.json.code, "unavailable", JSON.stringify(fresh.json));
        await Deno.remove(`${data}/filler`);
        // Space is back: the same server goes on, numbering on from the last stored message.
        const again = await publish("full.x", 1000);
        assert.equal(again.type, FrameType.Ok, JSON.stringify(again.json));
        assert.equal(again.json.seq, acked.length);
        assert.equal((await publish("other.x", 1001)).type, FrameType.Ok);
        c.close();
      }
      await using restarted = await startCatbusd([], { data });
      const c = await RawConnection.connect(restarted.tcpPort);
      await c.hello(restarted.adminKey);
      await c.reply(await c.send(FrameType.Subscribe, { pattern: "*.x", from: "first" }));
      const stored: number[] = [];
      while (stored.length < acked.length) {
        const m = await c.next((f) => f.type === FrameType.Message);
        stored.push(JSON.parse(new TextDecoder().decode(m.data)).n);
      }
      assert.deepEqual(stored.sort((a, b) => a - b), acked.sort((a, b) => a - b));
      c.close();
    } finally {
      await unmount(data);
    }
  },
});
