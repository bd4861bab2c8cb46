import type {
  Guard,
  PulsarState,
  RecordChange,
  RefreshRecord,
  TopicRecord,
  TopicRow,
  UserRecord,
} from "./record-types.ts";

/** A grant's key: topic names have no slash, so the first one ends the topic. */
export const grantKey = (topic: string, userId: string) => `${topic}/${userId}`;

export function splitGrantKey(key: string): [topic: string, userId: string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** A topic without its grants, as it is stored. */
export function topicRow(topic: TopicRecord): TopicRow {
  const { grants: _, ...row } = topic;
  return row;
}

/**
 * The door's records in memory, indexed for the store's reads, changed one record at a time:
 * what the store reads from, what the data directory replays its journal onto, and what a
 * shared backend loads its tables or hashes into.
 */
export class PulsarRecords {
  readonly users = new Map<string, UserRecord>();
  readonly byName = new Map<string, string>();
  readonly topics = new Map<string, TopicRecord>();
  readonly refresh = new Map<string, RefreshRecord>();
  readonly denied = new Map<string, number>();

  static of(state: PulsarState): PulsarRecords {
    const records = new PulsarRecords();
    for (const change of changesOf(state)) records.apply(change);
    return records;
  }

  apply(change: RecordChange): void {
    switch (change.kind) {
      case "user": {
        const old = this.users.get(change.key);
        if (old) this.byName.delete(old.username);
        if (!change.value) this.users.delete(change.key);
        else {
          this.users.set(change.key, change.value);
          this.byName.set(change.value.username, change.key);
        }
        return;
      }
      case "topic": {
        if (!change.value) this.topics.delete(change.key);
        else {
          // The grants object is kept: a caller holding the older record sees grants made since.
          const grants = this.topics.get(change.key)?.grants ?? {};
          this.topics.set(change.key, { ...change.value, grants });
        }
        return;
      }
      case "grant": {
        const [name, userId] = splitGrantKey(change.key);
        const grants = this.topics.get(name)?.grants;
        if (!grants) return;
        if (change.value) grants[userId] = change.value;
        else delete grants[userId];
        return;
      }
      case "refresh":
        if (change.value) this.refresh.set(change.key, change.value);
        else this.refresh.delete(change.key);
        return;
      case "denied":
        if (change.value !== undefined) this.denied.set(change.key, change.value);
        else this.denied.delete(change.key);
    }
  }

  /** Whether `guard` holds of `change`'s record here (see Guard). */
  holds(change: RecordChange, guard: Guard): boolean {
    const present = this.#has(change);
    if (guard === "present") return present;
    if (guard === "unrevoked") return this.refresh.get(change.key)?.revoked === false;
    if (present) return false;
    if (change.kind === "user") return !this.byName.has(change.value!.username);
    if (change.kind === "grant") return this.topics.has(splitGrantKey(change.key)[0]);
    return true;
  }

  #has(change: RecordChange): boolean {
    switch (change.kind) {
      case "user":
        return this.users.has(change.key);
      case "topic":
        return this.topics.has(change.key);
      case "grant": {
        const [name, userId] = splitGrantKey(change.key);
        const grants = this.topics.get(name)?.grants;
        return grants !== undefined && Object.hasOwn(grants, userId);
      }
      case "refresh":
        return this.refresh.has(change.key);
      case "denied":
        return this.denied.has(change.key);
    }
  }

  /** Removals of the refresh tokens and logged-out ids that expired before `now` (ms). */
  expired(now: number): RecordChange[] {
    const gone: RecordChange[] = [];
    for (const [key, r] of this.refresh) {
      if (r.expires_at < now) gone.push({ kind: "refresh", key });
    }
    for (const [key, exp] of this.denied) if (exp * 1000 < now) gone.push({ kind: "denied", key });
    return gone;
  }

  /** Everything as one document (the data directory's snapshot). */
  state(): PulsarState {
    return {
      version: 1,
      users: [...this.users.values()],
      topics: [...this.topics.values()],
      refresh: [...this.refresh.values()],
      denied: Object.fromEntries(this.denied),
    };
  }
}

/** Every record of a state document, as writes (topics before their grants). */
export function changesOf(state: PulsarState): RecordChange[] {
  const changes: RecordChange[] = [];
  for (const u of state.users) changes.push({ kind: "user", key: u.user_id, value: u });
  for (const t of state.topics) {
    changes.push({ kind: "topic", key: t.topic_name, value: topicRow(t) });
    for (const [userId, at] of Object.entries(t.grants)) {
      changes.push({ kind: "grant", key: grantKey(t.topic_name, userId), value: at });
    }
  }
  for (const r of state.refresh) changes.push({ kind: "refresh", key: r.jti, value: r });
  for (const [jti, exp] of Object.entries(state.denied)) {
    changes.push({ kind: "denied", key: jti, value: exp });
  }
  return changes;
}
