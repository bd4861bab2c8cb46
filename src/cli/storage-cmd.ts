import { parseArgs } from "node:util";
import { CatbusClient } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import { Broker } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { decodeText, encodeText } from "../../client/shared/frame.ts";
import { base64url, fromBase64url } from "../auth/crypto.ts";
import type { EncryptionOptions } from "../log/encryption.ts";
import { parseFsyncPolicy } from "../log/fsync-policy.ts";
import { Log } from "../log/log.ts";
import { repairLog, verifyLog } from "../log/verify.ts";
import { decodeStored } from "../streams/record.ts";
import { writeStreamMeta } from "../streams/stream-meta.ts";
import { storedNamespaces, streamDir, streamsDir, StreamStore } from "../streams/stream-store.ts";
import { ChannelPurges } from "../streams/channel-purges.ts";
import { ensureDataDir, lockDataDir } from "../server/data-dir.ts";
import { JsonSyntaxError, scanObject, skipSpace } from "../core/json-scan.ts";
import { isEventId } from "../dialects/bus/event.ts";
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
  // The original bus CLI's names: --path/--dir for the data directory, copy --src/--dst
  // (namespaces), restore --host (a Bus listener).
  path: { type: "string" },
  dir: { type: "string" },
  src: { type: "string" },
  dst: { type: "string" },
  host: { type: "string" },
} as const;

function parse(args: string[]) {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options: STORAGE_OPTIONS, allowPositionals: false, strict: true })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  values.data ??= values.path ?? values.dir;
  return values;
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

/**
 * One dumped message, in the Bus seed's field names plus `seq`. `payload` is the JSON text as
 * stored (base64url in a JSON string when `binary`): written and restored verbatim.
 */
interface DumpLine {
  id: string;
  trace_id: string;
  key: string;
  subject: string;
  response_subject: string;
  payload: string;
  created_at: string;
  seq: number;
  binary?: boolean;
  headers?: Record<string, string>;
}

/** The NDJSON line, with the payload's text spliced in as it is. */
function dumpLineText(line: DumpLine): string {
  const fields = Object.entries(line).map(([name, value]) =>
    `${JSON.stringify(name)}:${name === "payload" ? value : JSON.stringify(value)}`
  );
  return `{${fields.join(",")}}`;
}

/** Dumped payloads passed the server's --max-json-depth; this only bounds the reader. */
const DUMP_MAX_DEPTH = 1000;

