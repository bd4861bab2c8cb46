import assert from "node:assert/strict";
import { duplicateNames } from "../core/settings-resolve.ts";
import { DEFAULTS, resolveConfig, SETTING_GROUPS } from "./config.ts";

Deno.test("config - flags beat environment beat YAML beat defaults", () => {
  const yaml = {
    path: "c.yaml",
    text: "bind: 0.0.0.0:1\ntcp_bind: 0.0.0.0:2\nlimits:\n  max_payload: 2MiB\n",
  };
  const c = resolveConfig({
    flags: { bind: "127.0.0.1:9" },
    env: { CATBUS_BIND: "127.0.0.1:8", CATBUS_TCP_BIND: "127.0.0.1:7" },
    yaml,
  });
  assert.equal(c.bind, "127.0.0.1:9");
  assert.equal(c.tcpBind, "127.0.0.1:7");
  assert.equal(c.maxPayload, 2 * 1024 * 1024);
  assert.equal(c.historyMessages, DEFAULTS.historyMessages);
});

Deno.test("config - bad values name the setting and where it came from", () => {
  assert.throws(
    () => resolveConfig({ flags: { "max-payload": "lots" }, env: {} }),
    /--max-payload: expected a size/,
  );
  assert.throws(
    () => resolveConfig({ flags: {}, env: { CATBUS_BIND: "nowhere" } }),
    /CATBUS_BIND: expected host:port/,
  );
  assert.throws(
    () =>
      resolveConfig({
        flags: {},
        env: {},
        yaml: { path: "c.yaml", text: "limits:\n  heartbeat: soon\n" },
      }),
    /c.yaml: limits.heartbeat: expected a duration/,
  );
  assert.throws(
    () => resolveConfig({ flags: { cert: "a.pem" }, env: {} }),
    /needs both/,
  );
  assert.throws(
    () =>
      resolveConfig({
        flags: {},
        env: {},
        yaml: { path: "c.yaml", text: ": :" },
      }),
    /c.yaml/,
  );
});

Deno.test("config - unknown YAML keys and non-mapping sections are refused, with a guess", () => {
  const refused = (text: string, message: RegExp) =>
    assert.throws(
      () => resolveConfig({ flags: {}, env: {}, yaml: { path: "c.yaml", text } }),
      message,
    );
  refused(
    "auth:\n  requried: true\n",
    /c.yaml: unknown key auth.requried; did you mean auth.required\?/,
  );
  refused("heartbeat: 5s\n", /unknown key heartbeat; did you mean limits.heartbeat\?/);
  refused("limts:\n  max_payload: 1MiB\n", /unknown key limts; did you mean limits\?/);
  refused("nonsense: 1\n", /unknown key nonsense \(`catbusd --help` lists the settings\)/);
  refused(
    "limits: 5\n",
    /c.yaml: limits must be a mapping of settings \(such as limits\.\w+\), got 5/,
  );
  refused("limits:\n  heartbeat: 0\n", /c.yaml: limits.heartbeat: must be above 0/);
  assert.throws(
    () => resolveConfig({ flags: { "max-connections": "0" }, env: {} }),
    /--max-connections: must be above 0/,
  );
  // Where 0 means something, it is taken.
  const c = resolveConfig({
    flags: {},
    env: {},
    yaml: { path: "c.yaml", text: "retention:\n  max_age: 0\nlimits:\n  max_publish_rate: 0\n" },
  });
  assert.deepEqual([c.retentionMaxAgeMs, c.maxPublishRate], [0, 0]);
});

