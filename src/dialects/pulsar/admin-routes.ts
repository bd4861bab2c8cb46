/**
 * The Pulsar door's users and topics, as the admin API shows them (`/admin/api/pulsar/…`): read
 * only (changes go through the door's own API, where its ownership rules live), never a password
 * hash. Reads the store through its public lists only.
 */
import type { AdminRoute } from "../door.ts";
import { adminJson, matchesQuery, page } from "../admin-list.ts";
import type { PulsarStore } from "./store.ts";

export function pulsarAdminRoutes(store: PulsarStore): AdminRoute[] {
  const nameOf = (userId: string) => store.user(userId)?.username ?? userId;
  return [
    ["GET", /^\/users$/, (_r, url) => {
      const items = store.users()
        .filter((u) => matchesQuery(url, u.username, u.email))
        .sort((a, b) => a.username.localeCompare(b.username))
        .map((u) => ({
          user_id: u.user_id,
          username: u.username,
          email: u.email,
          is_active: u.is_active,
          permissions: u.permissions,
          created_at: u.created_at,
          owned_topics: store.ownedTopics(u.user_id).length,
        }));
      return adminJson(200, page(items, url));
    }],
    ["GET", /^\/topics$/, (_r, url) => {
      const items = store.topics()
        .filter((t) => matchesQuery(url, t.topic_name, t.description))
        .sort((a, b) => a.topic_name.localeCompare(b.topic_name))
        .map((t) => ({
          topic_name: t.topic_name,
          owner: nameOf(t.owner_id),
          is_public: t.is_public,
          description: t.description,
          created_at: t.created_at,
          granted: Object.keys(t.grants).map(nameOf).sort(),
        }));
      return adminJson(200, page(items, url));
    }],
  ];
}
