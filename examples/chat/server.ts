import { bundleReactApp } from "./bundle.ts";
import { fileURLToPath } from "node:url";
import { signSubToken } from "../../src/auth/tokens.ts";
import { resolveConfig } from "../../src/server/config.ts";
import { loadOrCreateSecret } from "../../src/server/data-dir.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";

export interface ChatExampleOptions {
  /** catbusd's HTTP/WebSocket port, and UDP port for WebTransport (default 8080; 0 = any). */
  catbusPort?: number;
  /** The port serving the page (default 8081; 0 = any). */
  pagePort?: number;
  /** catbusd's data directory (default: a temporary one, removed on close). */
  dataDir?: string;
}

export interface ChatExample {
  /** Open this in two tabs. */
  pageUrl: string;
  catbus: RunningServer;
  /** A fresh token to read and write `chat.>`, as each page load gets one. */
  newToken(): Promise<string>;
  close(): Promise<void>;
}

const APP = fileURLToPath(new URL("./app.tsx", import.meta.url));
const INDEX = new URL("./index.html", import.meta.url);
const TOKEN_LIFETIME_S = 12 * 3600;

/**
 * The chat example: an in-process catbusd plus a small HTTP server for the page, its bundled
 * React app, and a token per page load (signed with catbusd's secret, like `catbus grant`).
 */
export async function startChatExample(
  options: ChatExampleOptions = {},
): Promise<ChatExample> {
  const { catbusPort = 8080, pagePort = 8081 } = options;
  const app = await bundleReactApp({ entryPoints: [APP] });
  const html = await Deno.readTextFile(INDEX);
  const dataDir = options.dataDir ??
    await Deno.makeTempDir({ prefix: "catbus-chat-" });
  const removeDataDir = () =>
    options.dataDir ? Promise.resolve() : Deno.remove(dataDir, { recursive: true });

  let catbus: RunningServer;
  try {
    catbus = await startServer(resolveConfig({
      flags: {
        bind: `127.0.0.1:${catbusPort}`,
        "tcp-bind": "127.0.0.1:0",
        data: dataDir,
        "log-level": "warn",
      },
      env: {},
    }));
  } catch (e) {
    await removeDataDir();
    throw e;
  }
  const secret = await loadOrCreateSecret(dataDir);
  const newToken = () =>
    signSubToken(secret, {
      clientId: `chat-${crypto.randomUUID()}`,
      grants: (["read", "write", "create"] as const).map((permission) => ({
        permission,
        pattern: "chat.>",
      })),
      expiresIn: TOKEN_LIFETIME_S,
    });

  // The page gets catbusd's URL and a token of its own in place of the "CATBUS_CONFIG" string.
  const pageHtml = async () =>
    html.replace(
      `"CATBUS_CONFIG"`,
      scriptJson({ url: catbus.endpoints.http, token: await newToken() }),
    );
  let page: Deno.HttpServer<Deno.NetAddr>;
  try {
    page = Deno.serve(
      { hostname: "127.0.0.1", port: pagePort, onListen() {} },
      async (request) => {
        switch (new URL(request.url).pathname) {
          case "/":
            return new Response(await pageHtml(), {
              headers: {
                "content-type": "text/html; charset=utf-8",
                "cache-control": "no-store",
              },
            });
          case "/app.js":
            return new Response(app, {
              headers: { "content-type": "text/javascript; charset=utf-8" },
            });
          default:
            return new Response("not found\n", { status: 404 });
        }
      },
    );
  } catch (e) {
    await catbus.close();
    await removeDataDir();
    throw e;
  }

  return {
    pageUrl: `http://127.0.0.1:${page.addr.port}`,
    catbus,
    newToken,
    async close() {
      await page.shutdown();
      await catbus.close();
      await removeDataDir();
    },
  };
}

/** JSON that cannot end the <script> element it is written into. */
const scriptJson = (value: unknown) => JSON.stringify(value).replaceAll("<", "\\u003c");
