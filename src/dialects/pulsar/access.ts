import type { Grant, Principal } from "../../auth/grants.ts";
import { randomId } from "../../core/ids.ts";
import type { Fields } from "./http.ts";
import type { PulsarPermission, PulsarStore, TopicRecord, UserRecord } from "./store.ts";

/** Every Pulsar topic is a channel of this namespace: `pulsar.<topic>`. */
export const PULSAR_NAMESPACE = "pulsar";
export const channelOf = (topic: string): string => `${PULSAR_NAMESPACE}.${topic}`;
export const topicOf = (channel: string): string => channel.slice(PULSAR_NAMESPACE.length + 1);

/**
 * Topic names as the original accepts them, shortened so that `pulsar.<name>` stays within the
 * 255-byte channel limit.
 */
export const TOPIC_NAME = /^[A-Za-z0-9_-]{1,248}$/;
export const TOPIC_NAME_RULE =
  "Topic must contain only alphanumeric characters, hyphens, and underscores (at most 248)";

export const isAdmin = (user: UserRecord): boolean => user.permissions.includes("admin");

/** Does the user hold `permission`? `admin` holds every permission. */
export const holds = (user: UserRecord, permission: PulsarPermission): boolean =>
  user.permissions.includes(permission) || isAdmin(user);

/**
 * The README's topic access: admins everywhere; the owner and granted users read and write;
 * any user on a public topic reads. A topic that does not exist yet may be read (it is created
 * by its first publish, which makes the publisher its owner) and written (that publish).
 */
export function canAccess(
  user: UserRecord,
  topic: TopicRecord | undefined,
  kind: "read" | "write",
): boolean {
  if (isAdmin(user) || !topic) return true;
  if (topic.owner_id === user.user_id || Object.hasOwn(topic.grants, user.user_id)) return true;
  return kind === "read" && topic.is_public;
}

/** May the user read `topic` over WebSocket or long-poll (the `read` permission, then access)? */
export const mayRead = (store: PulsarStore, user: UserRecord, topic: string): boolean =>
  user.is_active && holds(user, "read") &&
  canAccess(user, store.topic(topic), "read");

/**
 * The Catbus principal of a Pulsar user on one connection or request: read grants on the
 * channels of `reading` it may read, write grants on those of `writing` it may write. Derived
 * again from the store whenever users, topics or grants change, so a change reaches live
 * connections through `LiveConnection.regrant`.
 */
export function principalOf(
  store: PulsarStore,
  user: UserRecord,
  reading: Iterable<string>,
  writing: Iterable<string> = [],
  expiresAt?: number,
): Principal {
  return {
    clientId: `pulsar-${user.username}-${randomId(6)}`,
    kind: "sub",
    grants: grantsOf(store, user, reading, writing),
    ...(expiresAt ? { expiresAt } : {}),
  };
}

export function grantsOf(
  store: PulsarStore,
  user: UserRecord,
  reading: Iterable<string>,
  writing: Iterable<string> = [],
): Grant[] {
  const grants: Grant[] = [];
  for (const t of reading) {
    if (mayRead(store, user, t)) grants.push({ permission: "read", pattern: channelOf(t) });
  }
  for (const t of writing) {
    if (
      user.is_active && holds(user, "write") &&
      canAccess(user, store.topic(t), "write")
    ) grants.push({ permission: "write", pattern: channelOf(t) });
  }
  return grants;
}

/** A list of topic names, each checked (its index named in a 422). */
export function topicList(f: Fields, field: string, list: unknown[]): string[] {
  for (const [i, t] of list.entries()) {
    if (typeof t !== "string" || !TOPIC_NAME.test(t)) {
      f.nested({}, field).problem(i, "string_pattern_mismatch", TOPIC_NAME_RULE, t);
    }
  }
  return list as string[];
}