/** Reads a dump line, keeping the payload's bytes as they are. */
function parseDumpLine(bytes: Uint8Array): DumpLine {
  const { members, end } = scanObject(bytes, skipSpace(bytes, 0), 0, DUMP_MAX_DEPTH);
  if (skipSpace(bytes, end) !== bytes.length) throw new JsonSyntaxError(end, "unexpected data");
  const line: Record<string, unknown> = { payload: "null" };
  for (const m of members) {
    const text = decodeText(bytes.subarray(m.start, m.end));
    line[m.name] = m.name === "payload" ? text : JSON.parse(text);
  }
  return line as unknown as DumpLine;
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
    // A deleted topic's messages stay deleted in the copy.
    const purges = await ChannelPurges.open(streamDir(data, ns));
    try {
      for await (const r of log.readIter(1)) {
        const s = decodeStored(r.data);
        if (purges.covers(s.channel, r.seq)) continue;
        const { trace_id, reply_to, ...rest } = s.headers ?? {};
        const line: DumpLine = {
          id: s.id,
          trace_id: trace_id ?? "",
          key: s.key,
          subject: s.channel,
          response_subject: reply_to ?? "",
          payload: s.binary ? JSON.stringify(base64url(s.payload)) : decodeText(s.payload),
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
  await client.connect({ retry: false });
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
      // Through a server the client has parsed the payload: this text is re-encoded.
      payload: JSON.stringify(binary ? base64url(payload) : payload),
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

function tokenOf(values: Record<string, unknown>, env: Env): string;
function tokenOf(values: Record<string, unknown>, env: Env, required: false): string | undefined;
function tokenOf(values: Record<string, unknown>, env: Env, required = true) {
  const token = cliContext(values, env).token ?? env.CATBUS_ADMIN_KEY;
  if (!token && required) {
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
      write(dumpLineText(line) + "\n");
      p.tick();
    }
  } finally {
    out?.close();
  }
  p.done();
}

/** The message id of a dumped Catbus id (`e_` optional); other ids (the original's) give none. */
function catbusIdOf(id: string): string | undefined {
  const bare = id.startsWith("e_") ? id.slice(2) : id;
  return isEventId(`e_${bare}`) ? bare : undefined;
}

function headersOf(l: DumpLine): Record<string, string> | undefined {
  const headers: Record<string, string> = { ...l.headers ?? {} };
  if (l.trace_id) headers.trace_id = l.trace_id;
  if (l.response_subject) headers.reply_to = l.response_subject;
  return Object.keys(headers).length ? headers : undefined;
}

const payloadBytes = (l: DumpLine) =>
  l.binary ? fromBase64url(JSON.parse(l.payload)) : encodeText(l.payload);

type Target = { url?: string; data?: string; host?: string };
type Counts = { stored: number; duplicates: number };

/**
 * Restores lines into a data directory (offline) or through a server; returns how many were
 * new. Offline and through a Bus listener (`--host`), each message keeps its id and time, so a
 * message already there (the same dump restored twice) is not stored again and resuming from
 * an old id against the copy replays only what follows it. Through the native protocol
 * (`--url`) ids are new; the old id is the dedupe key instead.
 */
async function restoreLines(
  lines: AsyncIterable<DumpLine> | Iterable<DumpLine>,
  target: Target,
  values: Record<string, unknown>,
  env: Env,
): Promise<Counts> {
  const counts = { stored: 0, duplicates: 0 };
  const p = progress("restored");
  const restore = target.host
    ? restoreThroughBus(target.host, tokenOf(values, env, false))
    : target.url
    ? await restoreThroughServer(target.url, tokenOf(values, env))
    : await restoreOffline(target.data!, encryptionOf(values, env));
  try {
    for await (const l of lines) {
      counts[await restore.put(l) ? "stored" : "duplicates"]++;
      p.tick();
    }
  } finally {
    await restore.close();
  }
  p.done();
  return counts;
}

interface Restorer {
  /** Stores one line; false when it was there already. */
  put(l: DumpLine): Promise<boolean>;
  close(): Promise<void>;
}

async function restoreOffline(data: string, encryption?: EncryptionOptions): Promise<Restorer> {
  await ensureDataDir(data);
  const lock = await lockDataDir(data, "catbus restore");
  const streams = new StreamStore(data, {
    fsync: parseFsyncPolicy("never"),
    segmentBytes: DEFAULTS.segmentBytes,
    encryption,
  });
  // Offline, every key ever stored counts: a repeated restore is a no-op whatever its age.
  const broker = new Broker({
    history: { maxMessages: 0, maxBytes: 0 },
    storage: streams,
    dedupeWindowMs: Number.MAX_SAFE_INTEGER / 2,
  });
  await broker.load().catch(async (e) => {
    await streams.close();
    lock.release();
    throw e;
  });
  return {
    async put(l) {
      const ns = await broker.createNamespace(l.subject.split(".")[0]);
      const id = catbusIdOf(l.id);
      if (id && await broker.findMessage(ns, id)) return false;
      const r = await broker.publish({
        channel: l.subject,
        payload: payloadBytes(l),
        binary: l.binary ?? false,
        headers: headersOf(l),
        ...(l.key ? { key: l.key } : {}),
        ...(id ? { id } : {}),
        time: Date.parse(l.created_at),
      });
      return !r.duplicate;
    },
    async close() {
      await streams.close();
      lock.release();
    },
  };
}

async function restoreThroughServer(url: string, token: string): Promise<Restorer> {
  const client = clientFor(url, token);
  await client.connect({ retry: false });
  return {
    async put(l) {
      const payload = l.binary ? payloadBytes(l) : JSON.parse(l.payload);
      const r = await client.publish(l.subject, payload, {
        headers: headersOf(l),
        key: l.key || l.id,
      });
      return !r.duplicate;
    },
    close: () => client.disconnect(),
  };
}

/** POSTs each line as a Bus event with its id and created_at, as the original's restore does. */
function restoreThroughBus(host: string, token?: string): Restorer {
  return {
    async put(l) {
      if (l.binary) {
        throw new UsageError(`${l.subject}: binary payloads cannot go through the Bus API`);
      }
      const event = dumpLineText({
        id: catbusIdOf(l.id) ? `e_${catbusIdOf(l.id)}` : "",
        trace_id: l.trace_id,
        key: "",
        subject: l.subject,
        response_subject: "",
        payload: l.payload,
        created_at: l.created_at,
      } as DumpLine);
      const r = await fetch(`${host.replace(/\/$/, "")}/`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: event,
      });
      const reason = (await r.text()).trim();
      if (r.status !== 202) {
        throw new CatbusError(ErrorCode.BadRequest, `${host}: ${r.status} ${reason}`);
      }
      return true;
    },
    close: () => Promise.resolve(),
  };
}

async function* readNdjson(path: string): AsyncGenerator<DumpLine> {
  const file = await Deno.open(path, { read: true });
  let buffered = "";
  let n = 0;
  const parseLine = (line: string) => {
    try {
      return parseDumpLine(encodeText(line));
    } catch {
      throw new CatbusError(ErrorCode.BadRequest, `${path}:${n}: not a JSON line`);
    }
  };
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      n++;
      if (line) yield parseLine(line);
    }
  }
  n++;
  if (buffered.trim()) yield parseLine(buffered.trim());
}

