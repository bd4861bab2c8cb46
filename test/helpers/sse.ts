import { AsyncQueue } from "./queue.ts";

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * A minimal EventSource for tests, written from the SSE format (not the server's code):
 * fields until a blank line make an event; lines starting with ":" are comments.
 */
export async function openSse(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events = new AsyncQueue<SseEvent>();
  const comments = new AsyncQueue<string>();
  const done = (async () => {
    if (!response.ok || !response.body) return;
    let buffer = "";
    let current: Partial<SseEvent> & { data?: string } = {};
    try {
      for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === "") {
            if (current.data !== undefined) {
              events.push({
                id: current.id,
                event: current.event ?? "message",
                data: current.data,
              });
            }
            current = {};
          } else if (line.startsWith(":")) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(":");
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, "");
            if (field === "data") {
              current.data = current.data === undefined ? value : `${current.data}\n${value}`;
            } else if (field === "id") current.id = value;
            else if (field === "event") current.event = value;
          }
        }
      }
    } catch { /* aborted */ }
  })();
  return {
    response,
    /** Resolves when the server ends the stream. */
    ended: done,
    next: () => events.next(),
    get buffered() {
      return events.size;
    },
    comments,
    async close() {
      controller.abort();
      await done;
    },
  };
}
