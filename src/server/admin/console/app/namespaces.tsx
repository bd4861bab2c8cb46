/** @jsxImportSource react */
import { useRef, useState } from "react";
import { type Answer, api } from "./api.ts";
import {
  duration,
  fields,
  MessageRow,
  PagedList,
  size,
  Table,
  Tail,
  useAct,
  useLoad,
} from "./ui.tsx";

/** The server's retention limits (0: none) as a sentence. */
function retentionText({ maxAgeMs, maxMessages, maxBytes }: Answer): string {
  const limits = [
    maxAgeMs ? `messages older than ${duration(maxAgeMs)}` : "",
    maxMessages ? `beyond the newest ${maxMessages} messages` : "",
    maxBytes ? `beyond ${size(maxBytes)}` : "",
  ].filter(Boolean);
  return limits.length
    ? `Retention: each stored namespace drops whole segments of ${limits.join(", or ")}.`
    : "Retention: none (stored namespaces keep every message).";
}

export function NamespacesPage() {
  const [retention, setRetention] = useState("");
  return (
    <section>
      <h2>Namespaces</h2>
      <p id="retention">{retention}</p>
      <PagedList
        load={async (q) => {
          const answer = await api("GET", `/namespaces?${q}`);
          setRetention(retentionText(answer.retention));
          return answer;
        }}
        render={(items) => (
          <Table
            headers={[
              "name",
              "first seq",
              "last seq",
              "messages",
              "stored",
              "bytes stored",
              "bytes in memory",
            ]}
          >
            {items.map((ns) => (
              <tr key={ns.name} data-namespace={ns.name}>
                <td>
                  <a href={`#/namespace/${encodeURIComponent(ns.name)}`}>{ns.name}</a>
                </td>
                <td>{ns.first_seq}</td>
                <td>{ns.last_seq}</td>
                <td>{ns.messages}</td>
                <td>{ns.stored ? "yes" : "memory"}</td>
                <td>{ns.stored_bytes === null ? "—" : size(ns.stored_bytes)}</td>
                <td>{size(ns.memory_bytes)}</td>
              </tr>
            ))}
          </Table>
        )}
      />
    </section>
  );
}

/**
 * A namespace's messages from a seq or a time, filtered by a pattern, and its live tail (mounted
 * anew for each namespace: the router keys it by name).
 */
export function NamespacePage({ name }: { name: string }) {
  const act = useAct();
  const browse = useRef<HTMLFormElement>(null);
  const [page, setPage] = useState<Answer>();
  const [tailing, setTailing] = useState<string>();
  const [pattern, setPattern] = useState(`${name}.>`);
  const load = async (from?: number) => {
    const q = new URLSearchParams({ limit: "50" });
    for (const [key, value] of Object.entries(fields(browse.current!))) {
      if (value) q.set(key, value);
    }
    if (from) q.set("from_seq", String(from));
    setPage(await api("GET", `/namespaces/${encodeURIComponent(name)}/messages?${q}`));
  };
  useLoad(() => load());
  return (
    <section>
      <h2>Namespace {name}</h2>
      <h3>Messages</h3>
      <form ref={browse} onSubmit={act(() => load())}>
        <input name="from_seq" placeholder="from seq" />
        <input name="from_time" placeholder="or from time (ISO)" />
        <input name="channel" placeholder="channel pattern" />
        <button type="submit">Browse</button>
      </form>
      {page && (
        <div>
          <Table headers={["seq", "time", "channel", "payload"]}>
            {page.items.map((m: Answer) => <MessageRow key={m.seq} m={m} />)}
          </Table>
          {page.next_seq
            ? (
              <button type="button" onClick={act(() => load(page.next_seq))}>
                Next page
              </button>
            )
            : <p>end of the log</p>}
        </div>
      )}
      <h3>Live tail (consumes nothing)</h3>
      <form onSubmit={act(() => setTailing(pattern))}>
        <input name="pattern" value={pattern} onChange={(e) => setPattern(e.target.value)} />
        <button type="submit">Tail</button>
        <button type="button" onClick={() => setTailing(undefined)}>Stop</button>
      </form>
      <div id="tail">{tailing && <Tail key={tailing} pattern={tailing} />}</div>
    </section>
  );
}
