import { CatbusClient } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import type { TestServer } from "./catbusd.ts";

/** A connected native client over TCP (the admin key unless a token is given). */
export async function nativeClient(server: TestServer, token = server.adminKey) {
  const client = new CatbusClient({ url: server.tcpUrl, token, transport: tcpTransport() });
  await client.connect();
  return client;
}