/** `catbus restore -i FILE [--data DIR | --url URL]` */
export async function restoreCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  if (!values.input) {
    throw new UsageError(
      "usage: catbus restore -i dump.ndjson [--data DIR | --url URL | --host BUS_URL]",
    );
  }
  const target = values.host ? { host: values.host as string } : sourceOf(values, env, "data");
  const counts = await restoreLines(readNdjson(values.input as string), target, values, env);
  console.log(JSON.stringify(counts));
}

/**
 * `catbus copy --from DIR|URL --to DIR|URL`, or as the original: `catbus copy --dir DIR --src NS
 * --dst NS` copies a namespace's messages into another one of the same data directory.
 */
export async function copyCommand(args: string[], env: Env): Promise<void> {
  const values = parse(args);
  if (values.src && values.dst) {
    return console.log(JSON.stringify(await copyNamespace(values, env)));
  }
  if (!values.from || !values.to) {
    throw new UsageError(
      "usage: catbus copy --from DIR|URL --to DIR|URL, or copy --dir DIR --src NS --dst NS",
    );
  }
  const source = sourceOf(values, env, "from");
  const target = sourceOf({ ...values, from: values.to }, env, "from");
  const counts = await restoreLines(linesOf(values, env, source), target, values, env);
  console.log(JSON.stringify(counts));
}

async function copyNamespace(values: Record<string, unknown>, env: Env): Promise<Counts> {
  const { data } = cliContext(values, env);
  const [src, dst] = [values.src as string, values.dst as string];
  // Read whole before writing: both namespaces live in the same directory.
  const lines: DumpLine[] = [];
  for await (const l of dumpFromData(data, env, { ...values, namespace: src })) {
    lines.push({ ...l, subject: dst + l.subject.slice(src.length) });
  }
  return await restoreLines(lines, { data }, values, env);
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
