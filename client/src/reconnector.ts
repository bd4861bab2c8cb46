import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { backoffDelay } from "./backoff.ts";

export type ConnectionState =
  | "disconnected"
  | "connecting"
  | "authenticating"
  | "connected"
  | "reconnecting";

export interface ReconnectPolicy {
  autoReconnect: boolean;
  reconnectDelay: number;
  maxReconnectDelay: number;
  reconnectJitter: number;
}

/** What the reconnect loop drives: the client's connection. */
export interface Connectable {
  /**
   * One attempt: opens a connection and completes hello. `current()` turns false once the
   * client was disconnected meanwhile: the attempt must then drop what it opened.
   */
  open(current: () => boolean): Promise<void>;
  /** Whether reconnecting cannot help after this error. */
  isPermanent(e: unknown): e is CatbusError;
  setState(state: ConnectionState): void;
  reportError(error: CatbusError): void;
  /** No more reconnects after a lost connection: what waits for one fails with `error`. */
  ended(error: CatbusError): void;
}

/** What work waiting for the connection fails with once it is gone. */
export const disconnected = () =>
  new CatbusError(
    ErrorCode.Disconnected,
    "the connection to the server was lost",
  );

/**
 * When to (re)connect: the first `connect()`'s retries and the reconnects after a drop, with
 * backoff between attempts, until the client disconnects or the server refuses for good.
 */
export class Reconnector {
  readonly #policy: ReconnectPolicy;
  readonly #target: Connectable;
  #timer?: ReturnType<typeof setTimeout>;
  /** Ends the pause between first-connect attempts early (stop). */
  #wake?: () => void;
  #attempt = 0;
  /** The connect in progress, if any. */
  #connecting?: Promise<void>;
  /** Bumped by stop(), so a connect it interrupted drops its connection. */
  #generation = 0;
  #stopped = true;

  constructor(policy: ReconnectPolicy, target: Connectable) {
    this.#policy = policy;
    this.#target = target;
  }

  /** Set by stop() or a permanent error: no more reconnects. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Connects, with `retry` trying again after each failure; a second call joins the first. */
  connect(retry: boolean): Promise<void> {
    return this.#connecting ??= (async () => {
      this.#stopped = false;
      this.#target.setState("connecting");
      const generation = this.#generation;
      try {
        for (let attempt = 0;; attempt++) {
          this.#target.setState("connecting");
          try {
            return await this.#open();
          } catch (e) {
            const permanent = this.#target.isPermanent(e);
            if (!retry || permanent || generation !== this.#generation) throw e;
            this.#reportAttempt(e);
          }
          await this.#pause(this.#backoff(attempt));
          if (generation !== this.#generation) throw disconnected();
        }
      } catch (e) {
        this.#stopped = true;
        this.#target.setState("disconnected");
        throw e;
      } finally {
        this.#connecting = undefined;
      }
    })();
  }

  /** Connected: the next drop starts the backoff over. */
  connected(): void {
    this.#attempt = 0;
  }

  /** The connection dropped: reconnect unless told not to. */
  lost(): void {
    if (this.#stopped || !this.#policy.autoReconnect) {
      this.#stopped = true;
      this.#target.ended(disconnected());
      return;
    }
    this.#target.setState("reconnecting");
    this.#schedule();
  }

  /** The server refused for good: this connection is the last one. */
  halt(): void {
    this.#stopped = true;
  }

  /** disconnect(): no more attempts, and the one in progress drops what it opens. */
  stop(): void {
    this.#stopped = true;
    this.#generation++;
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  #open(): Promise<void> {
    const generation = this.#generation;
    return this.#target.open(() => generation === this.#generation);
  }

  #backoff(attempt: number): number {
    return backoffDelay(attempt, {
      initial: this.#policy.reconnectDelay,
      max: this.#policy.maxReconnectDelay,
      jitter: this.#policy.reconnectJitter,
    });
  }

  /** Waits between first-connect attempts; stop() ends the wait at once. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => resolve();
      this.#timer = setTimeout(resolve, ms);
    }).finally(() => this.#wake = undefined);
  }

  /** Refusals are worth knowing (e.g. getToken's token refused); lost attempts are not. */
  #reportAttempt(e: unknown) {
    if (e instanceof CatbusError && e.code !== ErrorCode.Disconnected) {
      this.#target.reportError(e);
    }
  }

  #schedule() {
    const delay = this.#backoff(this.#attempt++);
    this.#timer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.#open();
      } catch (e) {
        if (this.#target.isPermanent(e)) {
          this.#stopped = true;
          this.#target.reportError(e);
          this.#target.ended(e);
          return;
        }
        this.#reportAttempt(e);
        if (!this.#stopped) this.#schedule();
      }
    }, delay);
  }
}
