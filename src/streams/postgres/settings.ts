import { duration, settingsGroup } from "../../core/settings.ts";

/** The PostgreSQL engine's own settings (its database is --database-url). */
export const postgresEngineSettings = settingsGroup({
  title: "PostgreSQL stream engine (--engine postgres, on --database-url)",
  settings: {
    postgresPollIntervalMs: {
      flag: "postgres-poll-interval",
      env: "CATBUS_POSTGRES_POLL_INTERVAL",
      yaml: "postgres.poll_interval",
      kind: duration,
      default: 500,
      help: "how often each followed namespace's top is read whatever the doorbell says " +
        "(NOTIFY is lost while a listener is away); also how soon an outage is noticed",
    },
    postgresConsumerIntervalMs: {
      flag: "postgres-consumer-interval",
      env: "CATBUS_POSTGRES_CONSUMER_INTERVAL",
      yaml: "postgres.consumer_interval",
      kind: duration,
      default: 1_000,
      help: "how often a node tries to take the lease (advisory lock) of a durable consumer " +
        "whose members it has: the longest a dead holder's pump waits to move",
    },
  },
});
