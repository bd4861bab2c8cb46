/**
 * Headless Chromium against catbusd: round-trip latency and 1→1 throughput from a page over
 * WebTransport and over WebSocket. `deno run -A bench/browser.ts [--quick]`; prints a markdown
 * table. Needs Debian's chromium (/usr/bin/chromium, or CATBUS_CHROMIUM).
 */
import { launchChromium } from "../test/helpers/browser.ts";
import { startCatbusd } from "../test/helpers/catbusd.ts";

const quick = Deno.args.includes("--quick");
const ROUND_TRIPS = quick ? 200 : 2000;
const STREAM = quick ? 5000 : 50_000;

const browser = await launchChromium("bench/browser.ts");
if (!browser) Deno.exit(0);
const server = await startCatbusd(["--fsync", "never"]);
try {
  const page = await browser.newPage();
  await page.goto(`${server.httpUrl}/health`);
  console.log(
    `| transport | round trip p50 | p99 | 1→1 throughput (128 B, ${
      STREAM.toLocaleString("en")
    } msgs) |`,
  );
  console.log("|---|---|---|---|");
  for (const kind of ["webtransport", "websocket"]) {
    const r = await page.evaluate(async ({ url, token, kind, roundTrips, stream }) => {
      const { CatbusClient, autoTransport } = await import(`${url}/catbus/client.js`);
      const client = new CatbusClient({
        url,
        token,
        transport: autoTransport({ order: [kind], webtransport: { fetchCertificateHash: true } }),
      });
      await client.connect();
      // Round trip: publish, and wait for the message to come back through a subscription.
      let arrived = () => {};
      await client.subscribe(`bench.rtt.${kind}`, () => arrived());
      const samples: number[] = [];
      for (let i = 0; i < roundTrips; i++) {
        const back = new Promise<void>((r) => arrived = r);
        const start = performance.now();
        client.send(`bench.rtt.${kind}`, i);
        await back;
        samples.push(performance.now() - start);
      }
      samples.sort((a, b) => a - b);
      // Throughput: fire-and-forget publishes to a channel the same page subscribes to.
      let received = 0;
      const all = Promise.withResolvers<void>();
      await client.subscribe(`bench.tp.${kind}`, () => {
        if (++received === stream) all.resolve();
      });
      const payload = "x".repeat(120);
      const start = performance.now();
      for (let i = 0; i < stream; i++) {
        client.send(`bench.tp.${kind}`, payload);
        if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 0)); // let frames flow
      }
      await all.promise;
      const seconds = (performance.now() - start) / 1000;
      const used = client.transportKind;
      await client.disconnect();
      return {
        used,
        p50: samples[Math.floor(samples.length * 0.5)],
        p99: samples[Math.floor(samples.length * 0.99)],
        rate: stream / seconds,
      };
    }, {
      url: server.httpUrl,
      token: server.adminKey,
      kind,
      roundTrips: ROUND_TRIPS,
      stream: STREAM,
    });
    console.log(
      `| ${r.used} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${
        Math.round(r.rate).toLocaleString("en")
      } msg/s |`,
    );
  }
} finally {
  await browser.close();
  await server.stop();
}
