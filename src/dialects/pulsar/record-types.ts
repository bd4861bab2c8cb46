/** The records the Pulsar door keeps besides messages, and the changes of them. */
export const PERMISSIONS = ["admin", "read", "write"] as const;
export type PulsarPermission = typeof PERMISSIONS[number];

export interface UserRecord {
  user_id: string;
  username: string;
  email: string | null;
  hashed_password: string;
  is_active: boolean;
  created_at: string;
  permissions: PulsarPermission[];
}

export interface TopicRecord extends TopicRow {
  /** Granted users and when (user id → ISO time); read with Object.hasOwn (ids come from URLs). */
  grants: Record<string, string>;
}

/** A topic as stored: its grants are records of their own. */
export interface TopicRow {
  topic_id: string;
  topic_name: string;
  owner_id: string;
  is_public: boolean;
  description: string | null;
  created_at: string;
  /**
   * The first sequence of this life of the topic: messages of an earlier topic of the same
   * name (deleted) come before it and are never shown again.
   */
  first_seq: number;
}

/** A refresh token as stored: the wire token is `jti.secret`; only the secret's hash is kept. */
export interface RefreshRecord {
  jti: string;
  user_id: string;
  secret_hash: string;
  parent_jti: string | null;
  expires_at: number;
  revoked: boolean;
}

/**
 * Everything the door keeps besides messages, as one document: the data directory's snapshot
 * (`state.json`, the whole store before records were stored one by one) and the old PostgreSQL
 * row and Valkey hash that are migrated from.
 */
export interface PulsarState {
  version: 1;
  users: UserRecord[];
  topics: TopicRecord[];
  refresh: RefreshRecord[];
  /** Logged-out access tokens: jti → expiry (s); dropped once expired. */
  denied: Record<string, number>;
}

/**
 * One record written (with its whole new value) or removed (no value). Keys: the user's id, the
 * topic's name, `<topic>/<user id>` for a grant (topic names have no slash), the token's jti.
 */
export type RecordChange =
  | { kind: "user"; key: string; value?: UserRecord }
  | { kind: "topic"; key: string; value?: TopicRow }
  /** The value is when it was granted (ISO time). */
  | { kind: "grant"; key: string; value?: string }
  | { kind: "refresh"; key: string; value?: RefreshRecord }
  /** The value is the logged-out token's expiry (s). */
  | { kind: "denied"; key: string; value?: number };

export type RecordKind = RecordChange["kind"];

/**
 * What must hold of the stored record of a write's first change for the write to happen:
 * `absent` — no such record (for a user, nor one of that username; for a grant, its topic
 * exists), `present` — the record exists, `unrevoked` — the refresh token exists, not revoked.
 */
export type Guard = "absent" | "present" | "unrevoked";
