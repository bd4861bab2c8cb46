/** @jsxImportSource react */
import { useState } from "react";
import { type Answer, api } from "./api.ts";
import { MessageRow, PagedList, Table, useAct, useLoad } from "./ui.tsx";

export function ConsumersPage() {
  return (
    <section>
      <h2>Durable consumers</h2>
      <PagedList
        load={(q) => api("GET", `/consumers?${q}`)}
        render={(items) => (
          <Table headers={["name", "pattern", "members", "pending", "redelivered", "dead letters"]}>
            {items.map((c) => (
              <tr key={c.name}>
                <td>
                  <a href={`#/consumer/${encodeURIComponent(c.name)}`}>{c.name}</a>
                </td>
                <td>{c.pattern}</td>
                <td>{c.members}</td>
                <td>{c.pending}</td>
                <td>{c.redelivered}</td>
                <td>{c.dead_lettered}</td>
              </tr>
            ))}
          </Table>
        )}
      />
    </section>
  );
}

/** A consumer's dead letters: requeue one to its channel, or purge them all. */
export function ConsumerPage({ name }: { name: string }) {
  const act = useAct();
  const [letters, setLetters] = useState<Answer[]>();
  const path = `/consumers/${encodeURIComponent(name)}/dead-letters`;
  const load = async () => setLetters((await api("GET", `${path}?limit=100`)).items);
  useLoad(load);
  return (
    <section>
      <h2>Consumer {name}: dead letters</h2>
      <button
        type="button"
        onClick={act(async () => {
          if (!confirm(`Purge every dead letter of ${name}?`)) return;
          await api("POST", `${path}/purge`);
          await load();
        })}
      >
        Purge all
      </button>
      <div id="dead-letters">
        {letters && (
          <Table headers={["seq", "time", "channel", "payload", ""]}>
            {letters.map((m) => (
              <MessageRow
                key={m.seq}
                m={m}
                extra={
                  <td>
                    {m.requeued ? "requeued" : (
                      <button
                        type="button"
                        onClick={act(async () => {
                          await api("POST", `${path}/${m.seq}/requeue`);
                          await load();
                        })}
                      >
                        Requeue
                      </button>
                    )}
                  </td>
                }
              />
            ))}
          </Table>
        )}
        {letters?.length === 0 && <p>no dead letters</p>}
      </div>
    </section>
  );
}
