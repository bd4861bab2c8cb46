/** @jsxImportSource react */
import { type FormEvent, StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { autoTransport, type ClientOptions } from "../../client/mod.ts";
import { type MaybeClient, useCatbus, usePublish, useSubscription } from "../../react/mod.ts";
import { isChatMessage, MESSAGES_CHANNEL } from "./messages.ts";
import { announceLeave, usePresence } from "./presence.ts";

/** The server URL and this tab's token, written into the page by server.ts. */
const pageConfig = JSON.parse(
  document.getElementById("catbus-config")!.textContent!,
) as {
  url: string;
  token: string;
};

const options: ClientOptions = {
  ...pageConfig,
  // WebTransport with the dev server's pinned certificate, else WebSocket, else SSE.
  transport: autoTransport({ webtransport: { fetchCertificateHash: true } }),
};

function App() {
  const { client, state, error } = useCatbus(options);
  const [name, setName] = useState<string>();
  return (
    <main>
      <header>
        <h1>Catbus chat</h1>
        <p>
          <span data-testid="state">{state}</span>
          {state === "connected" && <span>{` over ${client?.transportKind}`}</span>}
        </p>
        {error && <p role="alert">{error.message}</p>}
      </header>
      {name
        ? (
          <ChatRoom
            client={client}
            name={name}
            onLeave={() => setName(undefined)}
          />
        )
        : <JoinForm onJoin={setName} />}
    </main>
  );
}

function JoinForm({ onJoin }: { onJoin(name: string): void }) {
  const join = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    onJoin(String(new FormData(e.currentTarget).get("name")));
  };
  return (
    <form onSubmit={join}>
      <label>
        Your name{" "}
        <input
          name="name"
          data-testid="name-input"
          required
          pattern="[A-Za-z0-9_\-]{1,24}"
          title="1 to 24 letters, digits, _ or -"
          autoFocus
        />
      </label>
      <button type="submit" data-testid="join">Join</button>
    </form>
  );
}

/** Mounted while joined: its hooks subscribe on mount and unsubscribe when it unmounts. */
function ChatRoom(
  { client, name, onLeave }: {
    client: MaybeClient;
    name: string;
    onLeave(): void;
  },
) {
  const { messages } = useSubscription(client, MESSAGES_CHANNEL);
  const { publish, isPending, error } = usePublish(client);
  const present = usePresence(client, name);
  const [draft, setDraft] = useState("");

  const send = (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    publish(MESSAGES_CHANNEL, { from: name, text }).catch(
      () => {/* shown from `error` */},
    );
  };
  const leave = () => {
    announceLeave(client, name);
    onLeave();
  };

  return (
    <section>
      <aside>
        <h2>Here</h2>
        <ul data-testid="presence">
          {present.map((who) => <li key={who} data-testid="member">{who}</li>)}
        </ul>
        <button type="button" data-testid="leave" onClick={leave}>Leave</button>
      </aside>
      <div>
        <ol data-testid="messages">
          {messages.map(({ meta, payload }) =>
            isChatMessage(payload) && (
              <li key={meta.id} data-testid="message">
                <b>{payload.from}</b> {payload.text}
              </li>
            )
          )}
        </ol>
        <form onSubmit={send}>
          <input
            data-testid="message-input"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            maxLength={500}
            placeholder={`Message as ${name}`}
            autoFocus
          />
          <button type="submit" data-testid="send" disabled={!draft.trim()}>
            {isPending ? "Sending…" : "Send"}
          </button>
        </form>
        {error && <p role="alert">Not sent: {error.message}</p>}
      </div>
    </section>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
