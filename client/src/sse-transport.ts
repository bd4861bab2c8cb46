import { concat } from "../shared/bytes.ts";
import type { Transport, TransportConnection, TransportHandlers } from "./transport.ts";
import { SSE_SESSION_SECRET_HEADER } from "../shared/messages.ts";
import { fromBase64, httpBase } from "./http.ts";

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads a `text/event-stream` body event by event. */
async function* sseEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: Partial<SseEvent> = {};
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (event.data !== undefined) {
          yield { event: "message", ...event } as SseEvent;
        }
        event = {};
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") {
          event.data = event.data === undefined ? value : `${event.data}\n${value}`;
        } else if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
      }
    }
  }
}

/**
 * For networks where UDP and WebSocket are both blocked: frames come down a server-sent event
 * stream (base64, one event per batch) and go up in HTTP POSTs, one at a time so they stay in
 * order. When the stream drops, it is reattached once with `Last-Event-ID` and nothing is
 * lost; if that fails, the connection is over (the client then reconnects and resumes).
 */
export function sseTransport(): Transport {
  return {
    async connect(
      url: string,
      handlers: TransportHandlers,
    ): Promise<TransportConnection> {
      const base = httpBase(url);
      const abort = new AbortController();
      const open = async (headers: Record<string, string>, query = "") => {
        const response = await fetch(`${base}/sse${query}`, {
          headers,
          signal: abort.signal,
        });
        if (!response.ok || !response.body) {
          throw new Error(`cannot open ${base}/sse (${response.status})`);
        }
        return sseEvents(response.body);
      };
      let events = await open({});
      const first = await events.next();
      if (first.done || first.value.event !== "session") {
        abort.abort();
        throw new Error(`${base}/sse did not start a session`);
      }
      const { id: session, secret } = JSON.parse(first.value.data) as {
        id: string;
        secret: string;
      };
      // The secret goes in a header, never in a URL (which proxies and logs keep).
      const auth = { [SSE_SESSION_SECRET_HEADER]: secret };
      let closed = false;
      let lastId: string | undefined;
      const end = (reason: string) => {
        if (closed) return;
        closed = true;
        abort.abort();
        handlers.onClose(reason);
      };
      (async () => {
        for (let reattached = false;;) {
          for await (const e of events) {
            if (e.event === "error") return end(e.data);
            if (e.id !== undefined) lastId = e.id;
            handlers.onData(fromBase64(e.data));
            reattached = false;
          }
          if (closed || reattached) return end("event stream ended");
          reattached = true;
          events = await open(
            { ...auth, ...(lastId ? { "last-event-id": lastId } : {}) },
            `?session=${session}`,
          );
        }
      })().catch((e) => end(String(e)));

      let queue: Uint8Array[] = [];
      let posting = false;
      const post = async () => {
        posting = true;
        while (queue.length && !closed) {
          const body = concat(queue);
          queue = [];
          const r = await fetch(`${base}/sse/${session}`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/octet-stream" },
            body: body as Uint8Array<ArrayBuffer>,
          }).catch(() => undefined);
          await r?.body?.cancel();
          if (!r?.ok) {
            return end(`upstream POST failed (${r?.status ?? "network"})`);
          }
        }
        posting = false;
      };
      return {
        kind: "sse",
        send: (bytes) => {
          queue.push(bytes);
          if (!posting) queueMicrotask(() => posting || post());
        },
        close: () => {
          // Tell the server at once rather than letting it wait out the reattach grace.
          fetch(`${base}/sse/${session}`, { method: "DELETE", headers: auth })
            .then((r) => r.body?.cancel())
            .catch(() => {});
          end("closed by the client");
        },
      };
    },
  };
}
