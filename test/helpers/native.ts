import { CatbusClient } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import type { TestServer } from "./catbusd.ts";

/** A connected native client over TCP (the admin key unless a token is given). */
export async function nativeClient(server: TestServer, token = server.adminKey) {
  const client = new CatbusClient({ url: server.tcpUrl, token, transport: tcpTransport() });
  await client.connect();
  return client;
}

/** A `sub-` token made with `catbus grant ARGS…`, as a user would make it. */
export async function grantToken(server: TestServer, ...args: string[]): Promise<string> {
  const out = await server.cli(["grant", ...args]);
  if (out.code !== 0) throw new Error(`catbus grant ${args.join(" ")} failed: ${out.stderr}`);
  return out.stdout.split("\n")[0];
}
