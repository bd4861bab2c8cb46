/** @jsxImportSource react */
import { useRef, useState } from "react";
import { type Answer, api } from "./api.ts";
import { fields, Table, Tail, useAct, useLoad } from "./ui.tsx";

/** A titled JSON value in full (a definition, an instance). */
function Shown({ shown }: { shown?: { title: string; value: Answer } }) {
  if (!shown) return null;
  return (
    <>
      <h4>{shown.title}</h4>
      <pre>{JSON.stringify(shown.value, null, 2)}</pre>
    </>
  );
}

/** The RCP door's definitions, instances (paged on the server) and live transitions. */
export function StateMachinesPage() {
  const act = useAct();
  const filter = useRef<HTMLFormElement>(null);
  const [machines, setMachines] = useState<Answer[] | "off">();
  const [definition, setDefinition] = useState<{ title: string; value: Answer }>();
  const [instances, setInstances] = useState<Answer>();
  const [instance, setInstance] = useState<{ title: string; value: Answer }>();
  const [offset, setOffset] = useState(0);
  const loadInstances = async (from = offset) => {
    const q = new URLSearchParams({ offset: String(from), limit: "20" });
    for (const [key, value] of Object.entries(fields(filter.current!))) {
      if (value) q.set(key, value);
    }
    setOffset(from);
    setInstances(await api("GET", `/rcp/instances?${q}`));
  };
  useLoad(async () => {
    try {
      setMachines((await api("GET", "/rcp/machines")).items);
    } catch {
      setMachines("off");
      return;
    }
    await loadInstances(0);
  });
  return (
    <section>
      <h2>State machines</h2>
      <h3>Definitions</h3>
      <div id="machines">
        {machines === "off"
          ? <p className="off">The state-machine door is off (catbusd --rcp-bind).</p>
          : machines && (
            <Table headers={["machine", "versions"]}>
              {machines.map((m) => (
                <tr key={m.machine} data-machine={m.machine}>
                  <td>{m.machine}</td>
                  <td>
                    {m.versions.map((v: number) => (
                      <button
                        key={v}
                        type="button"
                        className="link"
                        onClick={act(async () =>
                          setDefinition({
                            title: `${m.machine} version ${v}`,
                            value: await api(
                              "GET",
                              `/rcp/machines/${encodeURIComponent(m.machine)}/${v}`,
                            ),
                          })
                        )}
                      >
                        {v}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </Table>
          )}
      </div>
      <div id="definition">
        <Shown shown={definition} />
      </div>
      <h3>Instances</h3>
      <form ref={filter} onSubmit={act(() => loadInstances(0))}>
        <input name="machine" placeholder="machine" />
        <input name="state" placeholder="state" />
        <button type="submit">List instances</button>
      </form>
      <div id="instances">
        {instances && (
          <>
            <Table headers={["instance", "machine", "version", "state", "updated"]}>
              {instances.instances.map((i: Answer) => {
                const id = i.id ?? i.instance_id;
                return (
                  <tr key={id} data-instance={id}>
                    <td>
                      <button
                        type="button"
                        className="link"
                        onClick={act(async () =>
                          setInstance({
                            title: `instance ${id}`,
                            value: await api("GET", `/rcp/instances/${encodeURIComponent(id)}`),
                          })
                        )}
                      >
                        {id}
                      </button>
                    </td>
                    <td>{i.machine}</td>
                    <td>{i.version}</td>
                    <td>{i.state}</td>
                    <td>{i.updated_at ? new Date(i.updated_at).toISOString() : ""}</td>
                  </tr>
                );
              })}
            </Table>
            <div className="row">
              {instances.total} instances
              <button
                type="button"
                disabled={offset === 0}
                onClick={act(() => loadInstances(Math.max(0, offset - 20)))}
              >
                Previous
              </button>
              <button
                type="button"
                disabled={!instances.has_more}
                onClick={act(() => loadInstances(offset + 20))}
              >
                Next
              </button>
            </div>
          </>
        )}
      </div>
      <div id="instance">
        <Shown shown={instance} />
      </div>
      <h3>Live transitions (the sm namespace)</h3>
      <div id="transitions">
        <Tail pattern="sm.>" />
      </div>
    </section>
  );
}
