import type { Broker } from "../../core/broker.ts";
import type { Logger } from "../../core/logger.ts";
import type { ReplyHolders } from "../../core/replies.ts";
import type { ConsumerRegistry } from "../../streams/consumer-registry.ts";
import type { SessionRegistry } from "../../auth/live-connections.ts";
import type { RoleStore } from "../../auth/role-store.ts";
import type { PublishLimits } from "../../access/publisher.ts";
import type { Route } from "./routes.ts";
import type { LiveNode } from "../../streams/node-channels.ts";

/** What the admin API reads and acts on: the server's parts, handed over by server.ts. */
export interface AdminContext {
  broker: Broker;
  consumers: ConsumerRegistry;
  live: SessionRegistry;
  roles: RoleStore;
  /** The token signing secret (to mint `sub-` tokens). */
  secret: string;
  adminKey: string;
  /** The console's own view of the reply permits (its publishes are counted as door `console`). */
  replies: ReplyHolders;
  checkNamespace(name: string): Promise<void>;
  limits: PublishLimits;
  /** Connections open now per door. */
  connections(): Iterable<[door: string, open: number]>;
  /** Messages published and delivered since start, over every door. */
  traffic(): { published: number; delivered: number };
  retention: { maxAgeMs: number; maxMessages: number; maxBytes: number };
  version: string;
  /** The stream engine (`--engine`): `local`, or `valkey`/`postgres` when nodes share it. */
  engine: string;
  /** With a shared engine: this node's id and the live nodes of the registry. */
  cluster?: () => { self: string; nodes: readonly LiveNode[] };
  startedAt: number;
  data: string;
  /** Console cookies get `Secure` when the HTTP listener has TLS. */
  tls: boolean;
  sessionMs: number;
  log: Logger;
  /** The running doors' own admin routes, by door name (served under `/admin/api/<door>/`). */
  doorRoutes(): Iterable<[door: string, routes: readonly Route[]]>;
}
