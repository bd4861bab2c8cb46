import type { Grant, Principal } from "../../auth/grants.ts";
import type { LiveConnection } from "../../auth/live-connections.ts";
import { authorizeSubscribe } from "../../access/subscribe.ts";
import { Publisher, type PublishLimits } from "../../access/publisher.ts";
import { regrant } from "../../access/regrant.ts";
import type { NotificationGap } from "../../connectors/postgres/listener.ts";
import { checkChannelName, checkNotifyPayload } from "../../connectors/postgres/identifiers.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { ReplyHolders } from "../../core/replies.ts";
import type { Logger } from "../../core/logger.ts";
import type { DoorServices } from "../door.ts";
import type { AlleBridge, AlleSubscriber, Notification } from "./bridge.ts";
import { type AlleAuth, authRequired, openPrincipal } from "./auth.ts";
import { catbusChannel } from "./channels.ts";

/** What every Alle client is given by the door. */
export interface AlleContext {
  bridge: AlleBridge;
  auth: AlleAuth;
  live: DoorServices["live"];
  replies: ReplyHolders;
  log: Logger;
  limits: PublishLimits & {
    /** A client with more than this many bytes waiting to be sent is disconnected. */
    outboundBytes: number;
  };
}

/** Where a client's messages go: one WebSocket or one event stream. */
export interface AlleOutput {
  /** A server message (`type` and its fields). */
  send(message: Record<string, unknown>): void;
  /** A notification (its encoding is shared by every subscriber of the format). */
  notification(notification: Notification): void;
  /** Bytes sent but not yet taken by the client. */
  buffered(): number;
  close(): void;
}

/**
 * One Alle client (a WebSocket or an event stream) as the bridge and the live-connection registry
 * see it: its principal, its channels, and a bounded queue. A client that stops reading is told
 * and disconnected once `outboundBytes` wait for it, so it never holds up anyone else (the
 * original sends to every client under one lock).
 */
export class AlleClient implements AlleSubscriber, LiveConnection {
  readonly #context: AlleContext;
  readonly #out: AlleOutput;
  readonly #channels = new Set<string>();
  #principal?: Principal;
  #publisher?: Publisher;
  #ended = false;

  constructor(context: AlleContext, out: AlleOutput) {
    this.#context = context;
    this.#out = out;
    if (!authRequired(context.auth)) this.#identify(openPrincipal(), false);
  }

  get principal(): Principal | undefined {
    return this.#principal;
  }

  get channels(): ReadonlySet<string> {
    return this.#channels;
  }

  /** The client proved who it is; from now on revocation and expiry reach it. */
  authenticated(principal: Principal): void {
    if (this.#principal) this.#context.live.delete(this);
    this.#identify(principal, true);
  }

  #identify(principal: Principal, live: boolean) {
    this.#principal = principal;
    this.#publisher = new Publisher(
      principal,
      this.#context.replies.holder(principal.clientId),
      this.#context.limits,
    );
    if (live) this.#context.live.add(this);
  }

  #requirePrincipal(): Principal {
    if (!this.#principal) {
      throw new CatbusError(ErrorCode.Unauthorized, "Authentication required");
    }
    return this.#principal;
  }

  /** LISTEN (through the bridge) once the read grant on `pg.<channel>` allows it. */
  async subscribe(channel: string): Promise<void> {
    const principal = this.#requirePrincipal();
    checkChannelName(channel);
    this.#authorize(principal, channel, (name) => authorizeSubscribe(principal, name));
    await this.#context.bridge.subscribe(channel, this);
    if (this.#ended) await this.#context.bridge.unsubscribe(channel, this);
    else this.#channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#requirePrincipal();
    checkChannelName(channel);
    this.#channels.delete(channel);
    await this.#context.bridge.unsubscribe(channel, this);
  }

  /** `pg_notify` once the write grant on `pg.<channel>` (and the publish rate) allow it. */
  async notify(channel: string, payload: unknown): Promise<void> {
    const principal = this.#requirePrincipal();
    checkChannelName(channel);
    const text = checkNotifyPayload(payload);
    this.#authorize(principal, channel, (name) =>
      this.#publisher!.authorize(
        { channel: name, payload: new TextEncoder().encode(text) },
        true,
      ));
    await this.#context.bridge.notify(channel, text);
  }

  /** A channel with no Catbus name (`pg.my channel`) can be covered by no grant. */
  #authorize(principal: Principal, channel: string, check: (name: string) => void) {
    const name = catbusChannel(channel);
    if (name) return check(name);
    if (principal.kind === "open" || principal.kind === "admin") return;
    throw new CatbusError(
      ErrorCode.Forbidden,
      `channel "${channel}" has no Catbus name (pg.${channel} is not a valid channel), so no ` +
        "grant can cover it; use letters, digits, _ and - (and . between parts)",
    );
  }

  notification(notification: Notification): void {
    if (this.#ended) return;
    if (this.#out.buffered() > this.#context.limits.outboundBytes) {
      this.close(
        new CatbusError(
          ErrorCode.SlowConsumer,
          `this client fell ${this.#out.buffered()} bytes behind (over --outbound-bytes); ` +
            "disconnected: notifications after this one are not sent",
        ),
      );
      return;
    }
    this.#out.notification(notification);
  }

  gap(gap: NotificationGap, channels: string[]): void {
    this.#out.send({
      type: "error",
      message: `The connection to PostgreSQL was lost between ${gap.from.toISOString()} and ` +
        `${gap.to.toISOString()}: notifications on ${channels.join(", ")} may have been lost`,
    });
  }

  close(error?: CatbusError): void {
    if (this.#ended) return;
    if (error) this.#out.send({ type: "error", message: error.clientMessage });
    this.#out.close();
    this.ended();
  }

  /** Ends what a new set of grants no longer covers: those channels are unsubscribed. */
  regrant(grants: Grant[]): void {
    const principal = this.#principal;
    if (!principal) return;
    // A channel with no Catbus name was allowed by the principal's kind, which does not change.
    const reads = [...this.#channels].flatMap((channel) => {
      const pattern = catbusChannel(channel);
      return pattern ? [{ pattern, channel }] : [];
    });
    regrant(principal, grants, reads, ({ channel }, error) => {
      this.#channels.delete(channel);
      this.#context.bridge.unsubscribe(channel, this);
      this.#out.send({ type: "error", message: `Error: ${error.clientMessage}` });
      this.#out.send({ type: "unsubscribed", channel });
    });
  }

  /** The connection is gone: leave every channel and the registry. */
  ended(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#context.live.delete(this);
    this.#channels.clear();
    this.#context.bridge.unsubscribeAll(this);
  }
}
