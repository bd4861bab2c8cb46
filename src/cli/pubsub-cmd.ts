import { CatbusClient, type ClientOptions } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import { base64url } from "../auth/crypto.ts";
import type { Permission } from "../auth/grants.ts";
import { signSubToken } from "../auth/tokens.ts";
import { CatbusError, ErrorCode } from "../core/errors.ts";
import { readSecret } from "../server/data-dir.ts";
import { type CliContext, cliContext, parseCommand, UsageError } from "./context.ts";

type Env = Record<string, string | undefined>;

/**
 * The token to connect with: --token / CATBUS_TOKEN, or — on the server's own machine, where
 * the signing secret is readable — a 5-minute token for exactly this command's channels.
 */
async function tokenFor(
  ctx: CliContext,
  permissions: Permission[],
  pattern: string,
) {
  if (ctx.token) return ctx.token;
  const secret = ctx.secretFlag ?? await readSecret(ctx.data);
  if (!secret) {
    throw new CatbusError(
      ErrorCode.Unauthorized,
      "no token: pass --token or set CATBUS_TOKEN (create one with `catbus grant`)",
    );
  }
  const grants = permissions.map((permission) => ({ permission, pattern }));
  return await signSubToken(secret, {
    clientId: `cli-${crypto.randomUUID()}`,
    grants,
    expiresIn: 300,
  });
}

function clientFor(
  ctx: CliContext,
  token: string,
  extra: Partial<ClientOptions> = {},
) {
  const tcp = /^tcps?:/.test(ctx.url);
  return new CatbusClient({
    url: ctx.url,
    token,
    name: "catbus-cli",
    ...(tcp ? { transport: tcpTransport() } : {}),
    ...extra,
  });
}

/** `catbus publish CHANNEL JSON`: prints the stored position as JSON. */
export async function publishCommand(args: string[], env: Env): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    header: { type: "string", multiple: true },
  });
  const v = values as Record<string, unknown>;
  if (positionals.length !== 2) {
    throw new UsageError(
      `usage: catbus publish CHANNEL JSON, e.g. catbus publish app.chat '{"text":"hi"}'`,
    );
  }
  const [channel, text] = positionals;
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new UsageError(
      `payload must be JSON (a string needs quotes: '"hello"'), got: ${text}`,
    );
  }
  const headers: Record<string, string> = {};
  for (const h of (v.header as string[] | undefined) ?? []) {
    const eq = h.indexOf("=");
    if (eq < 1) throw new UsageError(`--header expects key=value, got "${h}"`);
    headers[h.slice(0, eq)] = h.slice(eq + 1);
  }
  const ctx = cliContext(v, env);
  const client = clientFor(
    ctx,
    await tokenFor(ctx, ["write", "create"], channel),
    {
      autoReconnect: false,
      offlineQueue: false,
    },
  );
  try {
    await client.connect();
    const result = await client.publish(
      channel,
      payload,
      Object.keys(headers).length ? { headers } : {},
    );
    console.log(JSON.stringify({ channel, ...result }));
  } finally {
    await client.disconnect();
  }
}

function parseFrom(value: string | undefined) {
  if (value === undefined || ["new", "last", "first"].includes(value)) {
    return value as "new" | "last" | "first" | undefined;
  }
  const seq = Number(value);
  if (Number.isSafeInteger(seq) && seq >= 1) return { seq };
  throw new UsageError(
    `--from: expected new, last, first or a sequence number, got "${value}"`,
  );
}

/**
 * `catbus subscribe PATTERN`: one JSON object per message on stdout
 * (`{"channel","seq","epoch","id","time","payload"}`), or `[channel] payload` with
 * `--format text`. Status lines go to stderr.
 */
export async function subscribeCommand(
  args: string[],
  env: Env,
): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    format: { type: "string" },
    from: { type: "string" },
    count: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (positionals.length !== 1) {
    throw new UsageError(
      "usage: catbus subscribe PATTERN, e.g. catbus subscribe 'app.>'",
    );
  }
  const format = (v.format as string | undefined) ?? "json";
  if (format !== "json" && format !== "text") {
    throw new UsageError("--format is json or text");
  }
  const count = v.count === undefined ? Infinity : Number(v.count);
  if (!(count >= 1)) throw new UsageError("--count expects a number ≥ 1");
  const pattern = positionals[0];
  const ctx = cliContext(v, env);
  const client = clientFor(ctx, await tokenFor(ctx, ["read"], pattern));
  let seen = 0;
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => fail = reject);
  const done = Promise.withResolvers<void>();
  await client.connect();
  await client.subscribe(pattern, (channel, payload, meta) => {
    const binary = payload instanceof Uint8Array;
    if (format === "text") {
      console.log(
        `[${channel}] ${binary ? `<${payload.length} bytes>` : JSON.stringify(payload)}`,
      );
    } else {
      console.log(JSON.stringify({
        channel,
        seq: meta.seq,
        epoch: meta.epoch,
        id: meta.id,
        time: meta.time,
        payload: binary ? base64url(payload) : payload,
        ...(binary ? { binary: true } : {}),
        ...(meta.headers ? { headers: meta.headers } : {}),
      }));
    }
    if (++seen >= count) done.resolve();
  }, {
    from: parseFrom(v.from as string | undefined),
    onRecovery: (info) => {
      if (!info.recovered) {
        console.error(
          `catbus subscribe: some messages were missed (recovered: false)`,
        );
      }
    },
    onError: fail,
  });
  console.error(`catbus subscribe: subscribed to ${pattern} on ${ctx.url}`);
  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await Promise.race([done.promise, stop.promise, failed]);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await client.disconnect();
  }
}
