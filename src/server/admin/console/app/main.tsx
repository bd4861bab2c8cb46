/** @jsxImportSource react */
/**
 * The Catbus console: a page per hash route, every action through the admin API
 * (docs/admin-api.md). Built with esbuild into ../console.js (tools/build-console.ts). Text from
 * the server is rendered by React as text, never as HTML.
 */
import { type FormEvent, type ReactNode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, setSession, whenLoggedOut } from "./api.ts";
import { AccessPage } from "./access.tsx";
import { ConnectionsPage } from "./connections.tsx";
import { ConsumerPage, ConsumersPage } from "./consumers.tsx";
import { AllePage, PulsarPage } from "./doors.tsx";
import { NamespacePage, NamespacesPage } from "./namespaces.tsx";
import { OverviewPage } from "./overview.tsx";
import { PublishPage } from "./publish.tsx";
import { StateMachinesPage } from "./state-machines.tsx";
import { ErrorLine, fields, useAct } from "./ui.tsx";

/** The menu; an entry with a door is there only while that door runs. */
const MENU: { href: string; label: string; door?: string }[] = [
  { href: "#/overview", label: "Overview" },
  { href: "#/namespaces", label: "Namespaces" },
  { href: "#/publish", label: "Publish" },
  { href: "#/connections", label: "Connections" },
  { href: "#/consumers", label: "Consumers" },
  { href: "#/access", label: "Roles and tokens" },
  { href: "#/state-machines", label: "State machines", door: "rcp" },
  { href: "#/pulsar", label: "Pulsar", door: "pulsar" },
  { href: "#/alle", label: "Alle", door: "alle" },
];

const PAGES: [RegExp, (...params: string[]) => ReactNode][] = [
  [/^#\/overview$/, () => <OverviewPage />],
  [/^#\/namespaces$/, () => <NamespacesPage />],
  [/^#\/namespace\/(.+)$/, (name) => <NamespacePage key={name} name={name} />],
  [/^#\/publish$/, () => <PublishPage />],
  [/^#\/connections$/, () => <ConnectionsPage />],
  [/^#\/consumers$/, () => <ConsumersPage />],
  [/^#\/consumer\/(.+)$/, (name) => <ConsumerPage key={name} name={name} />],
  [/^#\/access$/, () => <AccessPage />],
  [/^#\/state-machines$/, () => <StateMachinesPage />],
  [/^#\/pulsar$/, () => <PulsarPage />],
  [/^#\/alle$/, () => <AllePage />],
];

function LoginPage({ loggedIn }: { loggedIn(csrf: string): void }) {
  const act = useAct();
  return (
    <section>
      <h2>Log in</h2>
      <form
        onSubmit={act(async (event) => {
          const form = (event as FormEvent<HTMLFormElement>).currentTarget;
          loggedIn((await api("POST", "/login", { key: fields(form).key })).csrf);
        })}
      >
        <label>
          Admin key <input name="key" type="password" autoComplete="off" />
        </label>
        <button type="submit">Log in</button>
      </form>
    </section>
  );
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash || "#/overview";
}

function App() {
  const [error, setError] = useState("");
  // undefined: not known yet; null: logged out.
  const [session, setLogin] = useState<string | null>();
  const [doorPages, setDoorPages] = useState<string[]>([]);
  const hash = useHash();
  const loggedIn = (csrf: string | null) => {
    setSession(csrf ?? undefined);
    setLogin(csrf);
    setError("");
  };
  useEffect(() => {
    whenLoggedOut(() => loggedIn(null));
    api("GET", "/session").then((s) => loggedIn(s.csrf), () => loggedIn(null));
  }, []);
  useEffect(() => {
    if (!session) return;
    // A door's page is in the menu while the door runs (its routes are there).
    api("GET", "/overview").then((o) => setDoorPages(o.door_pages), (e) => setError(e.message));
  }, [session]);
  const page = PAGES.map(([pattern, render]) => [pattern.exec(hash), render] as const)
    .find(([m]) => m);
  useEffect(() => {
    if (session && !page) location.hash = "#/overview";
  }, [session, page]);
  return (
    <ErrorLine.Provider value={setError}>
      <header>
        <h1>Catbus</h1>
        {session && (
          <nav id="nav">
            {MENU.filter((m) => !m.door || doorPages.includes(m.door)).map((m) => (
              <a key={m.href} href={m.href} className={hash.startsWith(m.href) ? "active" : ""}>
                {m.label}
              </a>
            ))}
            <button
              id="logout"
              type="button"
              onClick={() =>
                api("POST", "/logout").then(() => loggedIn(null), (e) => setError(e.message))}
            >
              Log out
            </button>
          </nav>
        )}
      </header>
      <main id="main">
        {session === null
          ? <LoginPage loggedIn={loggedIn} />
          : session && page
          ? page[1](...page[0]!.slice(1).map(decodeURIComponent))
          : null}
      </main>
      {error && <p id="error" role="alert">{error}</p>}
    </ErrorLine.Provider>
  );
}

createRoot(document.getElementById("root")!).render(<App />);
