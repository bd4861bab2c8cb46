import { tickBatcher } from "./batcher.ts";
import type { Transport, TransportConnection, TransportHandlers } from "./transport.ts";
import { fromBase64, httpBase } from "./http.ts";

export interface CertificateHash {
  algorithm: "sha-256";
  /** The hash bytes, or their base64 as `/.well-known/catbus/cert-hash` serves it. */
  value: BufferSource | string;
}

export interface WebTransportTransportOptions {
  /** Pins for a server with a self-signed certificate (browsers accept no other kind). */
  serverCertificateHashes?: CertificateHash[];
  /**
   * Development: fetch the pin from the server's `/.well-known/catbus/cert-hash` before each
   * connect (trusting whoever answers that HTTP request; do not use across untrusted networks).
   */
  fetchCertificateHash?: boolean;
  /** Give up after this many ms (blocked UDP often fails silently); default 3000. */
  connectTimeout?: number;
}

/** `http(s)://`, `ws(s)://` or `https://` server URL → the WebTransport session URL. */
export function webtransportUrl(url: string): string {
  const u = new URL(url);
  if (!["http:", "https:", "ws:", "wss:"].includes(u.protocol)) {
    throw new TypeError(
      `unsupported URL scheme ${u.protocol} for WebTransport; use https://`,
    );
  }
  return `https://${u.host}/catbus`;
}

async function pins(url: string, options: WebTransportTransportOptions) {
  const given = options.serverCertificateHashes ?? [];
  if (!options.fetchCertificateHash) return given;
  const response = await fetch(`${httpBase(url)}/.well-known/catbus/cert-hash`);
  if (!response.ok) {
    throw new Error(
      `no certificate hash at ${httpBase(url)} (${response.status})`,
    );
  }
  return [...given, (await response.json()) as CertificateHash];
}

/**
 * WebTransport (HTTP/3 over QUIC): one bidirectional stream carries native frames, as TCP does.
 * Browsers and Deno have `WebTransport`; the server listens on UDP at its HTTP port.
 */
export function webtransportTransport(
  options: WebTransportTransportOptions = {},
): Transport {
  return {
    async connect(
      url: string,
      handlers: TransportHandlers,
    ): Promise<TransportConnection> {
      const WebTransportClass = globalThis.WebTransport;
      if (!WebTransportClass) {
        throw new TypeError("no WebTransport in this runtime");
      }
      const serverCertificateHashes = (await pins(url, options)).map((h) => ({
        algorithm: h.algorithm,
        value: typeof h.value === "string" ? fromBase64(h.value) : h.value,
      }));
      const session = new WebTransportClass(webtransportUrl(url), {
        ...(serverCertificateHashes.length ? { serverCertificateHashes } : {}),
      } as WebTransportOptions);
      const timeout = options.connectTimeout ?? 3000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          session.ready,
          new Promise((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new Error(`no WebTransport answer within ${timeout} ms`),
                ),
              timeout,
            );
          }),
        ]);
      } catch (e) {
        session.close();
        throw new Error(
          `cannot connect to ${webtransportUrl(url)}: ${(e as Error).message}`,
        );
      } finally {
        clearTimeout(timer);
      }
      const stream = await session.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      let open = true;
      const end = (reason: string) => {
        if (!open) return;
        open = false;
        handlers.onClose(reason);
      };
      (async () => {
        for await (
          const chunk of stream.readable as unknown as AsyncIterable<Uint8Array>
        ) {
          handlers.onData(chunk);
        }
      })().then(() => end("closed"), (e) => end(String(e)));
      session.closed.then(() => end("closed"), (e) => end(String(e)));
      return {
        kind: "webtransport",
        send: tickBatcher((bytes) => {
          if (open) writer.write(bytes).catch(() => session.close());
        }),
        close: () => {
          try {
            session.close();
          } catch { /* already closed */ }
        },
      };
    },
  };
}
