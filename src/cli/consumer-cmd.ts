import type { ConsumerSettings } from "../../client/mod.ts";
import { parseDuration } from "../core/units.ts";
import { cliContext, parseCommand, UsageError } from "./context.ts";
import { clientFor, messageLine, tokenFor, untilStopped } from "./connect.ts";

type Env = Record<string, string | undefined>;

const duration = (value: unknown, flag: string) => {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new UsageError(`${flag}: expected a duration such as 30s, got "${value}"`);
  }
  return ms;
};

const whole = (value: unknown, flag: string) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag}: expected a whole number`);
  return n;
};

function parseFrom(value: unknown): ConsumerSettings["from"] {
  if (value === undefined || value === "new" || value === "first" || value === "last") {
    return value as ConsumerSettings["from"];
  }
  const seq = Number(value);
  if (Number.isSafeInteger(seq) && seq >= 1) return { seq };
  throw new UsageError(`--from: expected new, last, first or a sequence number, got "${value}"`);
}

const USAGE = "usage: catbus consumer add NAME PATTERN [options] | list [--json] | delete NAME";

/** `catbus consumer add|list|delete`: manage durable consumers on a running server. */
export async function consumerCommand(args: string[], env: Env): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    from: { type: "string" },
    "ack-policy": { type: "string" },
    "ack-wait": { type: "string" },
    "max-deliver": { type: "string" },
    backoff: { type: "string" },
    "max-in-flight": { type: "string" },
    "dead-letter": { type: "string" },
    json: { type: "boolean" },
  });
  const v = values as Record<string, unknown>;
  const [verb, name, pattern] = positionals;
  const ctx = cliContext(v, env);
  const connect = async (permissionPattern: string) => {
    const client = clientFor(
      ctx,
      await tokenFor(ctx, ["read", "create"], permissionPattern),
      { autoReconnect: false, offlineQueue: false },
    );
    await client.connect({ retry: false });
    return client;
  };
  if (verb === "add" && name && pattern && positionals.length === 3) {
    const policy = v["ack-policy"];
    if (policy !== undefined && policy !== "explicit" && policy !== "none") {
      throw new UsageError("--ack-policy is explicit or none");
    }
    const settings: ConsumerSettings = {
      name,
      pattern,
      from: parseFrom(v.from),
      ackPolicy: policy as ConsumerSettings["ackPolicy"],
      ackWait: duration(v["ack-wait"], "--ack-wait"),
      maxDeliver: whole(v["max-deliver"], "--max-deliver"),
      backoff: (v.backoff as string | undefined)?.split(",").map((d) => duration(d, "--backoff")!),
      maxInFlight: whole(v["max-in-flight"], "--max-in-flight"),
      deadLetter: v["dead-letter"] as string | undefined,
    };
    const client = await connect(pattern);
    try {
      console.log(JSON.stringify(await client.createConsumer(settings)));
    } finally {
      await client.disconnect();
    }
  } else if (verb === "list" && positionals.length === 1) {
    const client = await connect(">");
    try {
      const consumers = await client.listConsumers();
      if (v.json) return console.log(JSON.stringify(consumers));
      for (const c of consumers) {
        console.log(
          `${c.name}\t${c.pattern}\tpending ${c.pending}\tmembers ${c.members}\tnext #${c.cursor}`,
        );
      }
    } finally {
      await client.disconnect();
    }
  } else if (verb === "delete" && name && positionals.length === 2) {
    const client = await connect(">");
    try {
      await client.deleteConsumer(name);
      console.error(`catbus consumer: deleted ${name}`);
    } finally {
      await client.disconnect();
    }
  } else {
    throw new UsageError(USAGE);
  }
}

/**
 * `catbus consume NAME`: prints each message of a durable consumer as a line and acks it once
 * printed (with `--count N`, stops after N). Status lines go to stderr.
 */
export async function consumeCommand(args: string[], env: Env): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    format: { type: "string" },
    count: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (positionals.length !== 1) throw new UsageError("usage: catbus consume NAME [--count N]");
  const format = (v.format as string | undefined) ?? "json";
  if (format !== "json" && format !== "text") throw new UsageError("--format is json or text");
  const count = v.count === undefined ? Infinity : Number(v.count);
  if (!(count >= 1)) throw new UsageError("--count expects a number ≥ 1");
  const ctx = cliContext(v, env);
  // Only the server knows the consumer's pattern: a local token gets read on everything.
  const client = clientFor(ctx, await tokenFor(ctx, ["read"], ">"));
  const done = Promise.withResolvers<void>();
  let seen = 0;
  await client.connect({ retry: false });
  try {
    await client.consume(positionals[0], async (m) => {
      if (seen >= count) return m.nak(); // past --count: leave it to others
      console.log(messageLine(format, m.channel, m.payload, { ...m.meta, attempt: m.attempt }));
      await m.ack();
      if (++seen >= count) done.resolve();
    }, { maxInFlight: Number.isFinite(count) ? count : undefined });
    console.error(`catbus consume: consuming ${positionals[0]} on ${ctx.url}`);
    await untilStopped(done.promise);
  } finally {
    await client.disconnect();
  }
}