Deno.test("config - rstmdb's names: aliases with their own units, the fsync mapping, unimplemented keys warned once", () => {
  const warnings: string[] = [];
  const yaml = {
    path: "rstmdb.yaml",
    text: [
      "network:\n  idle_timeout_secs: 30",
      "storage:\n  max_machine_versions: 3\n  fsync_policy:\n    every_ms: 100",
      "  allow_instance_recreate: true",
      "metrics:\n  enabled: true\n  bind_addr: 0.0.0.0:9090",
    ].join("\n"),
  };
  const c = resolveConfig({ flags: {}, env: {}, yaml, warn: (m) => warnings.push(m) });
  assert.equal(c.rcpIdleTimeoutMs, 30_000, "seconds in rstmdb's key");
  assert.equal(c.smMaxMachineVersions, 3);
  assert.equal(c.smFsync, "every_ms:100");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /storage\.allow_instance_recreate, metrics\.bind_addr$/);
  const env = resolveConfig({ flags: {}, env: { RSTMDB_IDLE_TIMEOUT: "5" } });
  assert.equal(env.rcpIdleTimeoutMs, 5_000);
  const old = resolveConfig({
    flags: {},
    env: {},
    yaml: { path: "c.yaml", text: "limits:\n  max_machine_versions: 2\n" },
  });
  assert.equal(old.smMaxMachineVersions, 2, "the earlier Catbus key still works");
  assert.throws(
    () =>
      resolveConfig({
        flags: {},
        env: {},
        yaml: { path: "c.yaml", text: "storage:\n  fsync_policy:\n    every_hour: 1\n" },
      }),
    /storage\.fsync_policy: expected every_write/,
  );
});

Deno.test("config - the original Bus server's environment is honoured", () => {
  const c = resolveConfig({
    flags: {},
    env: { BUS_PATH: "/storage", BUS_LOG_LEVEL: "DEBUG", BUS_DUP_TTL: "1m30s", BUS_DUP_SIZE: "0" },
  });
  assert.equal(c.data, "/storage");
  assert.equal(c.logLevel, "debug");
  assert.equal(c.dedupeWindowMs, 90_000);
  assert.equal(c.dedupeMaxKeys, 0);
});

Deno.test("config - a bad value given by an alias is reported under the alias", () => {
  const refused = (env: Record<string, string>, message: RegExp) =>
    assert.throws(() => resolveConfig({ flags: {}, env }), message);
  refused({ BUS_ADDR: "nowhere" }, /Error: BUS_ADDR: expected host:port, got "nowhere"$/);
  refused({ BUS_ADDR: "127.0.0.1:99999" }, /Error: BUS_ADDR: port 99999 is out of range$/);
  refused({ BUS_BLOCK_SIZE: "5" }, /Error: BUS_BLOCK_SIZE: expected 4096, 8192 or 16384/);
  refused({ CATBUS_BUS_AUTH: "closed" }, /Error: CATBUS_BUS_AUTH: expected open or token/);
  refused(
    { RSTMDB_IDLE_TIMEOUT: "soon" },
    /Error: RSTMDB_IDLE_TIMEOUT: expected a number of seconds/,
  );
  refused({ CATBUS_CERT: "a.pem" }, /Error: CATBUS_CERT: TLS needs both a certificate and a key/);
  assert.throws(
    () =>
      resolveConfig({
        flags: {},
        env: {},
        yaml: { path: "c.yaml", text: "network:\n  idle_timeout_secs: never\n" },
      }),
    /Error: c.yaml: network.idle_timeout_secs: expected a number of seconds/,
  );
});

Deno.test("config - no two settings of the tables share a field, flag, variable or YAML key", () => {
  assert.deepEqual(duplicateNames(SETTING_GROUPS), []);
});

Deno.test("config - each setting's origin is the flag, variable or key that set it", () => {
  const c = resolveConfig({
    flags: { bind: "127.0.0.1:1" },
    env: { BUS_ADDR: "127.0.0.1:2" },
    yaml: { path: "c.yaml", text: "network:\n  bind_addr: 127.0.0.1:3\n" },
  });
  assert.deepEqual(
    [c.origins.bind, c.origins.busBind, c.origins.rcpBind, c.origins.tcpBind, c.origins.cert],
    ["--bind", "BUS_ADDR", "c.yaml: network.bind_addr", "--tcp-bind (default)", "--cert"],
  );
});

