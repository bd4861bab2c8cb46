import { parseAddress } from "../core/address.ts";
import { cannotListen, displayHost } from "../dialects/door.ts";
import { type HttpDoor, type HttpLimits, serveHttpDoor } from "../transport/http-server.ts";
import type { AcceptReport, Admission } from "../transport/accept-loop.ts";
import type { ServerMetrics } from "./metrics.ts";
import { wholeResponse } from "../transport/http-response.ts";

/** `--metrics-bind`: GET /metrics on an address of its own (plain HTTP, e.g. a private one). */
export function serveMetrics(
  bind: string,
  origin: string,
  metrics: ServerMetrics,
  door: { admit: Admission; report: AcceptReport },
  limits: HttpLimits,
): { url: string; http: HttpDoor } {
  const address = parseAddress(bind, origin)!;
  let http: HttpDoor;
  try {
    http = serveHttpDoor({ ...address, ...door, limits }, (request) => {
      if (new URL(request.url).pathname === "/metrics") return metrics.respond();
      return wholeResponse(
        JSON.stringify({ code: "not_found", message: "this listener serves GET /metrics only" }) +
          "\n",
        { status: 404, headers: { "content-type": "application/json" } },
      );
    });
  } catch (e) {
    throw cannotListen(bind, origin, e);
  }
  return { url: `http://${displayHost(address.hostname)}:${http.port}/metrics`, http };
}
