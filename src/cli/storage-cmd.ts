import { parseArgs } from "node:util";
import { CatbusClient } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import { Broker } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../core/errors.ts";
import { decodeText, encodeText } from "../protocol/frame.ts";
import { base64url, fromBase64url } from "../auth/crypto.ts";
import type { EncryptionOptions } from "../log/encryption.ts";
import { parseFsyncPolicy } from "../log/fsync-policy.ts";
import { Log } from "../log/log.ts";
import { repairLog, verifyLog } from "../log/verify.ts";
import { decodeStored } from "../streams/record.ts";
import { writeStreamMeta } from "../streams/stream-meta.ts";
import { storedNamespaces, streamDir, streamsDir, StreamStore } from "../streams/stream-store.ts";
import { ensureDataDir, lockDataDir } from "../server/data-dir.ts";
import { DEFAULTS, resolveConfig } from "../server/config.ts";
import { cliContext, COMMON_OPTIONS, UsageError } from "./context.ts";

type Env = Record<string, string | undefined>;

const STORAGE_OPTIONS = {
  ...COMMON_OPTIONS,
  namespace: { type: "string" },
  output: { type: "string", short: "o" },
  input: { type: "string", short: "i" },
  from: { type: "string" },
  to: { type: "string" },
  json: { type: "boolean" },
  "encryption-secret": { type: "string" },
} as const;

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: STORAGE_OPTIONS, allowPositionals: false, strict: true })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function encryptionOf(values: Record<string, unknown>, env: Env): EncryptionOptions | undefined {
  const secret = (values["encryption-secret"] as string | undefined) ??
    env.CATBUS_ENCRYPTION_SECRET ??
    env.BUS_SECRET_KEY;
  const blockSize = Number(env.CATBUS_ENCRYPTION_BLOCK_SIZE ?? env.BUS_BLOCK_SIZE ?? 4096);
  return secret ? { secret, blockSize: blockSize as 4096 } : undefined;
}

async function namespacesIn(data: string, only?: string): Promise<string[]> {
  if (!(await Deno.stat(streamsDir(data)).catch(() => undefined))) {
    throw new CatbusError(ErrorCode.NotFound, `no streams in ${data}; is --data right?`);
  }
  const names = await storedNamespaces(data);
  if (only && !names.includes(only)) {
    throw new CatbusError(ErrorCode.NotFound, `namespace "${only}" is not in ${data}`);
  }
  return only ? [only] : names;
}

/**
 * Runs `task` holding `data`'s lock: a live server (or another command) on the directory makes
 * it refuse, naming the holder, rather than write beside it.
 */
async function withDataDir<T>(data: string, command: string, task: () => Promise<T>): Promise<T> {
  const lock = await lockDataDir(data, `catbus ${command}`);
  try {
    return await task();
  } finally {
    lock.release();
  }
}

/** Progress on a terminal (one rewritten line on stderr); silent when stderr is piped. */
function progress(label: string) {
  const tty = Deno.stderr.isTerminal();
  let n = 0, last = 0;
  return {
    tick() {
      n++;
      if (tty && Date.now() - last > 200) {
        last = Date.now();
        Deno.stderr.writeSync(encodeText(`\r${label}: ${n}`));
      }
    },
    done() {
      if (tty) Deno.stderr.writeSync(encodeText(`\r${label}: ${n}\n`));
      return n;
    },
  };
}

