import type { AcceptReport, Admission } from "../transport/accept-loop.ts";
import type { Logger } from "../core/logger.ts";

/** A door says it refuses, or cannot accept, at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** The listeners whose connections are counted: a door's name (http, tcp, bus, rcp, …). */
export type DoorName = string;

/**
 * Connections open at once, over all doors (`--max-connections`) and on each door
 * (`--max-connections-per-door`), so that a flood on one door leaves room on the others. A door
 * that refuses says so in the log at most once a minute, with the count refused since.
 */
export class ConnectionLimits {
  readonly #max: number;
  readonly #perDoor: number;
  readonly #log: Logger;
  readonly #open = new Map<DoorName, number>();
  /** Per door: when the last refusal was logged, and how many were refused since. */
  readonly #refusals = new Map<DoorName, { loggedAt: number; since: number }>();
  #total = 0;

  constructor(max: number, perDoor: number, log: Logger) {
    this.#max = max;
    this.#perDoor = perDoor;
    this.#log = log;
  }

  get total(): number {
    return this.#total;
  }

  /** Connections open now on each door that has an admission (for the metrics). */
  openByDoor(): IterableIterator<[DoorName, number]> {
    return this.#open.entries();
  }

  /** The admission of one door: a slot per connection, given back once. */
  door(name: DoorName): Admission {
    if (!this.#open.has(name)) this.#open.set(name, 0);
    return () => {
      const here = this.#open.get(name) ?? 0;
      if (this.#total >= this.#max || here >= this.#perDoor) {
        this.#refused(name, here);
        return undefined;
      }
      this.#total++;
      this.#open.set(name, here + 1);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        this.#total--;
        this.#open.set(name, this.#open.get(name)! - 1);
      };
    };
  }

  #refused(name: DoorName, open: number) {
    const now = Date.now();
    const last = this.#refusals.get(name);
    if (last && now - last.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      last.since++;
      return;
    }
    this.#log("warn", "connection limit reached: refusing new connections", {
      door: name,
      open,
      total: this.#total,
      max_connections: this.#max,
      max_connections_per_door: this.#perDoor,
      ...(last ? { refused_since_last_said: last.since } : {}),
    });
    this.#refusals.set(name, { loggedAt: now, since: 0 });
  }
}

/**
 * Logs a door's failing accepts once per run of failures, and when it accepts again; a door that
 * flaps (descriptors freed and taken again) says so at most once a minute.
 */
export function acceptReport(log: Logger, door: DoorName): AcceptReport {
  let saidAt = -Infinity;
  let said = false;
  return {
    failing: (error) => {
      said = Date.now() - saidAt >= REFUSAL_LOG_INTERVAL_MS;
      if (!said) return;
      saidAt = Date.now();
      log("error", "cannot accept connections; retrying with a back-off", {
        door,
        error: error.message,
        hint: "out of file descriptors? raise the open-file limit (ulimit -n) or lower " +
          "--max-connections",
      });
    },
    recovered: (failures) => {
      if (said) log("info", "accepting connections again", { door, failed_accepts: failures });
    },
  };
}
