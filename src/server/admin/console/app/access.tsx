/** @jsxImportSource react */
import { type FormEvent, type ReactNode, useRef, useState } from "react";
import { type Answer, api } from "./api.ts";
import { fields, list, PagedList, Table, useAct } from "./ui.tsx";

const formOf = (event?: { preventDefault(): void }) =>
  (event as FormEvent<HTMLFormElement>).currentTarget;

/** Roles (create, grant, delete) and `sub-` tokens minted with grants, a client id, an expiry. */
export function AccessPage() {
  const act = useAct();
  const [minted, setMinted] = useState<ReactNode>();
  const refreshRoles = useRef<() => Promise<void>>(undefined);
  const createRole = act(async (event) => {
    const f = fields(formOf(event));
    const body: Answer = { name: f.name };
    if (f.patterns) {
      body.permissions = list(f.permissions);
      body.patterns = list(f.patterns);
    }
    const answer = await api("POST", "/roles", body);
    setMinted(
      <>
        <p>role {answer.role.name} ({answer.role.id}); its token, shown once:</p>
        <div className="token">{answer.token}</div>
      </>,
    );
    await refreshRoles.current?.();
  });
  const mint = act(async (event) => {
    const f = fields(formOf(event));
    const body: Answer = { permissions: list(f.permissions), patterns: list(f.patterns) };
    if (f.client_id) body.client_id = f.client_id;
    if (f.expires) body.expires_in_seconds = Number(f.expires);
    const answer = await api("POST", "/tokens", body);
    setMinted(
      <>
        <p>
          token for client {answer.client_id}
          {answer.expires_at ? `, expires ${answer.expires_at}` : ""}:
        </p>
        <div className="token">{answer.token}</div>
      </>,
    );
  });
  return (
    <section>
      <h2>Roles, grants and tokens</h2>
      <PagedList
        load={(q) => api("GET", `/roles?${q}`)}
        render={(items, refresh) => {
          refreshRoles.current = refresh;
          return (
            <Table headers={["name", "id", "grants", ""]}>
              {items.map((r) => (
                <tr key={r.id}>
                  <td>{r.name}</td>
                  <td>{r.id}</td>
                  <td>
                    {r.grants.map((g: Answer) => `${g.permission}:${g.pattern}`).join(", ")}
                  </td>
                  <td>
                    <button
                      type="button"
                      onClick={act(async () => {
                        const permissions = prompt(
                          "permissions to grant (read write create | all)",
                        );
                        const patterns = permissions && prompt("patterns");
                        if (!patterns) return;
                        await api("POST", `/roles/${r.id}/grants`, {
                          permissions: list(permissions),
                          patterns: list(patterns),
                        });
                        await refresh();
                      })}
                    >
                      Grant
                    </button>
                    <button
                      type="button"
                      onClick={act(async () => {
                        if (!confirm(`Delete role ${r.name}? Its connections are closed.`)) return;
                        await api("DELETE", `/roles/${r.id}`);
                        await refresh();
                      })}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          );
        }}
      />
      <h3>New role</h3>
      <form onSubmit={createRole}>
        <input name="name" placeholder="role name" />
        <input name="permissions" placeholder="read write create | all" />
        <input name="patterns" placeholder="patterns, e.g. orders.>" />
        <button type="submit">Create role</button>
      </form>
      <h3>Mint a token</h3>
      <form onSubmit={mint}>
        <input name="permissions" placeholder="read write create | all" />
        <input name="patterns" placeholder="patterns, e.g. chat.>" />
        <input name="client_id" placeholder="client id (optional)" />
        <input name="expires" placeholder="expires in seconds (optional)" />
        <button type="submit">Mint token</button>
      </form>
      <div id="minted">{minted}</div>
    </section>
  );
}
