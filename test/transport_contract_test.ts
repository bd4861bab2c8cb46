/** The transport contract (test/contracts/transport.ts) run against every client transport. */
import { sseTransport, websocketTransport, webtransportTransport } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { transportContract } from "./contracts/transport.ts";

transportContract({ name: "TCP", make: () => tcpTransport(), url: (s) => s.tcpUrl });
transportContract({ name: "WebSocket", make: () => websocketTransport(), url: (s) => s.wsUrl });
transportContract({
  name: "WebTransport",
  make: () => webtransportTransport({ fetchCertificateHash: true }),
  url: (s) => s.httpUrl,
});
transportContract({ name: "SSE+POST", make: () => sseTransport(), url: (s) => s.httpUrl });
