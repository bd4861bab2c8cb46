import type { SessionTransport } from "../protocol/session.ts";
import { base64 } from "../../client/shared/bytes.ts";
import { createSelfSignedCert } from "./self-signed-cert.ts";
import type { StreamHandler } from "./tcp.ts";
import { acceptLoop, type AcceptReport, type Admission, admitAll } from "./accept-loop.ts";

/** The only path served (clients open `https://host:port/catbus`); sessions to others are closed. */
export const WEBTRANSPORT_PATH = "/catbus";

export interface WebTransportOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key; without them a self-signed one is made and rotated. */
  cert?: string;
  key?: string;
  /** Self-signed certificates: validity (ms, ≤ 14 days) and how long before expiry to rotate. */
  validityMs?: number;
  rotateBeforeMs?: number;
  /** Names the self-signed certificate covers besides localhost, 127.0.0.1 and ::1. */
  names?: string[];
  onRotate?: (hash: CertificateHash) => void;
  /** A QUIC connection with nothing heard for this long is gone (its session ends); 30 s. */
  idleTimeoutMs?: number;
  /** A slot per session; sessions over the limit are refused at the QUIC handshake. */
  admit?: Admission;
  report?: AcceptReport;
}

const QUIET: AcceptReport = { failing: () => {}, recovered: () => {} };

/** What a page pins: `new WebTransport(url, { serverCertificateHashes: [{ algorithm, value }] })`. */
export interface CertificateHash {
  algorithm: "sha-256";
  /** Base64 of the SHA-256 of the DER certificate. */
  value: string;
  /** ms since the epoch: fetch the hash again after this. */
  expires: number;
}

const DAY = 86_400_000;

/**
 * The WebTransport (HTTP/3 over QUIC, UDP) listener: each session opens one bidirectional
 * stream that carries native frames exactly as TCP does. Needs Deno's `--unstable-net`.
 *
 * Without a configured certificate it makes a self-signed ECDSA one valid for 10 days and,
 * 3 days before expiry, replaces it: new sessions get the new certificate on the same port,
 * open ones go on (pages fetch the new hash when they next connect).
 */
export class WebTransportListener {
  readonly #options: WebTransportOptions;
  readonly #accept: (transport: SessionTransport) => StreamHandler;
  #endpoint?: Deno.QuicEndpoint;
  #listener?: Deno.QuicListener;
  #rotation?: ReturnType<typeof setTimeout>;
  #hash?: CertificateHash;
  #port = 0;
  #closed = false;

  private constructor(
    options: WebTransportOptions,
    accept: (transport: SessionTransport) => StreamHandler,
  ) {
    this.#options = options;
    this.#accept = accept;
  }

  static async start(
    options: WebTransportOptions,
    accept: (transport: SessionTransport) => StreamHandler,
  ): Promise<WebTransportListener> {
    const listener = new WebTransportListener(options, accept);
    await listener.#listen(options.port);
    return listener;
  }

  get port(): number {
    return this.#port;
  }

  /** The self-signed certificate's hash, or undefined with a configured certificate. */
  get certificateHash(): CertificateHash | undefined {
    return this.#hash;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#rotation);
    this.#endpoint?.close();
  }

  async #listen(port: number) {
    let { cert, key } = this.#options;
    if (!cert || !key) {
      const validity = this.#options.validityMs ?? 10 * DAY;
      const made = await createSelfSignedCert(
        ["localhost", "127.0.0.1", "::1", ...this.#options.names ?? []],
        validity / DAY,
      );
      ({ cert, key } = made);
      this.#hash = {
        algorithm: "sha-256",
        value: base64(made.sha256),
        expires: made.notAfter,
      };
      const rotateIn = made.notAfter -
        (this.#options.rotateBeforeMs ?? 3 * DAY) - Date.now();
      this.#rotation = setTimeout(() => this.#rotate(), Math.max(0, rotateIn));
    }
    // One UDP endpoint for the listener's life; a rotation only swaps the TLS listener on it,
    // so sessions already open keep going.
    this.#endpoint ??= new Deno.QuicEndpoint({ hostname: this.#options.hostname, port });
    this.#port = this.#endpoint.addr.port;
    this.#listener?.stop();
    const listener = this.#endpoint.listen({
      cert,
      key,
      alpnProtocols: ["h3"],
      maxIdleTimeout: this.#options.idleTimeoutMs ?? 30_000,
    });
    this.#listener = listener;
    acceptLoop(
      () => listener.incoming(),
      (incoming) => this.#admit(incoming),
      this.#options.report ?? QUIET,
    );
  }

  async #rotate() {
    if (this.#closed) return;
    await this.#listen(this.#port);
    if (this.#hash) this.#options.onRotate?.(this.#hash);
  }

  #admit(incoming: Deno.QuicIncoming) {
    const release = (this.#options.admit ?? admitAll)();
    if (!release) return incoming.refuse();
    this.#serve(incoming).catch(() => {/* the peer went away or spoke no WebTransport */})
      .finally(release);
  }

  /**
   * One session, from handshake to end. Every promise of the connection and the session is
   * observed: a peer that vanishes makes them reject ("timed out" after the idle timeout), and
   * an unobserved rejection would end the whole process.
   */
  async #serve(incoming: Deno.QuicIncoming) {
    const conn = await incoming.accept();
    const connClosed = conn.closed.catch(() => {});
    try {
      const session = await Deno.upgradeWebTransport(conn);
      session.closed.catch(() => {});
      await session.ready;
      const path = new URL(session.url, "https://catbus").pathname;
      if (path !== WEBTRANSPORT_PATH) {
        session.close({ closeCode: 404, reason: `nothing at ${path}: open ${WEBTRANSPORT_PATH}` });
        await session.closed.catch(() => {}); // so the reason leaves before the connection ends
        return;
      }
      await this.#carry(conn, session);
    } finally {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await connClosed;
  }

  async #carry(conn: Deno.QuicConn, session: WebTransport) {
    const streams = session.incomingBidirectionalStreams.getReader();
    const { value: stream } = await streams.read();
    streams.releaseLock();
    if (!stream) return;
    const writer = stream.writable.getWriter();
    writer.closed.catch(() => {});
    const addr = conn.remoteAddr;
    let open = true;
    const transport: SessionTransport = {
      remote: `wt:${addr.hostname}:${addr.port}`,
      write: (batch) => writer.write(batch),
      close: () => {
        if (!open) return;
        open = false;
        // Closing the session resets its streams and drops what is still in flight (the error
        // frame that explains a refusal), even after the writer has closed: end the stream and
        // let the client, which reads that frame, close the session; after a second, close it.
        writer.close().catch(() => {});
        const hangUp = setTimeout(() => {
          try {
            session.close();
          } catch { /* already closed */ }
        }, 1000);
        session.closed.finally(() => clearTimeout(hangUp)).catch(() => {});
      },
    };
    const handler = this.#accept(transport);
    try {
      for await (const chunk of stream.readable) {
        const paused = handler.receive(chunk);
        if (paused) await paused;
      }
    } catch { /* reset by the peer or closed by us */ }
    open = false;
    handler.connectionEnded();
  }
}
