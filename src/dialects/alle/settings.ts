import { address, bool, list, oneOf, settingsGroup, text } from "../../core/settings.ts";

export const alleSettings = settingsGroup({
  title: "Alle dialect (WebSocket/SSE <-> PostgreSQL LISTEN/NOTIFY)",
  settings: {
    alleBind: {
      flag: "alle-bind",
      env: "CATBUS_ALLE_BIND",
      envAliases: ["WS_BIND_ADDR"],
      yaml: "alle.bind",
      kind: address,
      help: "serve Alle's WebSocket (at /), /sse and /notify here (Alle's is 127.0.0.1:8080); " +
        "off when unset",
    },
    alleDatabaseUrl: {
      flag: "alle-postgres-url",
      env: "CATBUS_ALLE_POSTGRES_URL",
      envAliases: ["POSTGRES_URL"],
      yaml: "alle.postgres_url",
      kind: text,
      help: "the database whose LISTEN/NOTIFY channels are bridged (default: --database-url)",
    },
    alleListenChannels: {
      flag: "alle-listen-channels",
      env: "CATBUS_ALLE_LISTEN_CHANNELS",
      envAliases: ["LISTEN_CHANNELS"],
      yaml: "alle.listen_channels",
      kind: list,
      default: [],
      help: "channels listened to from the start (comma-separated), so native subscribers of " +
        "pg.<channel> get them with no Alle client on them",
    },
    alleAuth: {
      flag: "alle-auth",
      env: "CATBUS_ALLE_AUTH",
      yaml: "alle.auth",
      kind: oneOf(["open", "token"]),
      default: "open",
      help: "open (Alle's default: no credential, every channel) or token (a Catbus token; " +
        "grants on pg.<channel> apply)",
    },
    alleAuthFunction: {
      flag: "alle-auth-function",
      env: "CATBUS_ALLE_AUTH_FUNCTION",
      envAliases: ["AUTH_FUNCTION"],
      yaml: "alle.auth_function",
      kind: text,
      help: "Alle's auth: a SQL function (schema.name) taking the token and returning " +
        "(user_id, authenticated) or a bool; an authenticated user may use every channel",
    },
    allePersist: {
      flag: "alle-persist",
      env: "CATBUS_ALLE_PERSIST",
      yaml: "alle.persist",
      kind: bool,
      default: false,
      help: "store notifications in the namespace pg, so native subscribers can replay and " +
        "resume them; on a shared engine (valkey, postgres) one node stores (the holder of a " +
        "PostgreSQL advisory lock)",
    },
  },
});
