import type { Authenticator } from "../auth/authenticator.ts";
import type { Broker } from "../core/broker.ts";
import type { Logger } from "../core/logger.ts";
import type { PresenceRegistry } from "../core/presence.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { ReplyHolders } from "../core/replies.ts";
import type { ConsumerRegistry } from "../streams/consumer-registry.ts";
import type { AcceptReport, Admission } from "../transport/accept-loop.ts";
import type { SessionRegistry } from "../auth/live-connections.ts";
import type { HttpLimits } from "../transport/http-server.ts";
import type { Registry } from "prom-client";

/** What every door is given by the server: the shared core and the access layer's parts. */
export interface DoorServices {
  broker: Broker;
  consumers: ConsumerRegistry;
  /** Who is present on which channel, through every door (this node's). */
  presence: PresenceRegistry;
  /** Credential → principal (tokens, role tokens, the admin key). */
  authenticator: Authenticator;
  /**
   * Who may answer which request, shared by every door; each door's own view, which also counts
   * its traffic for the metrics (access/metered.ts).
   */
  replies: ReplyHolders;
  /** Where a door registers each live connection, so revocation and expiry reach it. */
  live: Pick<SessionRegistry, "add" | "delete">;
  /** Refuses namespaces that may not be created (a declared list); resolves when allowed. */
  checkNamespace(name: string): Promise<void>;
  log: Logger;
  /** The server's certificate and key (PEM), when it has them. */
  tls?: { cert: string; key: string };
  /** Header and idle timeouts and size limits of every HTTP door (--http-header-timeout, …). */
  http: HttpLimits;
  /** This door's connection slots (--max-connections-per-door) and accept-failure reports. */
  admission: DoorAdmission;
  /**
   * For a door of several listeners (the native one: http, tcp, webtransport): the admission of
   * one of them, counted as a door of its own under --max-connections-per-door.
   */
  admissionOf(listener: string): DoorAdmission;
  /**
   * `ready`, or why not: `shutting_down` once the server drains, `database_unavailable` while
   * the role database is away (a readiness probe answers 503 then).
   */
  readiness(): string;
  /**
   * True when the stream engine is shared by several nodes (Valkey): a message stored on one
   * node reaches every node's subscribers, so a door that stores what an outside system sends
   * must store it on one node only.
   */
  sharedStorage: boolean;
  /** The server's name and version, for a door's greeting. */
  serverName: string;
  /** With a shared engine: the URLs of the cluster's live nodes, for the native welcome. */
  nodeUrls?: () => readonly string[];
  /**
   * The server's own HTTP routes (`/metrics`, the admin API, the console), served by the door
   * that owns the main HTTP listener (`--bind`).
   */
  routes: readonly HttpMount[];
  /** The server's Prometheus registry (`/metrics`), where a door registers its own series. */
  metrics: Registry;
}

/**
 * One admin API route: a method, a path (its groups are the parameters) and a handler that
 * answers JSON. Errors are thrown as CatbusErrors (their codes become statuses).
 */
export type AdminRoute = readonly [
  method: string,
  path: RegExp,
  handle: (request: Request, url: URL, params: string[]) => Response | Promise<Response>,
];

/** Requests to `prefix` and below it (`/metrics`, `/admin/api/…`) go to `handle`. */
export interface HttpMount {
  prefix: string;
  handle(request: Request, remote: string): Response | Promise<Response>;
}

/** A listener's connection slots and where it reports failing accepts. */
export interface DoorAdmission {
  admit: Admission;
  report: AcceptReport;
}

/** A started door: where it listens, and how to stop it (ending its open connections). */
export interface RunningDoor {
  /** e.g. http://127.0.0.1:2021, rcp://127.0.0.1:7401 */
  url: string;
  /**
   * What the start-up log line shows of this door, by name (default: `<door name>=<url>`); a
   * door of several listeners names each (`http=… websocket=… tcp=…`).
   */
  endpoints?: Record<string, string>;
  /**
   * What the admin API shows of this door (the console's page for it), served under
   * `/admin/api/<door name>/…`, e.g. the state machines of the RCP door.
   */
  adminRoutes?: readonly AdminRoute[];
  /**
   * Stops accepting and ends the door's open connections. The server has already sent every
   * live connection (of every door) the shutdown error, in the same tick.
   */
  close(): Promise<void>;
}

/**
 * A door's registration, the one thing the server knows of it: its name (for its connection
 * limit and its log lines), and its start, which reads the door's own settings from the
 * server's configuration and returns undefined when they leave the door off. See "How to add a
 * door" in docs/architecture.md.
 */
export interface Door<Settings> {
  readonly name: string;
  start(settings: Settings, services: DoorServices): Promise<RunningDoor | undefined>;
}

/** The host to show in a door's URL: a wildcard bind is reached on the loopback address. */
export const displayHost = (hostname: string): string =>
  hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;

/** A listener that cannot bind, named by the setting that asked for it (`--bus-bind`, `BUS_ADDR`). */
export const cannotListen = (address: string, origin: string, e: unknown): CatbusError =>
  new CatbusError(
    ErrorCode.Unavailable,
    `cannot listen on ${address} (${origin}): ${(e as Error).message}`,
  );
