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

export interface TopicRecord {
  topic_id: string;
  topic_name: string;
  owner_id: string;
  is_public: boolean;
  description: string | null;
  created_at: string;
  /** Granted users and when (user id → ISO time); read with Object.hasOwn (ids come from URLs). */
  grants: Record<string, string>;
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

/** Everything the door keeps besides messages, as one document (the file's, or a row's). */
export interface PulsarState {
  version: 1;
  users: UserRecord[];
  topics: TopicRecord[];
  refresh: RefreshRecord[];
  /** Logged-out access tokens: jti → expiry (s); dropped once expired. */
  denied: Record<string, number>;
}

export const emptyState = (): PulsarState => ({
  version: 1,
  users: [],
  topics: [],
  refresh: [],
  denied: {},
});

/**
 * Where PulsarStore keeps its state: the data directory (one node), PostgreSQL or Valkey (shared
 * by every node on them). The store holds the state in memory for its synchronous reads; a shared
 * backend hands it the newest state before each change and whenever another node changed it.
 */
export interface PulsarStateBackend {
  /** The stored state (empty when nothing was stored yet). */
  load(): Promise<PulsarState>;
  /**
   * Applies one change and stores the result. `change` is given the newest stored state to apply
   * to (undefined when memory is the newest, as with a file only this node writes) and may run
   * again when another node changed the state meanwhile; `snapshot` is the state to store after it.
   */
  update(
    change: (fresh: PulsarState | undefined) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<void>;
  /** Called with the newest state after another node changed it. */
  onRemoteChange(listener: (state: PulsarState) => void): void;
  close(): Promise<void>;
}
