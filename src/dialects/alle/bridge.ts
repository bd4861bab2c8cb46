import { openPool, redactUrl, type Sql } from "../../connectors/postgres/connect.ts";
import { checkChannelName, checkNotifyPayload } from "../../connectors/postgres/identifiers.ts";
import { type NotificationGap, PgListener } from "../../connectors/postgres/listener.ts";
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { sseFrame } from "../../transport/sse.ts";
import { textFrame } from "../../transport/websocket-frames.ts";

/**
 * One NOTIFY as the bridge hands it to every subscriber of its channel. Its encodings are made
 * once, by the first subscriber that needs one, and shared by all the others.
 */
export class Notification {
  readonly channel: string;
  readonly payload: string;
  #wire?: string;
  #frame?: Uint8Array;
  #event?: Uint8Array;

  constructor(channel: string, payload: string) {
    this.channel = channel;
    this.payload = payload;
  }

  /** Alle's `notification` message, serialized once for all WebSocket subscribers. */
  get wire(): string {
    return this.#wire ??= JSON.stringify({
      type: "notification",
      channel: this.channel,
      payload: this.payload,
    });
  }

  /** The `notification` message as a WebSocket text frame. */
  get frame(): Uint8Array {
    return this.#frame ??= textFrame(this.wire);
  }

  /** Alle's SSE event: `event: message` with `{"channel","payload"}`. */
  get event(): Uint8Array {
    return this.#event ??= sseFrame({
      event: "message",
      data: JSON.stringify({ channel: this.channel, payload: this.payload }),
    });
  }
}

/** Who receives a channel's notifications (an Alle client, a library user). */
export interface AlleSubscriber {
  notification(notification: Notification): void;
  /** The PostgreSQL connection was down: notifications on `channels` between may be lost. */
  gap(gap: NotificationGap, channels: string[]): void;
}

export interface AlleBridgeOptions {
  /** The database whose LISTEN/NOTIFY channels are bridged (Alle's POSTGRES_URL). */
  postgresUrl: string;
  /** Listened to from the start, whoever subscribes (Alle's LISTEN_CHANNELS). */
  channels?: readonly string[];
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName?: string;
  log?: Logger;
  /** Every notification on a listened channel, before the subscribers get it. */
  onNotification?(channel: string, payload: string): void;
  /** After a reconnect: notifications on `channels` (every one listened to) may be lost. */
  onGap?(gap: NotificationGap, channels: string[]): void;
}

interface Channel {
  subscribers: Set<AlleSubscriber>;
  /** Resolves once LISTEN ran; every subscriber that arrives meanwhile waits for it. */
  listening: Promise<void>;
}

/**
 * PostgreSQL LISTEN/NOTIFY for many subscribers, as Alle's bridge: reference-counted LISTEN on
 * one dedicated connection (the first subscriber of a channel runs LISTEN, the last one to leave
 * UNLISTEN), each notification handed only to its channel's subscribers, NOTIFY through
 * `pg_notify` with parameters. Unlike the original it reconnects (re-LISTENing every channel and
 * telling each subscriber what may have been lost), resolves `subscribe` only after LISTEN
 * succeeded, and refuses bad names and payloads before they reach PostgreSQL.
 *
 * ```ts
 * const bridge = await AlleBridge.connect({ postgresUrl: "postgres://localhost/app" });
 * await bridge.subscribe("orders", { notification: (n) => console.log(n.channel, n.payload), gap() {} });
 * await bridge.notify("orders", "New order #123");
 * ```
 */
export class AlleBridge {
  readonly #options: AlleBridgeOptions;
  readonly #listener: PgListener;
  readonly #sql: Sql;
  readonly #channels = new Map<string, Channel>();
  readonly #fixed: AlleSubscriber = { notification() {}, gap() {} };

