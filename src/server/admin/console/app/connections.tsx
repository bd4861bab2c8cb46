/** @jsxImportSource react */
import { api } from "./api.ts";
import { PagedList, Table, useAct } from "./ui.tsx";

/** Every live connection of every door; filter by door, client id, slow or backlog; close one. */
export function ConnectionsPage() {
  const act = useAct();
  return (
    <section>
      <h2>Connections</h2>
      <PagedList
        load={(q) => api("GET", `/connections?${q}`)}
        filters={
          <>
            <input name="door" placeholder="door (native, bus, rcp…)" />
            <label>
              <input type="checkbox" name="slow" /> slow
            </label>
            <label>
              <input type="checkbox" name="backlog" /> with backlog
            </label>
          </>
        }
        render={(items, refresh) => (
          <Table
            headers={["id", "door", "client id", "remote", "since", "slow", "queued bytes", ""]}
          >
            {items.map((c) => (
              <tr key={c.id} data-client={c.client_id ?? ""}>
                <td>{c.id}</td>
                <td>{c.door}</td>
                <td>{c.client_id ?? ""}</td>
                <td>{c.remote ?? ""}</td>
                <td>{c.since}</td>
                <td>{c.slow ? "yes" : ""}</td>
                <td>{c.queued_bytes ?? ""}</td>
                <td>
                  <button
                    type="button"
                    onClick={act(async () => {
                      await api("POST", `/connections/${c.id}/close`);
                      await refresh();
                    })}
                  >
                    Close
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )}
      />
    </section>
  );
}
