/**
 * Runs the chat example: `deno run -A --unstable-net examples/chat/serve.ts [--port 8080]`.
 * catbusd listens on --port (HTTP, WebSocket, SSE; WebTransport on UDP), the page on --port + 1.
 */
import { parseArgs } from "node:util";
import { startChatExample } from "./server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" } },
});
const catbusPort = Number(values.port ?? 8080);
if (!Number.isInteger(catbusPort) || catbusPort < 1 || catbusPort > 65534) {
  console.error(`serve.ts: --port expects a port number, got ${values.port}`);
  Deno.exit(2);
}

const chat = await startChatExample({ catbusPort, pagePort: catbusPort + 1 });
console.log(`catbusd: ${chat.catbus.endpoints.http}`);
console.log(`Chat:    ${chat.pageUrl}  — open it in two tabs (Ctrl-C to stop)`);

const stop = async () => {
  await chat.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
