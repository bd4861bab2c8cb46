import type { PulsarContext } from "./context.ts";
import { HttpError } from "./http.ts";
import type { Answer } from "../../transport/http-response.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

export type Handler = (
  ctx: PulsarContext,
  request: HttpRequest,
  params: string[],
  info: RequestInfo,
) => Answer | Promise<Answer>;

/** What a handler knows of the connection besides the request. */
export interface RequestInfo {
  /** Takes over the request's connection slot (a WebSocket); call the result when it ends. */
  keep(): () => void;
  /** The peer's address (`127.0.0.1:50122`). */
  remote: string;
}

/** `[method, path template, handler]`; `{name}` matches one path segment. Earlier routes win. */
export type Route = [string, string, Handler];

interface Compiled {
  method: string;
  template: string;
  pattern: RegExp;
  handler: Handler;
}

interface Found {
  handler: Handler;
  params: string[];
  template: string;
}

/** FastAPI's routing: the first matching route; 404 / 405 in its words when none does. */
export class Router {
  readonly #routes: Compiled[];
  /**
   * What `find` answered for a method and path a template without parameters matched: at most
   * one entry per such route, so a publish loop does not run the patterns per request.
   */
  readonly #fixed = new Map<string, Found>();

  constructor(routes: Route[]) {
    this.#routes = routes.map(([method, template, handler]) => ({
      method,
      template,
      pattern: new RegExp(`^${template.replace(/\{[a-z_]+\}/g, "([^/]+)")}$`),
      handler,
    }));
  }

  find(method: string, path: string): Found {
    const key = `${method} ${path}`;
    const fixed = this.#fixed.get(key);
    if (fixed) return fixed;
    let pathMatched = false;
    for (const r of this.#routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const found = {
        handler: r.handler,
        params: m.slice(1).map(decodeURIComponent),
        template: r.template,
      };
      if (m.length === 1) this.#fixed.set(key, found);
      return found;
    }
    if (pathMatched) throw new HttpError(405, "Method Not Allowed");
    throw new HttpError(404, "Not Found");
  }
}
