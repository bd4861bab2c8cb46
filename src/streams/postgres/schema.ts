import type { Schema } from "../../connectors/postgres/migrations.ts";
import { NODE_CHANNELS_SCHEMA } from "./node-channels.ts";

/**
 * The PostgreSQL engine's tables and functions, as numbered migrations applied by `catbus init`
 * (catbusd only checks the version). docs/postgres.md describes them for operators and for
 * applications that publish from SQL.
 *
 * - `catbus_stream_namespaces`: one row per namespace — its epoch, the last sequence before the
 *   epoch began (`base`), the last sequence given (`top`) and the newest message time. Its row
 *   lock is what orders a namespace's publishes.
 * - `catbus_stream_messages`: append-only, range-partitioned by `time` (one partition a day,
 *   made ahead by `catbus_stream_partitions`; a default partition takes rows no partition
 *   covers), so age retention drops whole partitions.
 * - `catbus_stream_keys`: dedupe keys with the sequence first stored under them and when they
 *   are forgotten.
 * - `catbus_publish(namespace, records, …)`: the one writer.
 * - `catbus_stream_purges`, `catbus_stream_first_kept`: purged channels (migration 3).
 */
const V1 = String.raw`
-- Every namespace ever made: apart from its row below, so a namespace whose row and messages
-- were lost is still opened (and starts a new epoch).
CREATE TABLE catbus_stream_names (name text PRIMARY KEY);
CREATE TABLE catbus_stream_namespaces (
  name text PRIMARY KEY,
  epoch text NOT NULL,
  base bigint NOT NULL,
  top bigint NOT NULL,
  newest timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE TABLE catbus_stream_messages (
  namespace text NOT NULL,
  seq bigint NOT NULL,
  time timestamptz NOT NULL,
  data bytea NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX catbus_stream_messages_seq ON catbus_stream_messages (namespace, seq);
CREATE INDEX catbus_stream_messages_time ON catbus_stream_messages (namespace, time);
CREATE TABLE catbus_stream_messages_default PARTITION OF catbus_stream_messages DEFAULT;
CREATE TABLE catbus_stream_keys (
  namespace text NOT NULL,
  key text NOT NULL,
  epoch text NOT NULL,
  seq bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (namespace, key)
);
CREATE TABLE catbus_stream_consumers (
  name text PRIMARY KEY,
  state jsonb NOT NULL
);

-- The doorbell channel of a namespace: a name of fixed length whatever the namespace's.
CREATE FUNCTION catbus_stream_channel(p_namespace text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 'catbus_s_' || md5(p_namespace) $$;

-- The namespace's row, locked until the transaction ends; created (epoch new) when missing, and
-- given a new epoch when the caller saw more of this epoch than the table holds (a restored
-- backup): a new epoch goes on after every sequence given before, so none is given twice.
CREATE FUNCTION catbus_stream_head(
  p_namespace text, p_known_epoch text DEFAULT NULL, p_known_seq bigint DEFAULT 0
) RETURNS catbus_stream_namespaces
LANGUAGE plpgsql AS $$
DECLARE
  m catbus_stream_namespaces;
  survived bigint;
  fresh text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
BEGIN
  SELECT * INTO m FROM catbus_stream_namespaces WHERE name = p_namespace FOR UPDATE;
  IF NOT FOUND THEN
    SELECT max(seq) INTO survived FROM catbus_stream_messages WHERE namespace = p_namespace;
    INSERT INTO catbus_stream_namespaces (name, epoch, base, top)
      VALUES (p_namespace, fresh, coalesce(survived, 0), coalesce(survived, 0))
      ON CONFLICT (name) DO NOTHING;
    INSERT INTO catbus_stream_names VALUES (p_namespace) ON CONFLICT DO NOTHING;
    IF FOUND THEN PERFORM pg_notify('catbus_namespaces', p_namespace); END IF;
    SELECT * INTO m FROM catbus_stream_namespaces WHERE name = p_namespace FOR UPDATE;
  ELSIF m.epoch = p_known_epoch AND m.top < p_known_seq THEN
    SELECT max(seq) INTO survived FROM catbus_stream_messages WHERE namespace = p_namespace;
    m.top := greatest(m.top, coalesce(survived, 0), p_known_seq);
    UPDATE catbus_stream_namespaces SET epoch = fresh, base = m.top, top = m.top
      WHERE name = p_namespace RETURNING * INTO m;
  END IF;
  RETURN m;
END $$;

-- A stored record's channel and dedupe key (the layout of src/streams/record.ts).
CREATE FUNCTION catbus_record_channel(r bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT convert_from(substring(r FROM 3 FOR get_byte(r, 1)), 'UTF8')
$$;
CREATE FUNCTION catbus_record_key(r bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE o int := 2 + get_byte(r, 1);
BEGIN
  o := o + 1 + get_byte(r, o) + 8;
  RETURN nullif(convert_from(substring(r FROM o + 3 FOR (get_byte(r, o) << 8) | get_byte(r, o + 1)), 'UTF8'), '');
END $$;

-- Publishes records (bytea, as catbus_message builds them) into a namespace in commit order:
-- the namespace's row lock is held until the caller's transaction ends, so sequences are given
-- gap-free in commit order (a rolled-back transaction gives its sequences back). A record whose
-- dedupe key was stored within the window is not stored again: its row answers the first
-- sequence with duplicate = true. One empty notification per transaction rings the namespace's
-- doorbell at commit. Time is this server's clock, never backwards within the namespace.
CREATE FUNCTION catbus_publish(
  p_namespace text,
  p_records bytea[],
  p_dedupe_window interval DEFAULT interval '2 minutes',
  p_known_epoch text DEFAULT NULL,
  p_known_seq bigint DEFAULT 0
) RETURNS TABLE (epoch text, base bigint, seq bigint, duplicate boolean, time_ms bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  m catbus_stream_namespaces;
  t timestamptz;
  k text;
  first bigint;
  stored boolean := false;
  r bytea;
BEGIN
  m := catbus_stream_head(p_namespace, p_known_epoch, p_known_seq);
  t := greatest(clock_timestamp(), m.newest);
  epoch := m.epoch;
  base := m.base;
  time_ms := floor(extract('epoch' FROM t) * 1000);
  FOREACH r IN ARRAY coalesce(p_records, '{}') LOOP
    IF split_part(catbus_record_channel(r), '.', 1) <> p_namespace THEN
      RAISE EXCEPTION 'channel % is not in namespace %', catbus_record_channel(r), p_namespace
        USING ERRCODE = '22023';
    END IF;
    k := CASE WHEN p_dedupe_window > interval '0' THEN catbus_record_key(r) END;
    first := NULL;
    IF k IS NOT NULL THEN
      SELECT d.seq INTO first FROM catbus_stream_keys d
        WHERE d.namespace = p_namespace AND d.key = k AND d.epoch = m.epoch AND d.expires_at > t;
    END IF;
    IF first IS NOT NULL THEN
      seq := first;
      duplicate := true;
    ELSE
      m.top := m.top + 1;
      INSERT INTO catbus_stream_messages (namespace, seq, time, data) VALUES (p_namespace, m.top, t, r);
      IF k IS NOT NULL THEN
        INSERT INTO catbus_stream_keys AS d (namespace, key, epoch, seq, expires_at)
          VALUES (p_namespace, k, m.epoch, m.top, t + p_dedupe_window)
          ON CONFLICT (namespace, key) DO UPDATE
            SET epoch = excluded.epoch, seq = excluded.seq, expires_at = excluded.expires_at;
      END IF;
      seq := m.top;
      duplicate := false;
      stored := true;
    END IF;
    RETURN NEXT;
  END LOOP;
  IF stored THEN
    UPDATE catbus_stream_namespaces SET top = m.top, newest = t WHERE name = p_namespace;
    PERFORM pg_notify(catbus_stream_channel(p_namespace), '');
  END IF;
END $$;

-- A message id as catbusd makes them (src/core/ids.ts): 10 characters of milliseconds, 3 of a
-- counter (random here), 7 random; Crockford base32.
CREATE FUNCTION catbus_message_id() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  alphabet text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
  id text := '';
BEGIN
  FOR i IN 1..10 LOOP
    id := substr(alphabet, (ms % 32)::int + 1, 1) || id;
    ms := ms / 32;
  END LOOP;
  FOR i IN 1..10 LOOP
    id := id || substr(alphabet, floor(random() * 32)::int + 1, 1);
  END LOOP;
  RETURN id;
END $$;

-- A JSON message on a channel, as a record for catbus_publish: the channel (no wildcards, no
-- empty token, no whitespace, at most 255 bytes), an optional dedupe key and headers (string
-- values).
CREATE FUNCTION catbus_message(
  p_channel text, p_payload jsonb, p_key text DEFAULT NULL, p_headers jsonb DEFAULT NULL
) RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  channel bytea := convert_to(p_channel, 'UTF8');
  id bytea := convert_to(catbus_message_id(), 'UTF8');
  key bytea := convert_to(coalesce(p_key, ''), 'UTF8');
  headers bytea := convert_to(coalesce(p_headers::text, ''), 'UTF8');
BEGIN
  IF p_channel !~ '^[^.*>\s]+(\.[^.*>\s]+)*$' OR length(channel) > 255 THEN
    RAISE EXCEPTION 'invalid channel %: dot-separated non-empty tokens, no wildcards or whitespace, at most 255 bytes', p_channel
      USING ERRCODE = '22023';
  END IF;
  IF length(key) > 65535 THEN
    RAISE EXCEPTION 'dedupe key is longer than 65535 bytes' USING ERRCODE = '22023';
  END IF;
  IF p_headers IS NOT NULL AND jsonb_typeof(p_headers) <> 'object' THEN
    RAISE EXCEPTION 'headers must be a JSON object of strings' USING ERRCODE = '22023';
  END IF;
  RETURN '\x00'::bytea || set_byte('\x00'::bytea, 0, length(channel)) || channel
    || set_byte('\x00'::bytea, 0, length(id)) || id
    || '\x0000000000000000'::bytea
    || substring(int4send(length(key)) FROM 3) || key
    || int4send(length(headers)) || headers
    || convert_to(p_payload::text, 'UTF8');
END $$;

-- Makes the daily partitions from p_from for p_days days (those a default partition row already
-- falls into are left to the default partition). Returns how many it made.
CREATE FUNCTION catbus_stream_partitions(p_from timestamptz, p_days int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  day date;
  made int := 0;
  name text;
BEGIN
  FOR i IN 0..p_days - 1 LOOP
    day := (p_from AT TIME ZONE 'UTC')::date + i;
    name := 'catbus_stream_messages_' || to_char(day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(name) IS NOT NULL;
    CONTINUE WHEN EXISTS (SELECT 1 FROM catbus_stream_messages_default
      WHERE time >= day::timestamp AT TIME ZONE 'UTC' AND time < (day + 1)::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TABLE %I PARTITION OF catbus_stream_messages FOR VALUES FROM (%L) TO (%L)',
      name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    made := made + 1;
  END LOOP;
  RETURN made;
END $$;

-- Drops the daily partitions wholly older than p_before. Returns how many it dropped.
CREATE FUNCTION catbus_stream_drop_partitions(p_before timestamptz) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  dropped int := 0;
BEGIN
  FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'catbus_stream_messages'::regclass
      AND c.relname ~ '^catbus_stream_messages_[0-9]{8}$'
  LOOP
    IF (to_date(right(part.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= p_before THEN
      EXECUTE format('DROP TABLE %I', part.relname);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $$;
`;

/**
 * Purged channels (see EngineStream.purgeChannel): how far each channel's rows are deleted (a
 * later purge starts there), and the oldest sequence retention keeps when purges deleted rows
 * at the front (resumes before it are not recovered; purged rows are no loss).
 */
const PURGES = String.raw`
CREATE TABLE catbus_stream_purges (
  namespace text NOT NULL,
  channel text NOT NULL,
  through bigint NOT NULL,
  PRIMARY KEY (namespace, channel)
);
CREATE TABLE catbus_stream_first_kept (
  namespace text PRIMARY KEY,
  seq bigint NOT NULL
);
`;

export const STREAMS_SCHEMA: Schema = {
  what: "streams",
  versionTable: "catbus_stream_schema",
  migrations: [V1, NODE_CHANNELS_SCHEMA, PURGES],
};

/** The channel a namespace's creation is announced on (its payload is the namespace's name). */
export const CREATED_CHANNEL = "catbus_namespaces";
/** The channel consumers' creations and deletions are announced on (payload: the name). */
export const CONSUMERS_CHANNEL = "catbus_consumers";
