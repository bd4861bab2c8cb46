import { CatbusClient, type ClientOptions, type MessageMeta } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import { base64url } from "../auth/crypto.ts";
import type { Permission } from "../auth/grants.ts";
import { signSubToken } from "../auth/tokens.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { readSecret } from "../server/data-dir.ts";
import type { CliContext } from "./context.ts";

/**
 * The token to connect with: --token / CATBUS_TOKEN, or — on the server's own machine, where
 * the signing secret is readable — a 5-minute token for exactly this command's channels.
 */
export async function tokenFor(
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

export function clientFor(
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

/** One received message as a line: JSON (`{"channel","seq",…,"payload"}`) or `[channel] payload`. */
export function messageLine(
  format: string,
  channel: string,
  payload: unknown,
  meta: MessageMeta & { attempt?: number },
): string {
  const binary = payload instanceof Uint8Array;
  if (format === "text") {
    return `[${channel}] ${binary ? `<${payload.length} bytes>` : JSON.stringify(payload)}`;
  }
  return JSON.stringify({
    channel,
    seq: meta.seq,
    epoch: meta.epoch,
    id: meta.id,
    time: meta.time,
    payload: binary ? base64url(payload) : payload,
    ...(binary ? { binary: true } : {}),
    ...(meta.headers ? { headers: meta.headers } : {}),
    ...(meta.attempt ? { attempt: meta.attempt } : {}),
  });
}

/** Waits for `done`, or for Ctrl-C / SIGTERM, whichever comes first. */
export async function untilStopped(done: Promise<unknown>): Promise<void> {
  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await Promise.race([done, stop.promise]);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
