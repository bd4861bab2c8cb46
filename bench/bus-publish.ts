/**
 * Sequential Bus publishes over HTTP (`POST /` of one small event, `--bus-auth open`, one
 * keep-alive connection through bench/http-client.ts) against a real catbusd with `--fsync never`.
 * Prints one JSON line: the server's CPU µs per request (from /proc) and the rate.
 *
 *   deno run -A bench/bus-publish.ts [--requests N] [--server-main OTHER_CHECKOUT/src/server/main.ts]
 *
 * `--server-main` runs another checkout's server (the old tree of an A/B).
 */
import { parseArgs } from "node:util";
import { startCatbusd } from "../test/helpers/catbusd.ts";
import { HttpClient } from "./http-client.ts";
import { cpuSeconds } from "./proc.ts";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: { requests: { type: "string", default: "20000" }, "server-main": { type: "string" } },
});
const requests = Number(opts.requests);
const serverMain = opts["server-main"] ??
  new URL("../src/server/main.ts", import.meta.url).pathname;
const WARM_UP = 2000;

await using server = await startCatbusd(["--namespaces", "app", "--fsync", "never"], {
  command: [Deno.execPath(), "run", "-A", "--unstable-net", serverMain],
});
const client = await HttpClient.connect(server.busUrl, { "content-type": "application/json" });
const event = new TextEncoder().encode(
  JSON.stringify({ subject: "app.orders", payload: { n: 1 } }),
);
const publish = async (count: number) => {
  for (let i = 0; i < count; i++) {
    const answer = await client.request("POST", "/", event);
    if (answer.status !== 202) {
      throw new Error(
        `publish answered ${answer.status}: ${new TextDecoder().decode(answer.body)}`,
      );
    }
  }
};
await publish(WARM_UP);
const cpuBefore = await cpuSeconds(server.pid);
const started = performance.now();
await publish(requests);
const seconds = (performance.now() - started) / 1000;
const cpu = await cpuSeconds(server.pid) - cpuBefore;
client.close();
console.log(JSON.stringify({
  scenario: "bus-http-publish",
  requests,
  cpuUsPerRequest: Math.round(cpu * 1e6 / requests),
  perSecond: Math.round(requests / seconds),
}));
