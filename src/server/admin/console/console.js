// The Catbus console: a page per hash route, every action through the admin API
// (docs/admin-api.md). Text from the server is only ever set as text, never as HTML.
const API = "/admin/api";
const main = document.getElementById("main");
let csrf;
/** Stopped when the page changes: timers, event sources. */
let cleanups = [];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["x-catbus-csrf"] = csrf ?? "";
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/login" && path !== "/session") {
    csrf = undefined;
    route();
  }
  if (!response.ok) throw new Error(`${answer.code ?? response.status}: ${answer.message ?? ""}`);
  return answer;
}

/** Runs an action, showing its error instead of throwing. */
const act = (fn) => async (event) => {
  event?.preventDefault?.();
  try {
    showError("");
    await fn(event);
  } catch (e) {
    showError(e.message);
  }
};

/** A byte count for people: 1.5 KiB, 12 MiB. */
function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) (bytes /= 1024), i++;
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

const field = (form, name) => form.elements.namedItem(name).value.trim();
const list = (text) => text.split(/[\s,]+/).filter(Boolean);

function table(headers, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows),
  );
}

/** A paged, filtered list: `load(query)` answers {items, total, offset, limit}. */
function pagedList(load, render, filters = []) {
  const box = h("div");
  let offset = 0;
  const form = h(
    "form",
    { onsubmit: act(() => ((offset = 0), refresh())) },
    h("input", { name: "q", placeholder: "filter" }),
    filters,
    h("button", {}, "Search"),
  );
  async function refresh() {
    const query = new URLSearchParams({ offset: String(offset), limit: "20" });
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === "checkbox") {
        if (el.checked) query.set(el.name, "true");
      } else if (el.value) query.set(el.name, el.value);
    }
    const answer = await load(query);
    box.replaceChildren(
      render(answer.items, refresh),
      h(
        "div",
        { class: "row" },
        `${answer.total === 0 ? 0 : answer.offset + 1}–${
          answer.offset + answer.items.length
        } of ${answer.total}`,
        h("button", {
          type: "button",
          disabled: offset === 0,
          onclick: act(() => ((offset = Math.max(0, offset - 20)), refresh())),
        }, "Previous"),
        h("button", {
          type: "button",
          disabled: answer.offset + answer.items.length >= answer.total,
          onclick: act(() => ((offset += 20), refresh())),
        }, "Next"),
      ),
    );
  }
  act(refresh)();
  return h("div", {}, form, box);
}

function payloadCell(m) {
  return h("pre", {}, m.binary ? `(binary, base64url) ${m.payload_base64url}` : m.payload);
}

function messageRows(items, extra = () => []) {
  return items.map((m) =>
    h(
      "tr",
      { "data-seq": m.seq },
      h("td", {}, m.seq),
      h("td", {}, m.time),
      h("td", {}, m.channel),
      h("td", {}, payloadCell(m)),
      extra(m),
    )
  );
}

// ---- pages ----

function loginPage() {
  document.getElementById("nav").hidden = true;
  const form = h(
    "form",
    {
      onsubmit: act(async () => {
        const answer = await api("POST", "/login", { key: field(form, "key") });
        csrf = answer.csrf;
        location.hash = "#/overview";
        route();
      }),
    },
    h(
      "label",
      {},
      "Admin key ",
      h("input", { name: "key", type: "password", autocomplete: "off" }),
    ),
    h("button", {}, "Log in"),
  );
  return h("section", {}, h("h2", {}, "Log in"), form);
}