/** `catbus debug`: per namespace, segments and counts, then a full CRC check (exit 1 on damage). */
export async function debugCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  const { data } = cliContext(values, env);
  let damaged = 0;
  const report: unknown[] = [];
  for (const ns of await namespacesIn(data, values.namespace as string | undefined)) {
    const v = await verifyLog(streamDir(data, ns));
    damaged += v.errors.length + v.losses.length;
    const records = v.segments.reduce((n, s) => n + s.records, 0);
    const bytes = v.segments.reduce((n, s) => n + s.size, 0);
    const withData = v.segments.filter((s) => s.records > 0);
    const first = withData[0], last = withData[withData.length - 1];
    const facts = {
      namespace: ns,
      segments: v.segments.length,
      messages: records,
      bytes,
      firstSeq: first?.firstSeq ?? 0,
      lastSeq: last?.lastSeq ?? 0,
      firstTime: first ? new Date(first.firstTime).toISOString() : null,
      lastTime: last ? new Date(last.lastTime).toISOString() : null,
      errors: v.errors,
      missing: v.losses,
    };
    report.push(facts);
    if (!values.json) {
      console.log(
        `${ns}: ${records} messages in ${v.segments.length} segments, ${bytes} bytes, ` +
          `seq ${facts.firstSeq}–${facts.lastSeq}, ${facts.firstTime ?? "-"} … ${
            facts.lastTime ?? "-"
          }`,
      );
      for (const e of v.errors) {
        console.log(
          `  CORRUPT ${e.file} at byte ${e.offset}: ${e.reason}${e.torn ? " (torn tail)" : ""}`,
        );
      }
      for (const l of v.losses) {
        console.log(`  MISSING records ${l.fromSeq}–${l.toSeq}: ${l.reason}`);
      }
    }
  }
  if (values.json) console.log(JSON.stringify(report));
  if (damaged) {
    console.error(
      `catbus debug: ${damaged} damaged place(s); run \`catbus repair --data ${data}\``,
    );
    Deno.exit(1);
  }
}

/** One dumped message, in the Bus seed's field names plus `seq`. */
interface DumpLine {
  id: string;
  trace_id: string;
  key: string;
  subject: string;
  response_subject: string;
  payload: unknown;
  created_at: string;
  seq: number;
  binary?: boolean;
  headers?: Record<string, string>;
}

async function* dumpFromData(data: string, env: Env, values: Record<string, unknown>) {
  const encryption = encryptionOf(values, env);
  const names = await namespacesIn(data, values.namespace as string | undefined);
  // Opening a log may cut a torn tail: never beside a live server.
  const lock = await lockDataDir(data, "catbus dump");
  try {
    yield* dumpNamespaces(data, names, encryption);
  } finally {
    lock.release();
  }
}

async function* dumpNamespaces(data: string, names: string[], encryption?: EncryptionOptions) {
  for (const ns of names) {
    const log = await Log.open({
      dir: streamDir(data, ns),
      fsync: { kind: "never" },
      encryption,
      dataDir: data,
    });
    try {
      for await (const r of log.readIter(1)) {
        const s = decodeStored(r.data);
        const { trace_id, reply_to, ...rest } = s.headers ?? {};
        const line: DumpLine = {
          id: s.id,
          trace_id: trace_id ?? "",
          key: s.key,
          subject: s.channel,
          response_subject: reply_to ?? "",
          payload: s.binary ? base64url(s.payload) : JSON.parse(decodeText(s.payload)),
          created_at: new Date(r.time).toISOString(),
          seq: r.seq,
        };
        if (s.binary) line.binary = true;
        if (Object.keys(rest).length) line.headers = rest;
        yield line;
      }
    } finally {
      await log.close();
    }
  }
}

async function* dumpFromUrl(url: string, token: string, namespace?: string) {
  const client = clientFor(url, token);
  await client.connect();
  const lines: DumpLine[] = [];
  const pattern = namespace ? `${namespace}.>` : ">";
  const sub = await client.subscribe(pattern, (channel, payload, meta) => {
    const binary = payload instanceof Uint8Array;
    const { trace_id, reply_to, ...rest } = meta.headers ?? {};
    lines.push({
      id: meta.id,
      trace_id: trace_id ?? "",
      key: "",
      subject: channel,
      response_subject: reply_to ?? "",
      payload: binary ? base64url(payload) : payload,
      created_at: new Date(meta.time).toISOString(),
      seq: meta.seq,
      ...(binary ? { binary: true } : {}),
      ...(Object.keys(rest).length ? { headers: rest } : {}),
    });
  }, { from: "first" });
  // The server sends the replay before the subscribe's answer, so it is all here now.
  await sub.unsubscribe();
  await client.disconnect();
  yield* lines;
}

