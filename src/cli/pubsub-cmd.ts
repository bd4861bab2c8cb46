import { cliContext, parseCommand, UsageError } from "./context.ts";
import { clientFor, messageLine, tokenFor, untilStopped } from "./connect.ts";

type Env = Record<string, string | undefined>;

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
    await client.connect({ retry: false });
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
  await client.connect({ retry: false });
  await client.subscribe(pattern, (channel, payload, meta) => {
    console.log(messageLine(format, channel, payload, meta));
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
  try {
    await untilStopped(Promise.race([done.promise, failed]));
  } finally {
    await client.disconnect();
  }
}
