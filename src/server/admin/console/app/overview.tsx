/** @jsxImportSource react */
import { useEffect, useRef, useState } from "react";
import { type Answer, api } from "./api.ts";
import { Table, useAct } from "./ui.tsx";

interface Rate {
  published: number;
  delivered: number;
}

/** Messages per second, published (blue) and delivered (green), the last 60 polls. */
function RateChart({ rates }: { rates: Rate[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current!;
    const g = c.getContext("2d")!;
    g.clearRect(0, 0, c.width, c.height);
    const max = Math.max(1, ...rates.flatMap((r) => [r.published, r.delivered]));
    for (const [key, color] of [["published", "#1565c0"], ["delivered", "#2e7d32"]] as const) {
      g.strokeStyle = color;
      g.beginPath();
      rates.forEach((r, i) => {
        const x = (i / 59) * c.width;
        const y = c.height - (r[key] / max) * (c.height - 10);
        if (i === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      });
      g.stroke();
    }
  }, [rates]);
  return <canvas ref={canvas} width={600} height={120} />;
}

export function OverviewPage() {
  const act = useAct();
  const [o, setOverview] = useState<Answer>();
  const [rates, setRates] = useState<Rate[]>([]);
  useEffect(() => {
    let last: { at: number; published: number; delivered: number } | undefined;
    const poll = act(async () => {
      const now = await api("GET", "/overview");
      if (last) {
        const seconds = (Date.now() - last.at) / 1000;
        const rate = {
          published: (now.published - last.published) / seconds,
          delivered: (now.delivered - last.delivered) / seconds,
        };
        setRates((old) => [...old, rate].slice(-60));
      }
      last = { at: Date.now(), published: now.published, delivered: now.delivered };
      setOverview(now);
    });
    poll();
    const timer = setInterval(poll, 2000);
    return () => clearInterval(timer);
  }, []);
  const rate = rates.at(-1);
  return (
    <section>
      <h2>Overview</h2>
      {o && (
        <div>
          <Table
            headers={[
              "version",
              "uptime",
              "engine",
              "nodes",
              "namespaces",
              "consumers",
              "live connections",
            ]}
          >
            <tr>
              <td>{o.version}</td>
              <td>{o.uptime_seconds} s</td>
              <td>{o.clustered ? `${o.engine} (shared by nodes)` : o.engine}</td>
              <td id="nodes">
                {o.nodes.map((n: Answer) =>
                  n.self
                    ? `${n.name} (pid ${n.pid}, this node${
                      n.urls.length ? `, ${n.urls.join(" ")}` : ""
                    })`
                    : `${n.id} (${n.urls.join(" ") || "no URL"})`
                )
                  .join(", ")}
              </td>
              <td>{o.namespaces}</td>
              <td>{o.consumers}</td>
              <td>{o.live_connections}</td>
            </tr>
          </Table>
          <h3>Connections per door</h3>
          <Table headers={["door", "open"]}>
            {Object.entries(o.connections).map(([door, n]) => (
              <tr key={door}>
                <td>{door}</td>
                <td>{String(n)}</td>
              </tr>
            ))}
          </Table>
          <p id="rates">
            published {o.published} ({rate ? rate.published.toFixed(1) : "…"}/s), delivered{" "}
            {o.delivered} ({rate ? rate.delivered.toFixed(1) : "…"}/s)
          </p>
        </div>
      )}
      <h3>Messages per second (blue published, green delivered)</h3>
      <RateChart rates={rates} />
    </section>
  );
}
