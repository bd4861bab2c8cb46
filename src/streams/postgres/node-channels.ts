import { MAX_NOTIFY_PAYLOAD_BYTES } from "../../connectors/postgres/identifiers.ts";
import type { Sql } from "../../connectors/postgres/connect.ts";
import { PgListener } from "../../connectors/postgres/listener.ts";
import type { EntryWrite, NodeEntries } from "../node-registry.ts";
import { type Heartbeat, RegistryNodeChannels } from "../registry-node-channels.ts";

/**
 * The tables of the PostgreSQL node channels, for the engine's migration (`catbus init`): the
 * live nodes with their URLs, version and expiry (the server's clock), each node's entries, and
 * the bodies too long for a NOTIFY payload (unlogged: mail is live traffic; the receiver deletes
 * what it read, and a heartbeat what nobody read within a minute).
 */
export const NODE_CHANNELS_SCHEMA = `
  CREATE TABLE catbus_nodes (
    node text PRIMARY KEY,
    urls jsonb NOT NULL DEFAULT '[]',
    version bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL
  );
  CREATE TABLE catbus_node_entries (
    node text NOT NULL REFERENCES catbus_nodes (node) ON DELETE CASCADE,
    entry text NOT NULL,
    PRIMARY KEY (node, entry)
  );
  CREATE UNLOGGED TABLE catbus_node_mail (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node text NOT NULL,
    body bytea NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now()
  );`;

/** The channel every change of a node's entries is announced on. */
const CHANGES = "catbus_nodes_changed";
/** A node's inbox channel (node ids are lowercase letters and digits). */
const inbox = (node: string) => `catbus_node_${node}`;

export interface PostgresNodeOptions {
  /** Queries (a pool). */
  sql: Sql;
  /** The database URL, for the LISTEN connection of this node's own. */
  url: string;
  node: string;
  urls: readonly string[];
  ttlMs: number;
}

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/**
 * Node channels on PostgreSQL: an inbox per node is a NOTIFY channel (`catbus_node_<id>`, the
 * body in base64; past NOTIFY's 8,000 bytes it goes through `catbus_node_mail` and the
 * notification names its row); the registry is two tables, every change of a node's entries
 * committed with its version and announced on `catbus_nodes_changed` (see RegistryMirror). The
 * LISTEN connection reconnects by itself; after a reconnect this node writes its entries again
 * and reads the others'.
 */
export class PostgresNodeChannels extends RegistryNodeChannels {
  readonly #sql: Sql;
  readonly #ttlMs: number;
  readonly #listener: PgListener;