  private constructor(options: AlleBridgeOptions) {
    this.#options = options;
    const name = options.applicationName ?? "catbus alle";
    this.#sql = openPool(options.postgresUrl, name);
    this.#listener = new PgListener(options.postgresUrl, `${name} listen`, {
      onNotification: (channel, payload) => this.#notification(channel, payload),
      onLost: () =>
        options.log?.("warn", "alle: the PostgreSQL LISTEN connection dropped; reconnecting", {
          url: redactUrl(options.postgresUrl),
        }),
      onReconnect: (gap) => this.#reconnected(gap),
    });
  }

  /**
   * Connects (retrying with back-off while PostgreSQL is unreachable, each failure logged) and
   * listens to `options.channels`; resolves once that is done.
   */
  static async connect(options: AlleBridgeOptions): Promise<AlleBridge> {
    const bridge = AlleBridge.open(options);
    await bridge.ready;
    return bridge;
  }

  /** A bridge that connects in the background; `ready` resolves once it has. */
  static open(options: AlleBridgeOptions): AlleBridge {
    const bridge = new AlleBridge(options);
    bridge.ready = bridge.#start();
    return bridge;
  }

  /** Resolves once connected and listening to the fixed channels. */
  ready: Promise<void> = Promise.resolve();

  async #start() {
    const options = this.#options;
    await this.#listener.startWithRetry((error, attempt) => {
      if (attempt === 1 || attempt % 10 === 0) {
        options.log?.("warn", "alle: PostgreSQL is unreachable; retrying", {
          url: redactUrl(options.postgresUrl),
          error: error.message,
          attempt,
        });
      }
    });
    for (const channel of options.channels ?? []) await this.subscribe(channel, this.#fixed);
  }

  get connected(): boolean {
    return this.#listener.connected;
  }

  /** Adds `subscriber` to `channel`; resolves once the bridge LISTENs to it. */
  async subscribe(channel: string, subscriber: AlleSubscriber): Promise<void> {
    checkChannelName(channel);
    let entry = this.#channels.get(channel);
    if (!entry) {
      const listening = this.#listener.listen(channel).catch((e) => {
        if (this.#channels.get(channel) === entry) this.#channels.delete(channel);
        throw failure("LISTEN", e);
      });
      entry = { subscribers: new Set(), listening };
      this.#channels.set(channel, entry);
    }
    entry.subscribers.add(subscriber);
    await entry.listening;
  }

  /** Removes `subscriber` from `channel`; the last one out makes the bridge UNLISTEN. */
  async unsubscribe(channel: string, subscriber: AlleSubscriber): Promise<void> {
    const entry = this.#channels.get(channel);
    if (!entry?.subscribers.delete(subscriber) || entry.subscribers.size > 0) return;
    this.#channels.delete(channel);
    await this.#listener.unlisten(channel).catch((e) =>
      this.#options.log?.("warn", "alle: UNLISTEN failed", { channel, error: String(e) })
    );
  }

  /** Every channel `subscriber` is on, for a client that leaves. */
  async unsubscribeAll(subscriber: AlleSubscriber): Promise<void> {
    for (const [channel, entry] of [...this.#channels]) {
      if (entry.subscribers.has(subscriber)) await this.unsubscribe(channel, subscriber);
    }
  }

  /** Is the bridge LISTENing (or about to) on `channel`? */
  isListening(channel: string): boolean {
    return this.#channels.has(channel);
  }

  /** `pg_notify(channel, payload)`; resolves once PostgreSQL ran it. */
  async notify(channel: string, payload: string): Promise<void> {
    checkChannelName(channel);
    checkNotifyPayload(payload);
    try {
      await this.#sql`select pg_notify(${channel}, ${payload})`;
    } catch (e) {
      throw failure("NOTIFY", e);
    }
  }

  /** `pg_listening_channels()` on the LISTEN connection itself: what PostgreSQL sees. */
  async listeningChannels(): Promise<string[]> {
    const rows = await this.#listener.query((sql) =>
      sql`select pg_listening_channels() as channel`
    );
    return rows.map((r) => r.channel as string).sort();
  }

  async close(): Promise<void> {
    this.#channels.clear();
    await this.#listener.close();
    await this.#sql.end({ timeout: 1 });
  }

  #notification(channel: string, payload: string) {
    this.#options.onNotification?.(channel, payload);
    const entry = this.#channels.get(channel);
    if (!entry) return;
    const notification = new Notification(channel, payload);
    for (const s of entry.subscribers) s.notification(notification);
  }

  #reconnected(gap: NotificationGap) {
    this.#options.log?.("info", "alle: PostgreSQL reconnected; channels listened to again", {
      channels: this.#channels.size,
      lost_from: gap.from.toISOString(),
      lost_to: gap.to.toISOString(),
    });
    this.#options.onGap?.(gap, [...this.#channels.keys()]);
    const bySubscriber = new Map<AlleSubscriber, string[]>();
    for (const [channel, entry] of this.#channels) {
      for (const s of entry.subscribers) {
        const list = bySubscriber.get(s);
        if (list) list.push(channel);
        else bySubscriber.set(s, [channel]);
      }
    }
    for (const [s, channels] of bySubscriber) s.gap(gap, channels);
  }
}

/** PostgreSQL's refusal, for the client: what failed and why (its own message). */
function failure(what: string, e: unknown): CatbusError {
  if (isCatbusError(e)) return e;
  return new CatbusError(
    ErrorCode.Unavailable,
    `${what} failed in PostgreSQL: ${(e as Error).message}`,
    { cause: e },
  );
}
