/** A TCP relay on 127.0.0.1 whose connections can be cut, to simulate a network drop. */
export function startCuttableProxy(targetPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const live = new Set<Deno.Conn>();
  let refusing = false;
  const close = (c: Deno.Conn) => {
    try {
      c.close();
    } catch { /* closed */ }
  };
  (async () => {
    for await (const inbound of listener) {
      if (refusing) {
        close(inbound);
        continue;
      }
      const outbound = await Deno.connect({
        hostname: "127.0.0.1",
        port: targetPort,
      });
      live.add(inbound);
      live.add(outbound);
      const pipe = (a: Deno.Conn, b: Deno.Conn) =>
        a.readable.pipeTo(b.writable).catch(() => {}).finally(() => {
          for (const c of [a, b]) {
            live.delete(c);
            close(c);
          }
        });
      pipe(inbound, outbound);
      pipe(outbound, inbound);
    }
  })().catch(() => {});
  const cut = () => {
    for (const c of live) close(c);
    live.clear();
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** Drops every live connection; new ones are accepted again. */
    cut,
    /** Drops every live connection and refuses new ones until `up`. */
    down() {
      refusing = true;
      cut();
    },
    up() {
      refusing = false;
    },
    close() {
      cut();
      listener.close();
    },
  };
}