  constructor(options: PostgresNodeOptions) {
    super(options.node, options.urls, options.ttlMs);
    this.#sql = options.sql;
    this.#ttlMs = options.ttlMs;
    this.#listener = new PgListener(options.url, `catbus node ${options.node}`, {
      onNotification: (channel, payload) => this.#notified(channel, payload),
      onReconnect: () => this.resync(),
    });
  }

  /** Listens to the inbox and the changes, and lists this node. */
  async start(): Promise<void> {
    await this.#listener.start();
    await this.#listener.listen(inbox(this.node));
    await this.#listener.listen(CHANGES);
    await this.beat();
  }

  #notified(channel: string, payload: string): void {
    if (channel === CHANGES) return this.changed(payload);
    const end = payload.indexOf("\n");
    if (channel !== inbox(this.node) || end < 0) return;
    const from = payload.slice(0, end);
    const rest = payload.slice(end + 1);
    if (rest[0] === "=") return this.deliver(from, fromBase64(rest.slice(1)));
    if (rest[0] !== "#") return;
    // A long body: read once from its row (deleted as it is read).
    this.#sql<{ body: Uint8Array }[]>`
      delete from catbus_node_mail where id = ${Number(rest.slice(1))} returning body`
      .then(([row]) => row && this.deliver(from, row.body), () => {});
  }

  async send(to: string, body: Uint8Array): Promise<void> {
    const head = `${this.node}\n`;
    // Base64 takes 4 characters per 3 bytes.
    if (Math.ceil(body.length / 3) * 4 + head.length + 1 <= MAX_NOTIFY_PAYLOAD_BYTES) {
      await this.#sql`select pg_notify(${inbox(to)}, ${`${head}=${base64(body)}`})`;
      return;
    }
    await this.#sql.begin(async (tx) => {
      const [{ id }] = await tx<{ id: string }[]>`
        insert into catbus_node_mail (node, body) values (${to}, ${body}) returning id`;
      await tx`select pg_notify(${inbox(to)}, ${`${head}#${id}`})`;
    });
  }

  /** One transaction: the version, the entries, and the announcement (sent at commit). */
  protected async writeEntries({ ops, all }: EntryWrite): Promise<void> {
    await this.#sql.begin(async (tx) => {
      const [row] = await tx<{ version: string }[]>`
        update catbus_nodes set version = version + 1 where node = ${this.node}
        returning version`;
      if (!row) throw new Error("this node is not listed yet"); // the heartbeat writes it all
      const add = all ?? ops!.filter((op) => op[0] === "+").map((op) => op.slice(1));
      const drop = all ? [] : ops!.filter((op) => op[0] === "-").map((op) => op.slice(1));
      if (all) await tx`delete from catbus_node_entries where node = ${this.node}`;
      if (add.length) {
        await tx`insert into catbus_node_entries (node, entry)
          select ${this.node}, unnest(${add}::text[]) on conflict do nothing`;
      }
      if (drop.length) {
        await tx`delete from catbus_node_entries
          where node = ${this.node} and entry = any(${drop}::text[])`;
      }
      let note = `${this.node} ${row.version}\n${all ? "*" : ops!.join("\n")}`;
      // Too long for a notification: the others read the whole set instead.
      if (utf8Bytes(note) > MAX_NOTIFY_PAYLOAD_BYTES) note = `${this.node} ${row.version}\n*`;
      await tx`select pg_notify(${CHANGES}, ${note})`;
    });
  }

  protected async readEntries(node: string): Promise<NodeEntries> {
    const rows = await this.#sql<{ version: string; entry: string | null }[]>`
      select n.version, e.entry from catbus_nodes n
      left join catbus_node_entries e using (node) where n.node = ${node}`;
    const entries = new Set(rows.flatMap((r) => r.entry === null ? [] : [r.entry]));
    return { version: Number(rows[0]?.version ?? 0), entries };
  }

  /** Renews this node's listing, drops expired nodes and old mail, reads the live nodes. */
  protected async heartbeat(urls: readonly string[]): Promise<Heartbeat | undefined> {
    try {
      const [row] = await this.#sql<{ inserted: boolean }[]>`
        insert into catbus_nodes (node, urls, expires_at)
        values (${this.node}, ${this.#sql.json([...urls])},
                now() + ${this.#ttlMs} * interval '1 millisecond')
        on conflict (node) do update set urls = excluded.urls, expires_at = excluded.expires_at
        returning (xmax = 0) as inserted`;
      await this.#sql`delete from catbus_nodes where expires_at < now()`;
      await this.#sql`delete from catbus_node_mail where sent_at < now() - interval '1 minute'`;
      const live = await this.#sql<{ node: string; urls: string[] }[]>`
        select node, urls from catbus_nodes`;
      return {
        kept: !row.inserted,
        live: live.map((n) => ({ node: n.node, urls: Array.isArray(n.urls) ? n.urls : [] })),
      };
    } catch {
      return; // unreachable: the listener reconnects, and the next heartbeat tries again
    }
  }

  protected async leave(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`delete from catbus_nodes where node = ${this.node}`;
      await tx`select pg_notify(${CHANGES}, ${`${this.node} 0\n!`})`;
    });
  }

  override async close(): Promise<void> {
    await super.close();
    await this.#listener.close();
  }
}
