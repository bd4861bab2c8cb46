/**
 * The floor Deno puts under an idle connection, for bench/idle-connections.ts:
 * `bare-deno.ts tcp READ_BYTES` accepts TCP connections and keeps one read of READ_BYTES pending
 * on each; `bare-deno.ts websocket` serves Deno.serve with Deno.upgradeWebSocket and holds the
 * sockets. Prints `listening PORT` on stdout; answers SIGUSR2 with its memory (memory-probe.ts).
 */
import { installMemoryProbe } from "./memory-probe.ts";

installMemoryProbe();
const [kind, readBytes = "16384"] = Deno.args;
const held = new Set<unknown>();

if (kind === "tcp") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`listening ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    held.add(conn);
    (async () => {
      const buffer = new Uint8Array(Number(readBytes));
      try {
        while (await conn.read(buffer) !== null) { /* drop what comes */ }
      } catch { /* reset */ }
      held.delete(conn);
      conn.close();
    })();
  }
} else if (kind === "websocket") {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`listening ${port}`),
  }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    held.add(socket);
    socket.onclose = () => held.delete(socket);
    return response;
  });
  await server.finished;
} else {
  throw new Error("usage: bare-deno.ts tcp [READ_BYTES] | websocket");
}
