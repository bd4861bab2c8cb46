import type { SettingOrigins } from "../../core/settings.ts";
import { configError } from "../../core/settings-resolve.ts";

/** The settings the original's storage names set, and what they read. */
export interface StorageBackendSettings {
  engine: string;
  valkeyUrl: string;
  pulsarStorageBackend?: "memory" | "local" | "valkey";
  pulsarValkeyHost?: string;
  pulsarValkeyPort?: number;
  pulsarValkeyPassword?: string;
  pulsarValkeyDb?: number;
  origins: SettingOrigins<
    | "engine"
    | "valkeyUrl"
    | "pulsarStorageBackend"
    | "pulsarValkeyHost"
    | "pulsarValkeyPort"
    | "pulsarValkeyPassword"
    | "pulsarValkeyDb"
  >;
}

const given = (origin: string) => !origin.endsWith("(default)");

/**
 * The original's `PULSAR_STORAGE_BACKEND=valkey` and `PULSAR_VALKEY_HOST`/`_PORT`/`_PASSWORD`/`_DB`
 * (YAML `valkey.host` …) as Catbus settings: the Valkey engine (`--engine valkey`) on
 * `redis://[:PASSWORD@]HOST:PORT/DB`. A Catbus setting given for the same thing that says
 * otherwise is refused rather than silently overridden.
 */
export function applyStorageBackend<T extends StorageBackendSettings>(config: T): T {
  const o = config.origins;
  const parts = [config.pulsarValkeyHost, config.pulsarValkeyPort, config.pulsarValkeyPassword]
    .some((v) => v !== undefined) || config.pulsarValkeyDb !== undefined;
  if (config.pulsarStorageBackend !== "valkey") {
    if (config.pulsarStorageBackend && config.engine === "valkey") {
      throw configError(
        o.pulsarStorageBackend,
        `is ${config.pulsarStorageBackend} but ${o.engine} is valkey; drop one of them`,
      );
    }
    return config;
  }
  if (given(o.engine) && config.engine !== "valkey") {
    throw configError(
      o.pulsarStorageBackend,
      `is valkey but ${o.engine} is ${config.engine}; drop one of them`,
    );
  }
  let valkeyUrl = config.valkeyUrl;
  if (parts) {
    if (given(o.valkeyUrl)) {
      throw configError(
        o.valkeyUrl,
        "the PULSAR_VALKEY_* settings name the Valkey server too; keep one of them",
      );
    }
    const url = new URL("redis://localhost:6379/0");
    url.hostname = config.pulsarValkeyHost ?? "localhost";
    url.port = String(config.pulsarValkeyPort ?? 6379);
    if (config.pulsarValkeyPassword) url.password = config.pulsarValkeyPassword;
    url.pathname = `/${config.pulsarValkeyDb ?? 0}`;
    valkeyUrl = url.toString();
  }
  return { ...config, engine: "valkey", valkeyUrl };
}
