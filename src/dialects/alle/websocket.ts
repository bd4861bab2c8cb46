import { isCatbusError } from "../../../client/shared/errors.ts";
import type { Principal } from "../../auth/grants.ts";
import type { TextSocket, TextSocketHandler } from "../../transport/websocket.ts";
import { AUTH_NOT_CONFIGURED, authenticate, authRequired } from "./auth.ts";
import { AlleClient, type AlleContext } from "./client.ts";

/** Larger client messages are refused unread (a NOTIFY payload is under 8,000 bytes). */
export const MAX_CLIENT_MESSAGE_CHARS = 64 * 1024;

/**
 * Alle's WebSocket protocol on one connection. Client messages: `subscribe`, `unsubscribe`,
 * `notify` and `authenticate`; server messages: `notification`, `subscribed`, `unsubscribed`,
 * `authenticated` and `error` (with Alle's `Error: …` messages). `subscribed` is sent only once
 * LISTEN succeeded. A `notify` with `"confirm": true` (a Catbus addition, for `catbus alle
 * publish`) is answered `{"type":"notified","channel"}` once PostgreSQL ran it; without it, as in
 * Alle, success is silent and failures are an `error`. Messages are handled one at a time, in
 * order.
 */
export function alleSocket(context: AlleContext, principal?: Principal): TextSocketHandler {
  let socket: TextSocket;
  let client: AlleClient;
  let queue: Promise<void> = Promise.resolve();
  const send = (message: Record<string, unknown>) => socket.send(JSON.stringify(message));
  const fail = (message: string) => send({ type: "error", message: `Error: ${message}` });

  async function handle(text: string) {
    if (text.length > MAX_CLIENT_MESSAGE_CHARS) {
      return fail(`message of ${text.length} characters is over ${MAX_CLIENT_MESSAGE_CHARS}`);
    }
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text);
      if (message === null || typeof message !== "object") throw new Error("not an object");
    } catch (e) {
      return fail(`Failed to parse client message: ${(e as Error).message}`);
    }
    const channel = message.channel as string;
    try {
      switch (message.type) {
        case "authenticate": {
          if (!authRequired(context.auth)) {
            return send({ type: "error", message: AUTH_NOT_CONFIGURED });
          }
          const who = await authenticate(context.auth, message.token);
          client.authenticated(who);
          return send({ type: "authenticated", user_id: who.clientId });
        }
        case "subscribe":
          await client.subscribe(channel);
          return send({ type: "subscribed", channel });
        case "unsubscribe":
          await client.unsubscribe(channel);
          return send({ type: "unsubscribed", channel });
        case "notify":
          await client.notify(channel, message.payload);
          if (message.confirm === true) send({ type: "notified", channel });
          return;
        default:
          return fail(
            `Failed to parse client message: unknown type ${JSON.stringify(message.type)}; ` +
              "expected subscribe, unsubscribe, notify or authenticate",
          );
      }
    } catch (e) {
      if (!isCatbusError(e)) throw e;
      // Alle's own words for these, so its clients can match them.
      if (/^Authentication (required|failed)/.test(e.message)) {
        return send({ type: "error", message: e.clientMessage });
      }
      return fail(e.clientMessage);
    }
  }

  return {
    onOpen(s) {
      socket = s;
      client = new AlleClient(context, {
        send,
        notification: (n) => socket.sendFrame(n.frame),
        buffered: () => socket.buffered,
        close: () => socket.close(1008, "closed by the server"),
      });
      if (principal) client.authenticated(principal);
    },
    onText(text) {
      queue = queue.then(() => handle(text)).catch((e) => {
        fail("internal error; see the server log");
        context.log("error", "alle: a client message failed", { error: String(e) });
      });
    },
    onClose() {
      client?.ended();
    },
  };
}
