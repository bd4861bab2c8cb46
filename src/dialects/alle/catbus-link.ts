import type { Broker, InterestListener, Subscriber } from "../../core/broker.ts";
import { ErrorCode } from "../../../client/shared/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { BusMessage } from "../../core/message.ts";
import type { AlleBridge, AlleSubscriber } from "./bridge.ts";
import { catbusChannel, FROM_POSTGRES, ORIGIN_HEADER, PG_NAMESPACE } from "./channels.ts";

/** Echoes remembered at most (NOTIFYs sent from Catbus whose copy has not come back yet). */
const MAX_ECHOES = 10_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A NOTIFY payload as a Catbus payload: always a JSON string (PostgreSQL sends text). */
export const payloadOfNotify = (text: string): Uint8Array => encoder.encode(JSON.stringify(text));

/** A Catbus payload as NOTIFY text: a JSON string's value, any other JSON value's text. */
export function notifyTextOf(message: BusMessage): string {
  const text = decoder.decode(message.payload);
  try {
    const value = JSON.parse(text);
    return typeof value === "string" ? value : text;
  } catch {
    return text;
  }
}

/**
 * Joins PostgreSQL's channels and the Catbus namespace `pg`, both ways: a NOTIFY on a channel the
 * bridge listens to is published as `pg.<channel>`, and a message published to `pg.<channel>`
 * by any door becomes `pg_notify(channel, …)`. The NOTIFY Catbus sent comes back on the LISTEN
 * connection: that copy is not published again (Catbus subscribers had the original), but Alle
 * clients get it, as they would any NOTIFY.
 *
 * A native subscription to a literal `pg.<channel>` makes the bridge LISTEN there (counted with
 * the Alle clients on it); a wildcard one (`pg.*`, `pg.>`) cannot be LISTENed and sees only the
 * channels something else listens to.
 *
 * On a stored `pg` shared by several nodes (`--alle-persist` on a shared engine), only one node
 * joins the two (`joining`, while it holds the advisory lock): it alone publishes NOTIFYs, so each
 * is stored once, and it alone turns what is published to `pg.<channel>` on any node (it reaches
 * every node through the engine) into a NOTIFY, so each is sent once.
 */
export class CatbusLink {
  readonly #broker: Broker;
  readonly #log: Logger;
  #bridge?: AlleBridge;
  /** `channel\0payload` → NOTIFYs sent from Catbus on a listened channel, not yet back. */
  readonly #echoes = new Map<string, number>();
  readonly #watcher: Subscriber = { deliver: (m) => this.#fromCatbus(m) };
  /** The native subscribers, as one subscriber of the bridge (the link publishes what comes). */
  readonly #natives: AlleSubscriber = { notification() {}, gap() {} };
  /** False while another node joins a shared, stored `pg` to PostgreSQL (see above). */
  #joining = true;
  /** The channels native subscribers want LISTENed (a LISTEN may still wait for the bridge). */
  readonly #wanted = new Set<string>();
  readonly #interest: InterestListener = {
    gained: (pattern) => this.#listenFor(pattern),
    lost: (pattern) => {
      const channel = this.#pgChannelOf(pattern);
      if (channel && this.#wanted.delete(channel)) {
        this.#bridge?.unsubscribe(channel, this.#natives);
      }
    },
  };

  constructor(broker: Broker, log: Logger) {
    this.#broker = broker;
    this.#log = log;
  }

  async start(bridge: AlleBridge): Promise<void> {
    this.#bridge = bridge;
    if (!this.#broker.namespace(PG_NAMESPACE)) await this.#broker.createNamespace(PG_NAMESPACE);
    this.#broker.watch(`${PG_NAMESPACE}.>`, this.#watcher);
    this.#broker.watchInterest(PG_NAMESPACE, this.#interest);
  }

  stop(): void {
    this.#broker.unwatch(`${PG_NAMESPACE}.>`, this.#watcher);
    this.#broker.unwatchInterest(PG_NAMESPACE);
  }

  /** Whether this node joins `pg` and PostgreSQL (set as the advisory lock comes and goes). */
  set joining(on: boolean) {
    this.#joining = on;
    // A NOTIFY sent before is no echo any more: the next node to join publishes what comes.
    this.#echoes.clear();
  }

  get joining(): boolean {
    return this.#joining;
  }

  /** After a reconnect (the bridge's `onGap`): every native subscriber of those channels is told. */
  gap = (_gap: unknown, channels: string[]): void => {
    if (!this.#joining) return;
    const names = channels.map(catbusChannel).filter((n): n is string => n !== undefined);
    this.#broker.reportLoss(PG_NAMESPACE, names, ErrorCode.Unavailable);
  };

  /** The PostgreSQL channel of a literal `pg.<channel>` pattern, else undefined. */
  #pgChannelOf(pattern: string): string | undefined {
    const channel = pattern.slice(PG_NAMESPACE.length + 1);
    return catbusChannel(channel) === pattern ? channel : undefined;
  }

  /** LISTENs for a native subscriber; the subscriber's answer waits for it while connected. */
  #listenFor(pattern: string): Promise<void> | undefined {
    const channel = this.#pgChannelOf(pattern);
    const bridge = this.#bridge;
    if (!channel || !bridge) return;
    this.#wanted.add(channel);
    const failed = (e: unknown) =>
      this.#log("warn", "alle: LISTEN for a native subscriber failed", {
        channel,
        error: (e as Error).message,
      });
    if (bridge.connected) return bridge.subscribe(channel, this.#natives).catch(failed);
    bridge.ready.then(() => {
      if (this.#wanted.has(channel)) return bridge.subscribe(channel, this.#natives);
    }).catch(failed);
  }

  /** A NOTIFY on a listened channel (given to the bridge as its `onNotification`). */
  fromPostgres = (channel: string, payload: string): void => {
    if (!this.#joining) return;
    const key = `${channel}\0${payload}`;
    const echoes = this.#echoes.get(key);
    if (echoes) {
      if (echoes === 1) this.#echoes.delete(key);
      else this.#echoes.set(key, echoes - 1);
      return;
    }
    const name = catbusChannel(channel);
    if (!name || !this.#broker.namespace(PG_NAMESPACE)) return;
    this.#broker.publish({
      channel: name,
      payload: payloadOfNotify(payload),
      headers: { [ORIGIN_HEADER]: FROM_POSTGRES },
    }).catch((e) =>
      this.#log("warn", "alle: a NOTIFY could not be published", { channel, error: String(e) })
    );
  };

  #fromCatbus(message: BusMessage) {
    const bridge = this.#bridge;
    if (!bridge || !this.#joining || message.headers?.[ORIGIN_HEADER] === FROM_POSTGRES) return;
    const channel = message.channel.slice(PG_NAMESPACE.length + 1);
    if (message.binary) {
      this.#log("warn", "alle: a binary message cannot be a NOTIFY; not sent", { channel });
      return;
    }
    const text = notifyTextOf(message);
    const key = `${channel}\0${text}`;
    const expectEcho = bridge.isListening(channel) && this.#echoes.size < MAX_ECHOES;
    if (expectEcho) this.#echoes.set(key, (this.#echoes.get(key) ?? 0) + 1);
    bridge.notify(channel, text).catch((e) => {
      if (expectEcho) {
        const n = this.#echoes.get(key) ?? 0;
        if (n <= 1) this.#echoes.delete(key);
        else this.#echoes.set(key, n - 1);
      }
      this.#log("warn", "alle: a message to pg.* could not be sent as a NOTIFY", {
        channel,
        error: (e as Error).message,
      });
    });
  }
}
