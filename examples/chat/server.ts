import { bundleReactApp } from "./bundle.ts";
import { fileURLToPath } from "node:url";
import { mintToken } from "../../client/tokens.ts";

export interface ChatExampleOptions {
  /** catbusd's HTTP/WebSocket port, and UDP port for WebTransport (default 8080; 0 = any). */
  catbusPort?: number;
  /** The port serving the page (default 8081; 0 = any). */
  pagePort?: number;
  /** catbusd's data directory (default: a temporary one, removed on close). */
  dataDir?: string;
}

/** Where the catbusd process listens. */
export interface CatbusProcess {
  endpoints: { http: string; tcp: string };
}

export interface ChatExample {
  /** Open this in two tabs. */
  pageUrl: string;
  catbus: CatbusProcess;
  /** A fresh token to read and write `chat.>`, as each page load gets one. */
  newToken(): Promise<string>;
  close(): Promise<void>;
}

const APP = fileURLToPath(new URL("./app.tsx", import.meta.url));
const INDEX = new URL("./index.html", import.meta.url);
const CATBUSD = fileURLToPath(new URL("../../bin/catbusd.mjs", import.meta.url));
const TOKEN_LIFETIME_S = 12 * 3600;

/**
 * Runs catbusd as its own process, as an app's deployment would, with a signing secret that
 * this backend also holds (as it would hold it in its configuration).
 */
async function startCatbusd(port: number, dataDir: string, secret: string) {
  const child = new Deno.Command("node", {
    args: [CATBUSD, "--bind", `127.0.0.1:${port}`, "--tcp-bind", "127.0.0.1:0", "--data", dataDir],
    env: { CATBUS_SECRET: secret, CATBUS_LOG_LEVEL: "info" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let said = "";
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await stderr.read();
    if (done) throw new Error(`catbusd exited before listening:\n${said}`);
    said += value;
    const listening = /http=(\S+) websocket=\S+ tcp=(\S+)/.exec(said);
    if (listening) {
      // Keep reading, so catbusd never blocks on a full pipe.
      (async () => {
        while (!(await stderr.read()).done);
      })();
      const stop = async () => {
        child.kill("SIGTERM");
        await child.status;
      };
      return { endpoints: { http: listening[1], tcp: listening[2] }, stop };
    }
  }
}

/**
 * The chat example: catbusd in its own process plus a small HTTP server for the page, its
 * bundled React app, and a token per page load, minted by this backend with `mintToken`.
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

  const secret = crypto.randomUUID();
  let catbus: Awaited<ReturnType<typeof startCatbusd>>;
  try {
    catbus = await startCatbusd(catbusPort, dataDir, secret);
  } catch (e) {
    await removeDataDir();
    throw e;
  }
  const newToken = () =>
    mintToken({
      clientId: `chat-${crypto.randomUUID()}`,
      grants: (["read", "write", "create"] as const).map((permission) => ({
        permission,
        pattern: "chat.>",
      })),
      expiresIn: TOKEN_LIFETIME_S,
    }, secret);

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
    await catbus.stop();
    await removeDataDir();
    throw e;
  }

  return {
    pageUrl: `http://127.0.0.1:${page.addr.port}`,
    catbus: { endpoints: catbus.endpoints },
    newToken,
    async close() {
      await page.shutdown();
      await catbus.stop();
      await removeDataDir();
    },
  };
}

/** JSON that cannot end the <script> element it is written into. */
const scriptJson = (value: unknown) => JSON.stringify(value).replaceAll("<", "\\u003c");