function overviewPage() {
  const facts = h("div");
  const canvas = h("canvas", { width: 600, height: 120 });
  const rates = [];
  let last;
  async function poll() {
    const o = await api("GET", "/overview");
    if (last) {
      const seconds = (Date.now() - last.at) / 1000;
      rates.push({
        published: (o.published - last.published) / seconds,
        delivered: (o.delivered - last.delivered) / seconds,
      });
      if (rates.length > 60) rates.shift();
    }
    last = { at: Date.now(), published: o.published, delivered: o.delivered };
    const rate = rates[rates.length - 1];
    facts.replaceChildren(
      table(
        ["version", "uptime", "engine", "nodes", "namespaces", "consumers", "live connections"],
        [
          h(
            "tr",
            {},
            h("td", {}, o.version),
            h("td", {}, `${o.uptime_seconds} s`),
            h("td", {}, o.clustered ? `${o.engine} (shared by nodes)` : o.engine),
            h(
              "td",
              { id: "nodes" },
              o.nodes.map((n) => `${n.name} (pid ${n.pid}${n.self ? ", this node" : ""})`).join(
                ", ",
              ),
              o.clustered ? " — the other nodes on the engine are not listed yet" : "",
            ),
            h("td", {}, o.namespaces),
            h("td", {}, o.consumers),
            h("td", {}, o.live_connections),
          ),
        ],
      ),
      h("h3", {}, "Connections per door"),
      table(
        ["door", "open"],
        Object.entries(o.connections).map(([door, n]) =>
          h("tr", {}, h("td", {}, door), h("td", {}, n))
        ),
      ),
      h(
        "p",
        { id: "rates" },
        `published ${o.published} (${
          rate ? rate.published.toFixed(1) : "…"
        }/s), delivered ${o.delivered} (${rate ? rate.delivered.toFixed(1) : "…"}/s)`,
      ),
    );
    draw();
  }
  function draw() {
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    const max = Math.max(1, ...rates.flatMap((r) => [r.published, r.delivered]));
    for (const [key, color] of [["published", "#1565c0"], ["delivered", "#2e7d32"]]) {
      g.strokeStyle = color;
      g.beginPath();
      rates.forEach((r, i) => {
        const x = (i / 59) * canvas.width;
        const y = canvas.height - (r[key] / max) * (canvas.height - 10);
        if (i === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      });
      g.stroke();
    }
  }
  act(poll)();
  const timer = setInterval(() => act(poll)(), 2000);
  cleanups.push(() => clearInterval(timer));
  return h(
    "section",
    {},
    h("h2", {}, "Overview"),
    facts,
    h("h3", {}, "Messages per second (blue published, green delivered)"),
    canvas,
  );
}

/** A duration for people: the largest unit it is a whole number of (7 d, 36 h, 90 s). */
function duration(ms) {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["min", 60_000], ["s", 1000]]) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}

/** The server's retention limits (0: none) as a sentence. */
function retentionText({ maxAgeMs, maxMessages, maxBytes }) {
  const limits = [
    maxAgeMs ? `messages older than ${duration(maxAgeMs)}` : "",
    maxMessages ? `beyond the newest ${maxMessages} messages` : "",
    maxBytes ? `beyond ${size(maxBytes)}` : "",
  ].filter(Boolean);
  return limits.length
    ? `Retention: each stored namespace drops whole segments of ${limits.join(", or ")}.`
    : "Retention: none (stored namespaces keep every message).";
}

function namespacesPage() {
  const retention = h("p", { id: "retention" });
  return h(
    "section",
    {},
    h("h2", {}, "Namespaces"),
    retention,
    pagedList(
      async (q) => {
        const answer = await api("GET", `/namespaces?${q}`);
        retention.textContent = retentionText(answer.retention);
        return answer;
      },
      (items) =>
        table(
          [
            "name",
            "first seq",
            "last seq",
            "messages",
            "stored",
            "bytes stored",
            "bytes in memory",
          ],
          items.map((ns) =>
            h(
              "tr",
              { "data-namespace": ns.name },
              h("td", {}, h("a", { href: `#/namespace/${encodeURIComponent(ns.name)}` }, ns.name)),
              h("td", {}, ns.first_seq),
              h("td", {}, ns.last_seq),
              h("td", {}, ns.messages),
              h("td", {}, ns.stored ? "yes" : "memory"),
              h("td", {}, ns.stored_bytes === null ? "—" : size(ns.stored_bytes)),
              h("td", {}, size(ns.memory_bytes)),
            )
          ),
        ),
    ),
  );
}

/** A live tail of `pattern` into `box`, newest first; consumes nothing. */
function startTail(pattern, box) {
  const source = new EventSource(`${API}/tail?pattern=${encodeURIComponent(pattern)}`);
  const rows = h("tbody");
  box.replaceChildren(
    h("p", {}, "tailing ", pattern),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["seq", "time", "channel", "payload"].map((x) => h("th", {}, x)))),
      rows,
    ),
  );
  source.addEventListener("message", (e) => {
    rows.prepend(...messageRows([JSON.parse(e.data)]));
    while (rows.children.length > 200) rows.lastChild.remove();
  });
  source.addEventListener("dropped", (e) => {
    rows.prepend(
      h(
        "tr",
        {},
        h("td", { colspan: 4 }, `${JSON.parse(e.data).count} messages dropped (too fast)`),
      ),
    );
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) box.append(h("p", {}, "the tail ended"));
  };
  return () => source.close();
}

