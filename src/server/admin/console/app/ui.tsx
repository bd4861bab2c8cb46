/** @jsxImportSource react */
/** What every page shares: errors, tables, paged lists, messages and live tails. */
import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from "react";
import { type Answer, API } from "./api.ts";

/** Where a failed action says why (the page's error line). */
export const ErrorLine = createContext<(message: string) => void>(() => {});

/** `act(fn)`: an event handler that runs `fn`, showing its error instead of throwing. */
export function useAct() {
  const show = useContext(ErrorLine);
  return (fn: (event?: { preventDefault(): void }) => unknown) =>
  async (event?: { preventDefault(): void }) => {
    event?.preventDefault();
    try {
      show("");
      await fn(event);
    } catch (e) {
      show((e as Error).message);
    }
  };
}

/** Runs `load` on mount and when `deps` change, its error on the error line. */
export function useLoad(load: () => Promise<void>, deps: unknown[] = []): void {
  const act = useAct();
  useEffect(() => void act(load)(), deps);
}

/** A byte count for people: 1.5 KiB, 12 MiB. */
export function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) (bytes /= 1024), i++;
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

/** A duration for people: the largest unit it is a whole number of (7 d, 36 h, 90 s). */
export function duration(ms: number): string {
  for (const [unit, n] of [["d", 86_400_000], ["h", 3_600_000], ["min", 60_000], ["s", 1000]]) {
    if (ms >= (n as number) && ms % (n as number) === 0) return `${ms / (n as number)} ${unit}`;
  }
  return `${ms} ms`;
}

export const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The named fields of a form, trimmed. */
export function fields(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const el of Array.from(form.elements) as HTMLInputElement[]) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked ? "true" : "";
    else out[el.name] = el.value.trim();
  }
  return out;
}

export function Table({ headers, children }: { headers: string[]; children: ReactNode }) {
  return (
    <table>
      <thead>
        <tr>{headers.map((x, i) => <th key={i}>{x}</th>)}</tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export function Payload({ m }: { m: Answer }) {
  return <pre>{m.binary ? `(binary, base64url) ${m.payload_base64url}` : m.payload}</pre>;
}

export function MessageRow({ m, extra }: { m: Answer; extra?: ReactNode }) {
  return (
    <tr data-seq={m.seq}>
      <td>{m.seq}</td>
      <td>{m.time}</td>
      <td>{m.channel}</td>
      <td>
        <Payload m={m} />
      </td>
      {extra}
    </tr>
  );
}

/**
 * A list paged and filtered on the server: `load(query)` answers {items, total, offset, limit};
 * `filters` are more named inputs sent with the text filter `q`.
 */
export function PagedList({ load, render, filters }: {
  load: (query: URLSearchParams) => Promise<Answer>;
  render: (items: Answer[], refresh: () => Promise<void>) => ReactNode;
  filters?: ReactNode;
}) {
  const act = useAct();
  const form = useRef<HTMLFormElement>(null);
  const [offset, setOffset] = useState(0);
  const [answer, setAnswer] = useState<Answer>();
  const refresh = async () => {
    const query = new URLSearchParams({ offset: String(offset), limit: "20" });
    for (const [name, value] of Object.entries(form.current ? fields(form.current) : {})) {
      if (value) query.set(name, value);
    }
    setAnswer(await load(query));
  };
  useLoad(refresh, [offset]);
  return (
    <div>
      <form ref={form} onSubmit={act(() => (offset ? setOffset(0) : refresh()))}>
        <input name="q" placeholder="filter" />
        {filters}
        <button type="submit">Search</button>
      </form>
      {answer && (
        <div>
          {render(answer.items, refresh)}
          <div className="row">
            {answer.total === 0 ? 0 : answer.offset + 1}–{answer.offset + answer.items.length} of
            {" "}
            {answer.total}
            <button
              type="button"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - 20))}
            >
              Previous
            </button>
            <button
              type="button"
              disabled={answer.offset + answer.items.length >= answer.total}
              onClick={() => setOffset(offset + 20)}
            >
              Next
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

/** A live tail of `pattern`, newest first; it consumes nothing (GET /tail). */
export function Tail({ pattern }: { pattern: string }) {
  const [rows, setRows] = useState<{ key: number; m?: Answer; dropped?: number }[]>([]);
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    let key = 0;
    const add = (row: { m?: Answer; dropped?: number }) =>
      setRows((old) => [{ key: ++key, ...row }, ...old].slice(0, 200));
    const source = new EventSource(`${API}/tail?pattern=${encodeURIComponent(pattern)}`);
    source.addEventListener("message", (e) => add({ m: JSON.parse(e.data) }));
    source.addEventListener("dropped", (e) => add({ dropped: JSON.parse(e.data).count }));
    source.onerror = () => setEnded(source.readyState === EventSource.CLOSED);
    return () => source.close();
  }, [pattern]);
  return (
    <div>
      <p>tailing {pattern}</p>
      <Table headers={["seq", "time", "channel", "payload"]}>
        {rows.map((r) =>
          r.m ? <MessageRow key={r.key} m={r.m} /> : (
            <tr key={r.key}>
              <td colSpan={4}>{r.dropped} messages dropped (too fast)</td>
            </tr>
          )
        )}
      </Table>
      {ended && <p>the tail ended</p>}
    </div>
  );
}
