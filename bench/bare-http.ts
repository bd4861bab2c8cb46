/**
 * The ceiling of a round trip on this machine for bench/pulsar.ts: a bare `Deno.serve` that reads
 * each POST's body and answers JSON of the size and shape the Pulsar door answers (a 201 receipt,
 * or a 207 with one result per bulk item), with no parsing, auth or storage.
 * `deno run -A bench/bare-http.ts` prints `{"port":…}` once listening.
 */

const receipt = (i: number) => ({
  message_id: `${Date.now()}-${i}`,
  topic: "benchmark-topic-0",
  timestamp: new Date().toISOString(),
});

const bulk = (n: number) =>
  JSON.stringify({
    results: Array.from(
      { length: n },
      (_, i) => ({ ...receipt(i), status: "accepted", error: null }),
    ),
    summary: { total: n, accepted: n, rejected: 0 },
  });

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
  const body = await req.bytes();
  const isBulk = new URL(req.url).pathname.endsWith("/bulk");
  // The bulk item count without parsing: one `"topic"` per item.
  const items = isBulk ? new TextDecoder().decode(body).split('"topic"').length - 1 : 0;
  return new Response(isBulk ? bulk(items) : JSON.stringify(receipt(0)), {
    status: isBulk ? 207 : 201,
    headers: { "content-type": "application/json" },
  });
});
console.log(JSON.stringify({ port: server.addr.port }));
