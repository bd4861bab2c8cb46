import type { Schema } from "../../connectors/postgres/migrations.ts";
import type { Sql, TransactionSql } from "../../connectors/postgres/connect.ts";
import { splitGrantKey } from "./records.ts";
import type { RecordChange, RecordKind } from "./record-types.ts";

/**
 * The Pulsar door's tables, as numbered migrations applied by `catbus init`. Version 1 kept the
 * whole state as one JSON document rewritten on every change; version 2 gives each kind of
 * record a table (usernames and topic names unique in the database) and moves the document's
 * records into them, once.
 */
export const PULSAR_SCHEMA: Schema = {
  what: "pulsar",
  versionTable: "catbus_pulsar_schema",
  migrations: [
    `CREATE TABLE catbus_pulsar_state (
       id boolean PRIMARY KEY DEFAULT true CHECK (id),
       version bigint NOT NULL,
       state jsonb NOT NULL
     );
     INSERT INTO catbus_pulsar_state (version, state)
       VALUES (0, '{"version":1,"users":[],"topics":[],"refresh":[],"denied":{}}');`,
    `CREATE TABLE catbus_pulsar_users (
       user_id text PRIMARY KEY,
       username text NOT NULL UNIQUE,
       email text,
       hashed_password text NOT NULL,
       is_active boolean NOT NULL,
       created_at timestamptz NOT NULL,
       permissions text[] NOT NULL
     );
     CREATE TABLE catbus_pulsar_topics (
       topic_name text PRIMARY KEY,
       topic_id text NOT NULL UNIQUE,
       owner_id text NOT NULL,
       is_public boolean NOT NULL,
       description text,
       created_at timestamptz NOT NULL,
       first_seq bigint NOT NULL
     );
     CREATE TABLE catbus_pulsar_grants (
       topic_name text NOT NULL REFERENCES catbus_pulsar_topics ON DELETE CASCADE,
       user_id text NOT NULL,
       granted_at timestamptz NOT NULL,
       PRIMARY KEY (topic_name, user_id)
     );
     CREATE TABLE catbus_pulsar_refresh (
       jti text PRIMARY KEY,
       user_id text NOT NULL,
       secret_hash text NOT NULL,
       parent_jti text,
       expires_at bigint NOT NULL, -- ms
       revoked boolean NOT NULL
     );
     CREATE TABLE catbus_pulsar_denied (
       jti text PRIMARY KEY,
       expires_at bigint NOT NULL -- s
     );
     INSERT INTO catbus_pulsar_users
       SELECT u.user_id, u.username, u.email, u.hashed_password, u.is_active,
              u.created_at::timestamptz, ARRAY(SELECT jsonb_array_elements_text(u.permissions))
       FROM catbus_pulsar_state, jsonb_to_recordset(state->'users') AS u(user_id text,
         username text, email text, hashed_password text, is_active boolean, created_at text,
         permissions jsonb);
     INSERT INTO catbus_pulsar_topics
       SELECT t.topic_name, t.topic_id, t.owner_id, t.is_public, t.description,
              t.created_at::timestamptz, t.first_seq
       FROM catbus_pulsar_state, jsonb_to_recordset(state->'topics') AS t(topic_name text,
         topic_id text, owner_id text, is_public boolean, description text, created_at text,
         first_seq bigint);
     INSERT INTO catbus_pulsar_grants
       SELECT t.value->>'topic_name', g.key, g.value::timestamptz
       FROM catbus_pulsar_state, jsonb_array_elements(state->'topics') AS t,
            jsonb_each_text(t.value->'grants') AS g;
     INSERT INTO catbus_pulsar_refresh
       SELECT r.jti, r.user_id, r.secret_hash, r.parent_jti, r.expires_at, r.revoked
       FROM catbus_pulsar_state, jsonb_to_recordset(state->'refresh') AS r(jti text,
         user_id text, secret_hash text, parent_jti text, expires_at bigint, revoked boolean);
     INSERT INTO catbus_pulsar_denied
       SELECT d.key, d.value::bigint FROM catbus_pulsar_state, jsonb_each_text(state->'denied') AS d;
     DROP TABLE catbus_pulsar_state;`,
  ],
};

type Row = Record<string, unknown>;

/** How one kind of record is a row: its table, the key's columns and the conversions. */
export interface Table {
  name: string;
  keyColumns: string[];
  /** The WHERE condition naming the record `key`. */
  where(sql: Sql | TransactionSql, key: string): ReturnType<Sql>;
  row(change: RecordChange): Row;
  /** The record's value from its row. */
  value(row: Row): NonNullable<RecordChange["value"]>;
}

const iso = (t: unknown) => (t as Date).toISOString();

export const TABLES: Record<RecordKind, Table> = {
  user: {
    name: "catbus_pulsar_users",
    keyColumns: ["user_id"],
    where: (sql, key) => sql`user_id = ${key}`,
    row: (c) => ({ ...c.value as object }),
    value: (r) => ({
      user_id: r.user_id as string,
      username: r.username as string,
      email: r.email as string | null,
      hashed_password: r.hashed_password as string,
      is_active: r.is_active as boolean,
      created_at: iso(r.created_at),
      permissions: r.permissions as never,
    }),
  },
  topic: {
    name: "catbus_pulsar_topics",
    keyColumns: ["topic_name"],
    where: (sql, key) => sql`topic_name = ${key}`,
    row: (c) => ({ ...c.value as object }),
    value: (r) => ({
      topic_id: r.topic_id as string,
      topic_name: r.topic_name as string,
      owner_id: r.owner_id as string,
      is_public: r.is_public as boolean,
      description: r.description as string | null,
      created_at: iso(r.created_at),
      first_seq: Number(r.first_seq),
    }),
  },
  grant: {
    name: "catbus_pulsar_grants",
    keyColumns: ["topic_name", "user_id"],
    where: (sql, key) => {
      const [topic, userId] = splitGrantKey(key);
      return sql`topic_name = ${topic} and user_id = ${userId}`;
    },
    row: (c) => {
      const [topic_name, user_id] = splitGrantKey(c.key);
      return { topic_name, user_id, granted_at: c.value };
    },
    value: (r) => iso(r.granted_at),
  },
  refresh: {
    name: "catbus_pulsar_refresh",
    keyColumns: ["jti"],
    where: (sql, key) => sql`jti = ${key}`,
    row: (c) => ({ ...c.value as object }),
    value: (r) => ({
      jti: r.jti as string,
      user_id: r.user_id as string,
      secret_hash: r.secret_hash as string,
      parent_jti: r.parent_jti as string | null,
      expires_at: Number(r.expires_at),
      revoked: r.revoked as boolean,
    }),
  },
  denied: {
    name: "catbus_pulsar_denied",
    keyColumns: ["jti"],
    where: (sql, key) => sql`jti = ${key}`,
    row: (c) => ({ jti: c.key, expires_at: c.value }),
    value: (r) => Number(r.expires_at),
  },
};

/** The key of a record from its row. */
export function keyOf(kind: RecordKind, row: Row): string {
  return TABLES[kind].keyColumns.map((c) => row[c]).join("/");
}
