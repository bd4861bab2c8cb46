/** @jsxImportSource react */
import { type ReactNode, useState } from "react";
import { api } from "./api.ts";
import { PagedList, Table, Tail, useLoad } from "./ui.tsx";

/**
 * A door's page: its content once `probe` answers, or a note that the door is off (its routes
 * are there only while it runs).
 */
function DoorPage({ title, probe, off, children }: {
  title: string;
  probe: string;
  off: string;
  children: ReactNode;
}) {
  const [on, setOn] = useState<boolean>();
  useLoad(async () => {
    try {
      await api("GET", probe);
      setOn(true);
    } catch (e) {
      if (!(e as Error).message.startsWith("not_found")) throw e;
      setOn(false);
    }
  });
  return (
    <section>
      <h2>{title}</h2>
      {on === undefined ? <p>…</p> : on ? children : <p className="off">{off}</p>}
    </section>
  );
}

export function PulsarPage() {
  return (
    <DoorPage
      title="Pulsar users and topics"
      probe="/pulsar/users?limit=1"
      off="The Pulsar door is off (catbusd --pulsar-bind)."
    >
      <h3>Users</h3>
      <div id="pulsar-users">
        <PagedList
          load={(q) => api("GET", `/pulsar/users?${q}`)}
          render={(items) => (
            <Table
              headers={["username", "email", "permissions", "active", "topics owned", "created"]}
            >
              {items.map((u) => (
                <tr key={u.user_id} data-user={u.username}>
                  <td>{u.username}</td>
                  <td>{u.email ?? ""}</td>
                  <td>{u.permissions.join(", ")}</td>
                  <td>{u.is_active ? "yes" : "no"}</td>
                  <td>{u.owned_topics}</td>
                  <td>{u.created_at}</td>
                </tr>
              ))}
            </Table>
          )}
        />
      </div>
      <h3>Topics</h3>
      <div id="pulsar-topics">
        <PagedList
          load={(q) => api("GET", `/pulsar/topics?${q}`)}
          render={(items) => (
            <Table headers={["topic", "owner", "public", "granted to", "description"]}>
              {items.map((t) => (
                <tr key={t.topic_name} data-topic={t.topic_name}>
                  <td>{t.topic_name}</td>
                  <td>{t.owner}</td>
                  <td>{t.is_public ? "yes" : "no"}</td>
                  <td>{t.granted.join(", ")}</td>
                  <td>{t.description ?? ""}</td>
                </tr>
              ))}
            </Table>
          )}
        />
      </div>
    </DoorPage>
  );
}

export function AllePage() {
  return (
    <DoorPage
      title="Alle channels"
      probe="/alle/channels?limit=1"
      off="The Alle door is off (catbusd --alle-bind)."
    >
      <div id="alle-channels">
        <PagedList
          load={(q) => api("GET", `/alle/channels?${q}`)}
          render={(items) => (
            <Table headers={["PostgreSQL channel", "bus channel"]}>
              {items.map((c) => (
                <tr key={c.channel} data-channel={c.channel}>
                  <td>{c.channel}</td>
                  <td>{c.bus_channel ?? "(no bus name)"}</td>
                </tr>
              ))}
            </Table>
          )}
        />
      </div>
      <h3>Live notifications (the pg namespace)</h3>
      <div id="alle-tail">
        <Tail pattern="pg.>" />
      </div>
    </DoorPage>
  );
}