function namespacePage(name) {
  const results = h("div");
  const tailBox = h("div", { id: "tail" });
  let stopTail;
  let next;
  const browse = h(
    "form",
    {
      onsubmit: act(async () => {
        next = undefined;
        await load();
      }),
    },
    h("input", { name: "from_seq", placeholder: "from seq" }),
    h("input", { name: "from_time", placeholder: "or from time (ISO)" }),
    h("input", { name: "channel", placeholder: "channel pattern" }),
    h("button", {}, "Browse"),
  );
  async function load() {
    const q = new URLSearchParams({ limit: "50" });
    for (const key of ["from_seq", "from_time", "channel"]) {
      const v = field(browse, key);
      if (v) q.set(key, v);
    }
    if (next) q.set("from_seq", String(next));
    const answer = await api("GET", `/namespaces/${encodeURIComponent(name)}/messages?${q}`);
    next = answer.next_seq;
    results.replaceChildren(
      table(["seq", "time", "channel", "payload"], messageRows(answer.items)),
      next
        ? h("button", { type: "button", onclick: act(load) }, "Next page")
        : h("p", {}, "end of the log"),
    );
  }
  const tail = h(
    "form",
    {
      onsubmit: act(() => {
        stopTail?.();
        stopTail = startTail(field(tail, "pattern"), tailBox);
      }),
    },
    h("input", { name: "pattern", value: `${name}.>` }),
    h("button", {}, "Tail"),
    h("button", { type: "button", onclick: () => stopTail?.() }, "Stop"),
  );
  cleanups.push(() => stopTail?.());
  act(load)();
  return h(
    "section",
    {},
    h("h2", {}, `Namespace ${name}`),
    h("h3", {}, "Messages"),
    browse,
    results,
    h("h3", {}, "Live tail (consumes nothing)"),
    tail,
    tailBox,
  );
}

function publishPage() {
  const result = h("div", { id: "publish-result" });
  const form = h(
    "form",
    {
      onsubmit: act(async () => {
        const headers = Object.fromEntries(
          field(form, "headers").split("\n").filter(Boolean).map((l) => {
            const [k, ...v] = l.split("=");
            return [k.trim(), v.join("=").trim()];
          }),
        );
        const body = { channel: field(form, "channel"), payload: field(form, "payload"), headers };
        if (form.elements.namedItem("request").checked) {
          body.request = { timeout_ms: Number(field(form, "timeout") || 5000) };
        }
        const answer = await api("POST", "/publish", body);
        result.replaceChildren(
          answer.reply
            ? h("div", {}, "reply: ", payloadCell(answer.reply))
            : h("p", {}, `published: seq ${answer.seq}, id ${answer.id}`),
        );
      }),
    },
    h("input", { name: "channel", placeholder: "channel, e.g. orders.new" }),
    h("textarea", { name: "payload", placeholder: "JSON payload" }, "{}"),
    h("textarea", { name: "headers", placeholder: "headers, one key=value a line" }),
    h(
      "label",
      {},
      h("input", { type: "checkbox", name: "request" }),
      " request (wait for a reply)",
    ),
    h("input", { name: "timeout", placeholder: "timeout ms (5000)" }),
    h("button", {}, "Publish"),
  );
  return h("section", {}, h("h2", {}, "Publish and request"), form, result);
}

function connectionsPage() {
  return h(
    "section",
    {},
    h("h2", {}, "Connections"),
    pagedList(
      (q) => api("GET", `/connections?${q}`),
      (items, refresh) =>
        table(
          ["id", "door", "client id", "remote", "since", "slow", "queued bytes", ""],
          items.map((c) =>
            h(
              "tr",
              { "data-client": c.client_id ?? "" },
              h("td", {}, c.id),
              h("td", {}, c.door),
              h("td", {}, c.client_id ?? ""),
              h("td", {}, c.remote ?? ""),
              h("td", {}, c.since),
              h("td", {}, c.slow ? "yes" : ""),
              h("td", {}, c.queued_bytes ?? ""),
              h(
                "td",
                {},
                h("button", {
                  type: "button",
                  onclick: act(async () => {
                    await api("POST", `/connections/${c.id}/close`);
                    await refresh();
                  }),
                }, "Close"),
              ),
            )
          ),
        ),
      [
        h("input", { name: "door", placeholder: "door (native, bus, rcp…)" }),
        h("label", {}, h("input", { type: "checkbox", name: "slow" }), " slow"),
        h("label", {}, h("input", { type: "checkbox", name: "backlog" }), " with backlog"),
      ],
    ),
  );
}

