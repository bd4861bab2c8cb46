/** @jsxImportSource react */
import { type FormEvent, type ReactNode, useState } from "react";
import { type Answer, api } from "./api.ts";
import { fields, Payload, useAct } from "./ui.tsx";

/** Publish JSON to a channel with headers, or send it as a request and show the reply. */
export function PublishPage() {
  const act = useAct();
  const [result, setResult] = useState<ReactNode>();
  const publish = act(async (event) => {
    const f = fields((event as FormEvent<HTMLFormElement>).currentTarget);
    const headers = Object.fromEntries(
      f.headers.split("\n").filter(Boolean).map((l) => {
        const [k, ...v] = l.split("=");
        return [k.trim(), v.join("=").trim()];
      }),
    );
    const body: Answer = { channel: f.channel, payload: f.payload, headers };
    if (f.request) body.request = { timeout_ms: Number(f.timeout || 5000) };
    const answer = await api("POST", "/publish", body);
    setResult(
      answer.reply
        ? (
          <div>
            reply: <Payload m={answer.reply} />
          </div>
        )
        : <p>published: seq {answer.seq}, id {answer.id}</p>,
    );
  });
  return (
    <section>
      <h2>Publish and request</h2>
      <form onSubmit={publish}>
        <input name="channel" placeholder="channel, e.g. orders.new" />
        <textarea name="payload" placeholder="JSON payload" defaultValue="{}" />
        <textarea name="headers" placeholder="headers, one key=value a line" />
        <label>
          <input type="checkbox" name="request" /> request (wait for a reply)
        </label>
        <input name="timeout" placeholder="timeout ms (5000)" />
        <button type="submit">Publish</button>
      </form>
      <div id="publish-result">{result}</div>
    </section>
  );
}
