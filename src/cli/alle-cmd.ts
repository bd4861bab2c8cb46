import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { parseCommand, UsageError } from "./context.ts";

type Env = Record<string, string | undefined>;
type ServerMessage = {
  type: string;
  channel?: string;
  payload?: string;
  message?: string;
  user_id?: string;
};

/** Alle's default address. */
const DEFAULT_URL = "ws://127.0.0.1:8080";

const HELP = `Commands:
  sub <channel>    - Subscribe to a channel
  unsub <channel>  - Unsubscribe from a channel
  list             - List subscribed channels
  help             - Show this help
  quit / exit      - Exit the program`;

const OPTIONS = { ws: { type: "string", short: "w" } };

function target(values: Record<string, unknown>, env: Env) {
  return {
    url: (values.ws as string) ?? env.CATBUS_ALLE_URL ?? DEFAULT_URL,
    token: (values.token as string) ?? env.CATBUS_TOKEN,
  };
}

/** Opens a WebSocket to the Alle door; resolves once open, rejects saying why not. */
function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) =>
      reject(
        new CatbusError(
          ErrorCode.Unavailable,
          `cannot connect to ${url}: ${(e as ErrorEvent).message ?? "refused"}; is catbusd ` +
            "running with --alle-bind?",
        ),
      );
  });
}

const send = (ws: WebSocket, message: Record<string, unknown>) => ws.send(JSON.stringify(message));

/** `catbus alle listen [CHANNELS…] [-w URL] [--token T]` and `catbus alle publish …`. */
export async function alleCommand(args: string[], env: Env): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseCommand(rest, OPTIONS);
  const v = values as Record<string, unknown>;
  if (sub === "listen") return await listen(positionals, target(v, env));
  if (sub === "publish") {
    if (positionals.length !== 2) {
      throw new UsageError("usage: catbus alle publish CHANNEL PAYLOAD [-w ws://host:port]");
    }
    return await publish(positionals[0], positionals[1], target(v, env));
  }
  throw new UsageError(
    "usage: catbus alle listen [CHANNELS…] [-w URL] | publish CHANNEL PAYLOAD [-w URL]",
  );
}

/** Prints success only once the server confirmed that PostgreSQL ran the NOTIFY; else exit 1. */
async function publish(channel: string, payload: string, to: { url: string; token?: string }) {
  console.log(`Connecting to WebSocket: ${to.url}`);
  const ws = await connect(to.url);
  try {
    const answers = messages(ws);
    if (to.token) await authenticate(ws, answers, to.token);
    console.log(`Publishing to channel '${channel}': ${payload}`);
    send(ws, { type: "notify", channel, payload, confirm: true });
    const answer = await answers.next();
    if (answer.type !== "notified") {
      throw new CatbusError(ErrorCode.Unavailable, answer.message ?? JSON.stringify(answer));
    }
    console.log("✓ Notification sent successfully");
  } finally {
    ws.close();
  }
}

async function authenticate(ws: WebSocket, answers: Messages, token: string) {
  send(ws, { type: "authenticate", token });
  const answer = await answers.next();
  if (answer.type !== "authenticated") {
    throw new CatbusError(ErrorCode.Unauthorized, answer.message ?? "authentication failed");
  }
}

interface Messages {
  next(): Promise<ServerMessage>;
}

/** The server's messages in order; `next` rejects when the connection ends or after 10 s. */
function messages(ws: WebSocket): Messages {
  const queue: ServerMessage[] = [];
  const waiters: { resolve(m: ServerMessage): void; reject(e: Error): void }[] = [];
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data) as ServerMessage;
    const w = waiters.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  };
  ws.onclose = () => {
    for (const w of waiters.splice(0)) {
      w.reject(new CatbusError(ErrorCode.Disconnected, "the server closed the connection"));
    }
  };
  return {
    next: () =>
      queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new CatbusError(ErrorCode.Timeout, "no answer from the server in 10 s")),
          10_000,
        );
        waiters.push({
          resolve: (m) => (clearTimeout(timer), resolve(m)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
      }),
  };
}

/**
 * Alle's REPL: subscribes to the channels given, prints `[channel] payload` for each
 * notification, and reads `sub`, `unsub`, `list`, `help`, `quit`/`exit` from stdin. Unlike the
 * original it reconnects when the connection drops, subscribing again to every channel.
 */
async function listen(given: string[], to: { url: string; token?: string }) {
  const channels = new Set(given.flatMap((c) => c.split(",")).map((c) => c.trim()).filter(Boolean));
  console.log(`Connecting to WebSocket: ${to.url}`);
  console.log(`Listening on channels: ${[...channels].join(", ")}\n`);
  console.log(`${HELP}\n\nPress Ctrl+C to stop\n`);
  let ws: WebSocket | undefined;
  let quitting = false;
  const onMessage = (m: ServerMessage) => {
    if (m.type === "notification") console.log(`[${m.channel}] ${m.payload}`);
    else if (m.type === "subscribed") console.log(`✓ Subscribed to channel '${m.channel}'`);
    else if (m.type === "unsubscribed") console.log(`✓ Unsubscribed from channel '${m.channel}'`);
    else if (m.type === "authenticated") console.log(`✓ Authenticated as ${m.user_id}`);
    else if (m.type === "error") console.log(`✗ ${m.message}`);
  };
  const open = async () => {
    for (let attempt = 0; !quitting; attempt++) {
      try {
        ws = await connect(to.url);
        break;
      } catch (e) {
        if (attempt === 0) console.log(`✗ ${(e as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
    if (!ws || quitting) return;
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
    ws.onclose = () => {
      if (quitting) return;
      console.log("✗ Connection lost; reconnecting");
      open();
    };
    if (to.token) send(ws, { type: "authenticate", token: to.token });
    for (const channel of channels) {
      console.log(`✓ Subscribing to channel '${channel}'`);
      send(ws, { type: "subscribe", channel });
    }
    console.log("\nWaiting for notifications...\n");
  };
  await open();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      const [command, arg] = line.split(/\s+/, 2);
      if (command === "quit" || command === "exit") {
        console.log("Exiting...");
        quitting = true;
        ws?.close();
        return;
      }
      if (command === "sub" && arg) {
        channels.add(arg);
        if (ws) send(ws, { type: "subscribe", channel: arg });
      } else if (command === "unsub" && arg) {
        channels.delete(arg);
        if (ws) send(ws, { type: "unsubscribe", channel: arg });
      } else if (command === "list") {
        console.log(
          ["Subscribed channels:", ...[...channels].sort().map((c) => `  - ${c}`)].join("\n"),
        );
      } else if (command === "help") console.log(HELP);
      else if (command) console.log(`Unknown command '${command}'; type help`);
    }
  }
  // Stdin closed (Ctrl+D, or none): keep printing notifications until interrupted.
  await new Promise(() => {});
}