function clientFor(url: string, token: string) {
  return new CatbusClient({
    url,
    token,
    autoReconnect: false,
    offlineQueue: false,
    ...(/^tcps?:/.test(url) ? { transport: tcpTransport() } : {}),
  });
}

function sourceOf(values: Record<string, unknown>, env: Env, key: "data" | "from") {
  const where = values[key] as string | undefined;
  if (where && /^(wss?|https?|tcps?):\/\//.test(where)) return { url: where };
  if (key === "data" && values.url) return { url: values.url as string };
  return { data: where ?? cliContext(values, env).data };
}

function tokenOf(values: Record<string, unknown>, env: Env): string {
  const token = cliContext(values, env).token ?? env.CATBUS_ADMIN_KEY;
  if (!token) {
    throw new UsageError("reading or writing through a server needs --token (or CATBUS_TOKEN)");
  }
  return token;
}

function linesOf(
  values: Record<string, unknown>,
  env: Env,
  source: { url?: string; data?: string },
) {
  return source.url
    ? dumpFromUrl(source.url, tokenOf(values, env), values.namespace as string | undefined)
    : dumpFromData(source.data!, env, values);
}

/** `catbus dump`: NDJSON, one message per line, from a data directory or a server. */
export async function dumpCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  const out = values.output
    ? await Deno.open(values.output as string, { write: true, create: true, truncate: true })
    : undefined;
  const write = (text: string) => {
    const bytes = encodeText(text);
    for (let o = 0; o < bytes.length;) o += (out ?? Deno.stdout).writeSync(bytes.subarray(o));
  };
  const p = progress("dumped");
  try {
    for await (const line of linesOf(values, env, sourceOf(values, env, "data"))) {
      write(JSON.stringify(line) + "\n");
      p.tick();
    }
  } finally {
    out?.close();
  }
  p.done();
}

/** Restores lines into a data directory (offline) or through a server. Returns how many were new. */
async function restoreLines(
  lines: AsyncIterable<DumpLine>,
  target: { url?: string; data?: string },
  values: Record<string, unknown>,
  env: Env,
): Promise<{ stored: number; duplicates: number }> {
  const counts = { stored: 0, duplicates: 0 };
  const p = progress("restored");
  const toPublish = (l: DumpLine) => {
    const headers: Record<string, string> = { ...l.headers ?? {} };
    if (l.trace_id) headers.trace_id = l.trace_id;
    if (l.response_subject) headers.reply_to = l.response_subject;
    return {
      channel: l.subject,
      payload: l.binary ? fromBase64url(l.payload as string) : l.payload,
      headers: Object.keys(headers).length ? headers : undefined,
      // The original id (or key) as dedupe key: restoring the same dump twice adds nothing.
      key: l.key || l.id,
    };
  };
  if (target.url) {
    const client = clientFor(target.url, tokenOf(values, env));
    await client.connect();
    try {
      for await (const l of lines) {
        const m = toPublish(l);
        const r = await client.publish(m.channel, m.payload, { headers: m.headers, key: m.key });
        counts[r.duplicate ? "duplicates" : "stored"]++;
        p.tick();
      }
    } finally {
      await client.disconnect();
    }
  } else {
    await ensureDataDir(target.data!);
    const lock = await lockDataDir(target.data!, "catbus restore");
    const streams = new StreamStore(target.data!, {
      fsync: parseFsyncPolicy("never"),
      segmentBytes: DEFAULTS.segmentBytes,
      encryption: encryptionOf(values, env),
    });
    // Offline, every key ever stored counts: a repeated restore is a no-op whatever its age.
    const broker = new Broker({
      history: { maxMessages: 0, maxBytes: 0 },
      storage: streams,
      dedupeWindowMs: Number.MAX_SAFE_INTEGER / 2,
    });
    await broker.load();
    try {
      for await (const l of lines) {
        const m = toPublish(l);
        const ns = l.subject.split(".")[0];
        await broker.createNamespace(ns);
        const binary = m.payload instanceof Uint8Array;
        const r = await broker.publish({
          channel: m.channel,
          payload: binary ? m.payload as Uint8Array : encodeText(JSON.stringify(m.payload)),
          binary,
          headers: m.headers,
          key: m.key,
        });
        counts[r.duplicate ? "duplicates" : "stored"]++;
        p.tick();
      }
    } finally {
      await streams.close();
      lock.release();
    }
  }
  p.done();
  return counts;
}

