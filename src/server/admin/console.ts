/** The web console at /console: static files served by catbusd (no CDN, no build step). */
import type { HttpMount } from "../../dialects/door.ts";
import { wholeResponse } from "../../transport/http-response.ts";
import { type ConsoleFile, consoleFile } from "./console-files.ts";

export const CONSOLE = "/console";

const FILES: Record<string, { file: ConsoleFile; type: string }> = {
  "": { file: "index.html", type: "text/html; charset=utf-8" },
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};

/** Pages may load only this server's own scripts and styles, and may not be framed. */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function consoleFiles(): HttpMount {
  const cache = new Map<string, Uint8Array<ArrayBuffer>>();
  return {
    prefix: CONSOLE,
    async handle(request) {
      const entry = FILES[new URL(request.url).pathname.slice(CONSOLE.length)];
      if (!entry || (request.method !== "GET" && request.method !== "HEAD")) {
        return wholeResponse("not found\n", { status: 404, headers: HEADERS });
      }
      let body = cache.get(entry.file);
      if (!body) {
        body = await consoleFile(entry.file);
        cache.set(entry.file, body);
      }
      return wholeResponse(request.method === "HEAD" ? null : body, {
        headers: { ...HEADERS, "content-type": entry.type },
      });
    },
  };
}
