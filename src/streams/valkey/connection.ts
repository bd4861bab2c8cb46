import { Cluster, Redis, type RedisOptions } from "iovalkey";

/** One server, or a Redis Cluster reached through any of its nodes. */
export type Connection = Redis | Cluster;

/**
 * A connection to `url`, made by `connect()` (unless `lazyConnect: false`). With `cluster`, `url` names one node of a Redis
 * Cluster (the others are discovered); keys of one namespace share a hash tag, so each script
 * runs on one shard.
 */
export function connection(
  url: string,
  cluster: boolean,
  options: RedisOptions & { lazyConnect?: boolean },
): Connection {
  const lazyConnect = options.lazyConnect ?? true;
  if (!cluster) return new Redis(url, { ...options, lazyConnect });
  const { hostname, port } = new URL(url);
  return new Cluster([{ host: hostname, port: Number(port || 6379) }], {
    lazyConnect,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    redisOptions: { ...options, ...nodeOptions(url) },
  });
}

/** How to reach any node of the server `url` names: its user, password and TLS. */
export function nodeOptions(url: string): RedisOptions {
  const { username, password } = new URL(url);
  return {
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    ...(url.startsWith("rediss:") ? { tls: {} } : {}),
  };
}