function consumersPage() {
  return h(
    "section",
    {},
    h("h2", {}, "Durable consumers"),
    pagedList(
      (q) => api("GET", `/consumers?${q}`),
      (items) =>
        table(
          ["name", "pattern", "members", "pending", "redelivered", "dead letters"],
          items.map((c) =>
            h(
              "tr",
              {},
              h("td", {}, h("a", { href: `#/consumer/${encodeURIComponent(c.name)}` }, c.name)),
              h("td", {}, c.pattern),
              h("td", {}, c.members),
              h("td", {}, c.pending),
              h("td", {}, c.redelivered),
              h("td", {}, c.dead_lettered),
            )
          ),
        ),
    ),
  );
}

function consumerPage(name) {
  const box = h("div", { id: "dead-letters" });
  const path = `/consumers/${encodeURIComponent(name)}/dead-letters`;
  async function load() {
    const answer = await api("GET", `${path}?limit=100`);
    box.replaceChildren(
      table(
        ["seq", "time", "channel", "payload", ""],
        messageRows(answer.items, (m) =>
          h(
            "td",
            {},
            m.requeued ? "requeued" : h("button", {
              type: "button",
              onclick: act(async () => {
                await api("POST", `${path}/${m.seq}/requeue`);
                await load();
              }),
            }, "Requeue"),
          )),
      ),
      answer.items.length ? "" : h("p", {}, "no dead letters"),
    );
  }
  act(load)();
  return h(
    "section",
    {},
    h("h2", {}, `Consumer ${name}: dead letters`),
    h("button", {
      type: "button",
      onclick: act(async () => {
        if (!confirm(`Purge every dead letter of ${name}?`)) return;
        await api("POST", `${path}/purge`);
        await load();
      }),
    }, "Purge all"),
    box,
  );
}

function accessPage() {
  const minted = h("div", { id: "minted" });
  let refreshRoles;
  const roleForm = h(
    "form",
    {
      onsubmit: act(async () => {
        const body = { name: field(roleForm, "name") };
        if (field(roleForm, "patterns")) {
          body.permissions = list(field(roleForm, "permissions"));
          body.patterns = list(field(roleForm, "patterns"));
        }
        const answer = await api("POST", "/roles", body);
        minted.replaceChildren(
          h("p", {}, `role ${answer.role.name} (${answer.role.id}); its token, shown once:`),
          h("div", { class: "token" }, answer.token),
        );
        await refreshRoles?.();
      }),
    },
    h("input", { name: "name", placeholder: "role name" }),
    h("input", { name: "permissions", placeholder: "read write create | all" }),
    h("input", { name: "patterns", placeholder: "patterns, e.g. orders.>" }),
    h("button", {}, "Create role"),
  );
  const tokenForm = h(
    "form",
    {
      onsubmit: act(async () => {
        const body = {
          permissions: list(field(tokenForm, "permissions")),
          patterns: list(field(tokenForm, "patterns")),
        };
        if (field(tokenForm, "client_id")) body.client_id = field(tokenForm, "client_id");
        if (field(tokenForm, "expires")) {
          body.expires_in_seconds = Number(field(tokenForm, "expires"));
        }
        const answer = await api("POST", "/tokens", body);
        minted.replaceChildren(
          h(
            "p",
            {},
            `token for client ${answer.client_id}${
              answer.expires_at ? `, expires ${answer.expires_at}` : ""
            }:`,
          ),
          h("div", { class: "token" }, answer.token),
        );
      }),
    },
    h("input", { name: "permissions", placeholder: "read write create | all" }),
    h("input", { name: "patterns", placeholder: "patterns, e.g. chat.>" }),
    h("input", { name: "client_id", placeholder: "client id (optional)" }),
    h("input", { name: "expires", placeholder: "expires in seconds (optional)" }),
    h("button", {}, "Mint token"),
  );
  const roles = pagedList(
    (q) => api("GET", `/roles?${q}`),
    (items, refresh) => {
      refreshRoles = refresh;
      return table(
        ["name", "id", "grants", ""],
        items.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.name),
            h("td", {}, r.id),
            h("td", {}, r.grants.map((g) => `${g.permission}:${g.pattern}`).join(", ")),
            h(
              "td",
              {},
              h("button", {
                type: "button",
                onclick: act(async () => {
                  const permissions = prompt("permissions to grant (read write create | all)");
                  const patterns = permissions && prompt("patterns");
                  if (!patterns) return;
                  await api("POST", `/roles/${r.id}/grants`, {
                    permissions: list(permissions),
                    patterns: list(patterns),
                  });
                  await refresh();
                }),
              }, "Grant"),
              h("button", {
                type: "button",
                onclick: act(async () => {
                  if (!confirm(`Delete role ${r.name}? Its connections are closed.`)) return;
                  await api("DELETE", `/roles/${r.id}`);
                  await refresh();
                }),
              }, "Delete"),
            ),
          )
        ),
      );
    },
  );
  return h(
    "section",
    {},
    h("h2", {}, "Roles, grants and tokens"),
    roles,
    h("h3", {}, "New role"),
    roleForm,
    h("h3", {}, "Mint a token"),
    tokenForm,
    minted,
  );
}