async function* readNdjson(path: string): AsyncGenerator<DumpLine> {
  const file = await Deno.open(path, { read: true });
  let buffered = "";
  let n = 0;
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      n++;
      if (!line) continue;
      try {
        yield JSON.parse(line);
      } catch {
        throw new CatbusError(ErrorCode.BadRequest, `${path}:${n}: not a JSON line`);
      }
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered);
}

/** `catbus restore -i FILE [--data DIR | --url URL]` */
export async function restoreCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  if (!values.input) {
    throw new UsageError("usage: catbus restore -i dump.ndjson [--data DIR | --url URL]");
  }
  const counts = await restoreLines(
    readNdjson(values.input as string),
    sourceOf(values, env, "data"),
    values,
    env,
  );
  console.log(JSON.stringify(counts));
}

/** `catbus copy --from DIR|URL --to DIR|URL` */
export async function copyCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  if (!values.from || !values.to) {
    throw new UsageError("usage: catbus copy --from DIR|URL --to DIR|URL");
  }
  const source = sourceOf(values, env, "from");
  const target = sourceOf({ ...values, from: values.to }, env, "from");
  const counts = await restoreLines(linesOf(values, env, source), target, values, env);
  console.log(JSON.stringify(counts));
}

/**
 * `catbus repair`: keeps every valid record, sets damaged bytes aside in `.corrupt` files and
 * accepts missing records as lost; a stream that lost anything starts a new epoch, so clients
 * resuming across the loss are told (`recovered: false`).
 */
export async function repairCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  const { data } = cliContext(values, env);
  await withDataDir(data, "repair", async () => {
    for (const ns of await namespacesIn(data, values.namespace as string | undefined)) {
      const dir = streamDir(data, ns);
      const r = await repairLog(dir);
      if (!r.setAside.length && !r.accepted.length) continue;
      await writeStreamMeta(dir, ns);
      console.log(`${ns}: kept ${r.kept} records; new epoch`);
      for (const s of r.setAside) {
        console.log(`  set aside bytes ${s.from}–${s.to} of ${s.file} in ${s.corruptFile}`);
      }
      for (const l of r.accepted) {
        console.log(`  accepted as lost: records ${l.fromSeq}–${l.toSeq} (${l.reason})`);
      }
    }
  });
  console.log("repair done; `catbus debug` verifies the result");
}

/** `catbus compact`: applies the retention limits now (offline), deleting segments past them. */
export async function compactCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  const { data } = cliContext(values, env);
  // The same retention settings (environment, defaults) catbusd would use.
  const config = resolveConfig({ flags: {}, env });
  await withDataDir(data, "compact", async () => {
    const streams = new StreamStore(data, {
      fsync: parseFsyncPolicy("always"),
      encryption: encryptionOf(values, env),
    }, {
      retention: {
        maxAgeMs: config.retentionMaxAgeMs,
        maxMessages: config.retentionMaxMessages,
        maxBytes: config.retentionMaxBytes,
      },
    });
    try {
      for (const ns of await namespacesIn(data, values.namespace as string | undefined)) {
        const stream = await streams.open(ns);
        const before = stream.log.bytes;
        await streams.applyRetention();
        console.log(`${ns}: ${before} → ${stream.log.bytes} bytes, first seq ${stream.firstSeq}`);
      }
    } finally {
      await streams.close();
    }
  });
}
