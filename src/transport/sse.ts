const encoder = new TextEncoder();
const KEEPALIVE = encoder.encode(": ping\n\n");

export interface SseOptions {
  /** Bytes the stream may hold unread before it counts as congested. */
  highWaterBytes: number;
  /** Send a `: ping` comment after this long without output (ms). */
  keepAliveMs: number;
  headers?: Record<string, string>;
  /** The client went away or the stream was closed. */
  onClose(): void;
}

/** One `text/event-stream` response: frames are written as bytes, with backpressure. */
export class SseStream {
  readonly response: Response;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pullWaiters: (() => void)[] = [];
  #closed = false;
  #lastWrite = Date.now();
  readonly #keepAlive: ReturnType<typeof setInterval>;
  readonly #onClose: () => void;

  constructor(options: SseOptions) {
    this.#onClose = options.onClose;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => {
          for (const w of this.#pullWaiters.splice(0)) w();
        },
        cancel: () => this.#end(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterBytes }),
    );
    this.response = new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
        ...options.headers,
      },
    });
    this.#keepAlive = setInterval(() => {
      if (Date.now() - this.#lastWrite >= options.keepAliveMs) {
        this.send(KEEPALIVE);
      }
    }, Math.max(50, options.keepAliveMs / 2));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while the client reads slower than we write (over the high-water mark). */
  get congested(): boolean {
    return !this.#closed && (this.#controller.desiredSize ?? 0) <= 0;
  }

  /** Bytes written but not yet taken by the client, beyond the high-water mark. */
  get overflow(): number {
    return Math.max(0, -(this.#controller.desiredSize ?? 0));
  }

  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#lastWrite = Date.now();
    this.#controller.enqueue(bytes);
  }

  /** Resolves once the client has room again (or the stream closed). */
  ready(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((resolve) => this.#pullWaiters.push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.#controller.close();
    } catch { /* already closed by the reader */ }
    this.#end();
  }

  #end() {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    for (const w of this.#pullWaiters.splice(0)) w();
    this.#onClose();
  }
}

/** One SSE frame: optional id and event name, data split into `data:` lines. */
export function sseFrame(
  fields: { id?: string; event?: string; data: string },
): Uint8Array {
  let text = "";
  if (fields.id !== undefined) text += `id: ${fields.id}\n`;
  if (fields.event !== undefined) text += `event: ${fields.event}\n`;
  for (const line of fields.data.split("\n")) text += `data: ${line}\n`;
  return encoder.encode(text + "\n");
}