function stateMachinesPage() {
  const machines = h("div", { id: "machines" });
  const definition = h("div", { id: "definition" });
  const instances = h("div", { id: "instances" });
  const instance = h("div", { id: "instance" });
  const show = (box, title, value) =>
    box.replaceChildren(h("h4", {}, title), h("pre", {}, JSON.stringify(value, null, 2)));
  const transitions = h("div", { id: "transitions" });
  let offset = 0;
  const filter = h(
    "form",
    { onsubmit: act(() => ((offset = 0), loadInstances())) },
    h("input", { name: "machine", placeholder: "machine" }),
    h("input", { name: "state", placeholder: "state" }),
    h("button", {}, "List instances"),
  );
  async function loadInstances() {
    const q = new URLSearchParams({ offset: String(offset), limit: "20" });
    for (const key of ["machine", "state"]) if (field(filter, key)) q.set(key, field(filter, key));
    const answer = await api("GET", `/rcp/instances?${q}`);
    instances.replaceChildren(
      table(
        ["instance", "machine", "version", "state", "updated"],
        answer.instances.map((i) => {
          const id = i.id ?? i.instance_id;
          return h(
            "tr",
            { "data-instance": id },
            h(
              "td",
              {},
              h("button", {
                type: "button",
                class: "link",
                onclick: act(async () =>
                  show(
                    instance,
                    `instance ${id}`,
                    await api("GET", `/rcp/instances/${encodeURIComponent(id)}`),
                  )
                ),
              }, id),
            ),
            h("td", {}, i.machine),
            h("td", {}, i.version),
            h("td", {}, i.state),
            h("td", {}, i.updated_at ? new Date(i.updated_at).toISOString() : ""),
          );
        }),
      ),
      h(
        "div",
        { class: "row" },
        `${answer.total} instances`,
        h("button", {
          type: "button",
          disabled: offset === 0,
          onclick: act(() => ((offset = Math.max(0, offset - 20)), loadInstances())),
        }, "Previous"),
        h("button", {
          type: "button",
          disabled: !answer.has_more,
          onclick: act(() => ((offset += 20), loadInstances())),
        }, "Next"),
      ),
    );
  }
  act(async () => {
    let answer;
    try {
      answer = await api("GET", "/rcp/machines");
    } catch {
      machines.replaceChildren(h("p", {}, "The state-machine door is off (catbusd --rcp-bind)."));
      return;
    }
    machines.replaceChildren(
      table(
        ["machine", "versions"],
        answer.items.map((m) =>
          h(
            "tr",
            { "data-machine": m.machine },
            h("td", {}, m.machine),
            h(
              "td",
              {},
              m.versions.map((v) =>
                h("button", {
                  type: "button",
                  class: "link",
                  onclick: act(async () =>
                    show(
                      definition,
                      `${m.machine} version ${v}`,
                      await api("GET", `/rcp/machines/${encodeURIComponent(m.machine)}/${v}`),
                    )
                  ),
                }, String(v))
              ),
            ),
          )
        ),
      ),
    );
    await loadInstances();
  })();
  cleanups.push(startTail("sm.>", transitions));
  return h(
    "section",
    {},
    h("h2", {}, "State machines"),
    h("h3", {}, "Definitions"),
    machines,
    definition,
    h("h3", {}, "Instances"),
    filter,
    instances,
    instance,
    h("h3", {}, "Live transitions (the sm namespace)"),
    transitions,
  );
}

/**
 * A door's page: `content()` once `probe` answers, or a note that the door is off (its routes
 * are there only while it runs).
 */
