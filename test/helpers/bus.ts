/** Requests to the Bus listener as Bus's clients send them, and status checks. */
import assert from "node:assert/strict";
import type { TestServer } from "./catbusd.ts";

/** `POST /` with a JSON body (a string is sent as it is: raw JSON text). */
export const post = (
  server: TestServer,
  body: unknown,
  query = "",
  headers: Record<string, string> = {},
) =>
  fetch(`${server.busUrl}/${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** `PUT /?consumer_id=&event_id=`, as Bus's Go SDK acks. */
export const put = (
  server: TestServer,
  consumerId: string,
  eventId: string,
  headers: Record<string, string> = {},
) =>
  fetch(`${server.busUrl}/?consumer_id=${consumerId}&event_id=${eventId}`, {
    method: "PUT",
    headers,
  });

/** Reads the whole answer and checks its status (and body). */
export async function expectStatus(response: Promise<Response>, status: number, text?: RegExp) {
  const r = await response;
  const body = await r.text();
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${body}`);
  if (text) assert.match(body, text);
  return r;
}