Deno.test("config - namespaces: a list of names, or a YAML mapping of each to its settings", () => {
  const fromFlag = resolveConfig({ flags: { namespaces: "a, b" }, env: {} });
  assert.deepEqual(fromFlag.namespaces, [
    { name: "a", ephemeral: false },
    { name: "b", ephemeral: false },
  ]);
  const yaml = { path: "c.yaml", text: "namespaces:\n  ticks: { ephemeral: true }\n  orders:\n" };
  assert.deepEqual(resolveConfig({ flags: {}, env: {}, yaml }).namespaces, [
    { name: "ticks", ephemeral: true },
    { name: "orders", ephemeral: false },
  ]);
  const fromYaml = (text: string) => () =>
    resolveConfig({ flags: {}, env: {}, yaml: { path: "c.yaml", text } });
  assert.throws(
    fromYaml("namespaces:\n  ticks: { ephemral: true }\n"),
    /c.yaml: namespaces.ticks: unknown key ephemral/,
  );
  assert.throws(
    fromYaml("namespaces:\n  ticks: { ephemeral: yes please }\n"),
    /c.yaml: namespaces.ticks.ephemeral: expected true or false/,
  );
});

Deno.test("config - the postgres engine needs a database, named by DATABASE_URL too", () => {
  assert.throws(
    () => resolveConfig({ flags: { engine: "postgres" }, env: {} }),
    /--engine: the postgres engine needs --database-url .*catbus init/,
  );
  const c = resolveConfig({
    flags: {},
    env: { CATBUS_ENGINE: "postgres", DATABASE_URL: "postgres://db/catbus" },
  });
  assert.deepEqual([c.engine, c.databaseUrl], ["postgres", "postgres://db/catbus"]);
});

Deno.test("config - the Pulsar Relay's storage names select the Valkey engine", () => {
  const c = resolveConfig({
    flags: {},
    env: {
      PULSAR_STORAGE_BACKEND: "valkey",
      PULSAR_VALKEY_HOST: "valkey.example.com",
      PULSAR_VALKEY_PORT: "6380",
      PULSAR_VALKEY_PASSWORD: "s3cret",
    },
    yaml: { path: "c.yaml", text: "valkey:\n  host: ignored-env-wins\n  db: 2\n" },
  });
  assert.equal(c.engine, "valkey");
  assert.equal(c.valkeyUrl, "redis://:s3cret@valkey.example.com:6380/2");
  const storage = resolveConfig({
    flags: {},
    env: {},
    yaml: {
      path: "c.yaml",
      text: "storage:\n  persistent_tier_retention: 24h\n  max_messages_per_topic: 500\n",
    },
  });
  assert.equal(storage.pulsarPersistentTierRetentionMs, 86_400_000, "the original's YAML key");
  assert.equal(storage.pulsarMaxMessagesPerTopic, 500, "the original's YAML key");
  assert.equal(
    resolveConfig({ flags: {}, env: {} }).pulsarMaxMessagesPerTopic,
    1_000_000,
    "the original's default",
  );
  const capped = resolveConfig({ flags: {}, env: { PULSAR_MAX_MESSAGES_PER_TOPIC: "7" } });
  assert.equal(capped.pulsarMaxMessagesPerTopic, 7);
  const plain = resolveConfig({ flags: {}, env: { PULSAR_STORAGE_BACKEND: "valkey" } });
  assert.deepEqual([plain.engine, plain.valkeyUrl], ["valkey", DEFAULTS.valkeyUrl]);
  assert.equal(resolveConfig({ flags: {}, env: { PULSAR_VALKEY_HOST: "h" } }).engine, "local");
  assert.throws(
    () => resolveConfig({ flags: { engine: "local" }, env: { PULSAR_STORAGE_BACKEND: "valkey" } }),
    /PULSAR_STORAGE_BACKEND: is valkey but --engine is local; drop one of them/,
  );
  assert.throws(
    () =>
      resolveConfig({
        flags: { "valkey-url": "redis://other:6379" },
        env: { PULSAR_STORAGE_BACKEND: "valkey", PULSAR_VALKEY_HOST: "h" },
      }),
    /--valkey-url: the PULSAR_VALKEY_\* settings name the Valkey server too/,
  );
});