function doorPage(title, probe, off, content) {
  const box = h("div", {}, h("p", {}, "…"));
  act(async () => {
    try {
      await api("GET", probe);
    } catch (e) {
      if (!e.message.startsWith("not_found")) throw e;
      box.replaceChildren(h("p", { class: "off" }, off));
      return;
    }
    box.replaceChildren(...content());
  })();
  return h("section", {}, h("h2", {}, title), box);
}

function pulsarPage() {
  return doorPage(
    "Pulsar users and topics",
    "/pulsar/users?limit=1",
    "The Pulsar door is off (catbusd --pulsar-bind).",
    () => [
      h("h3", {}, "Users"),
      h(
        "div",
        { id: "pulsar-users" },
        pagedList(
          (q) => api("GET", `/pulsar/users?${q}`),
          (items) =>
            table(
              ["username", "email", "permissions", "active", "topics owned", "created"],
              items.map((u) =>
                h(
                  "tr",
                  { "data-user": u.username },
                  h("td", {}, u.username),
                  h("td", {}, u.email ?? ""),
                  h("td", {}, u.permissions.join(", ")),
                  h("td", {}, u.is_active ? "yes" : "no"),
                  h("td", {}, u.owned_topics),
                  h("td", {}, u.created_at),
                )
              ),
            ),
        ),
      ),
      h("h3", {}, "Topics"),
      h(
        "div",
        { id: "pulsar-topics" },
        pagedList(
          (q) => api("GET", `/pulsar/topics?${q}`),
          (items) =>
            table(
              ["topic", "owner", "public", "granted to", "description"],
              items.map((t) =>
                h(
                  "tr",
                  { "data-topic": t.topic_name },
                  h("td", {}, t.topic_name),
                  h("td", {}, t.owner),
                  h("td", {}, t.is_public ? "yes" : "no"),
                  h("td", {}, t.granted.join(", ")),
                  h("td", {}, t.description ?? ""),
                )
              ),
            ),
        ),
      ),
    ],
  );
}

function allePage() {
  const tailBox = h("div", { id: "alle-tail" });
  return doorPage(
    "Alle channels",
    "/alle/channels?limit=1",
    "The Alle door is off (catbusd --alle-bind).",
    () => {
      cleanups.push(startTail("pg.>", tailBox));
      return [
        h(
          "div",
          { id: "alle-channels" },
          pagedList(
            (q) => api("GET", `/alle/channels?${q}`),
            (items) =>
              table(
                ["PostgreSQL channel", "bus channel"],
                items.map((c) =>
                  h(
                    "tr",
                    { "data-channel": c.channel },
                    h("td", {}, c.channel),
                    h("td", {}, c.bus_channel ?? "(no bus name)"),
                  )
                ),
              ),
          ),
        ),
        h("h3", {}, "Live notifications (the pg namespace)"),
        tailBox,
      ];
    },
  );
}

// ---- routing ----

const PAGES = [
  [/^#\/overview$/, overviewPage],
  [/^#\/namespaces$/, namespacesPage],
  [/^#\/namespace\/(.+)$/, namespacePage],
  [/^#\/publish$/, publishPage],
  [/^#\/connections$/, connectionsPage],
  [/^#\/consumers$/, consumersPage],
  [/^#\/consumer\/(.+)$/, consumerPage],
  [/^#\/access$/, accessPage],
  [/^#\/state-machines$/, stateMachinesPage],
  [/^#\/pulsar$/, pulsarPage],
  [/^#\/alle$/, allePage],
];

async function route() {
  for (const stop of cleanups) stop();
  cleanups = [];
  showError("");
  if (!csrf) {
    try {
      csrf = (await api("GET", "/session")).csrf;
    } catch {
      main.replaceChildren(loginPage());
      return;
    }
  }
  document.getElementById("nav").hidden = false;
  // A door's page is in the menu while the door runs (its routes are there).
  const { door_pages: doorPages } = await api("GET", "/overview");
  for (const a of document.querySelectorAll("nav a[data-door]")) {
    a.hidden = !doorPages.includes(a.dataset.door);
  }
  const hash = location.hash || "#/overview";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  }
  for (const [pattern, page] of PAGES) {
    const m = pattern.exec(hash);
    if (m) {
      main.replaceChildren(page(...m.slice(1).map(decodeURIComponent)));
      return;
    }
  }
  location.hash = "#/overview";
}

document.getElementById("logout").addEventListener(
  "click",
  act(async () => {
    await api("POST", "/logout");
    csrf = undefined;
    route();
  }),
);
addEventListener("hashchange", route);
route();
