import { useEffect, useState } from "react";
import { ApiError, flowSummary, promQuery, securityEvents, type Bucket, type DeniedGroup, type Whoami } from "../api";
import { navigate, timeRange, useLocation } from "../route";
import { Empty, endpointLabel, ErrorNote, NoFlowAccess, parsePolicy, ruleLabel } from "../flows";

/** A health figure from Prometheus: up of total, or why it is missing. */
interface Health {
  label: string;
  up?: number;
  total?: number;
  detail?: string;
  error?: string;
}

const healthQueries: { label: string; up: string; total: string; detail: string }[] = [
  { label: "calico-node", up: 'count(up{job="calico-node"} == 1)', total: 'count(up{job="calico-node"})', detail: "nodes reporting metrics" },
  {
    label: "BGP sessions",
    up: 'sum(calico_bgp_peers{state="Established"})',
    total: "sum(calico_bgp_peers)",
    detail: "established",
  },
  { label: "Typha", up: 'count(up{job="calico-typha"} == 1)', total: 'count(up{job="calico-typha"})', detail: "replicas up" },
  {
    label: "kube-controllers",
    up: 'count(up{job="calico-kube-controllers"} == 1)',
    total: 'count(up{job="calico-kube-controllers"})',
    detail: "up",
  },
];

async function scalar(q: string): Promise<number> {
  const r = await promQuery(q);
  return r.length === 0 ? 0 : Number(r[0].value[1]);
}

export function Dashboard({ me }: { me: Whoami }) {
  const url = useLocation();
  const rangeKey = url.searchParams.get("range") ?? "1h";
  const [health, setHealth] = useState<Health[] | null>(null);
  const [metricsError, setMetricsError] = useState("");
  const [buckets, setBuckets] = useState<Bucket[] | null>(null);
  const [denied, setDenied] = useState<DeniedGroup[]>([]);
  const [error, setError] = useState("");
  const [security, setSecurity] = useState<{ all: number; high: number } | null>(null);

  // Security events in the range: all open ones, and the high ones.
  useEffect(() => {
    if (!me.logs.events) return;
    let live = true;
    const tr = timeRange(url);
    Promise.all([
      securityEvents({ from: tr.from, to: tr.to, page_size: 1 }),
      securityEvents({ from: tr.from, to: tr.to, page_size: 1, min_severity: 80 }),
    ])
      .then(([all, high]) => live && setSecurity({ all: all.total_hits, high: high.total_hits }))
      .catch(() => live && setSecurity(null));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rangeKey, me.logs.events]);

  useEffect(() => {
    let live = true;
    setMetricsError("");
    Promise.all(
      healthQueries.map(async (h) => ({ label: h.label, detail: h.detail, up: await scalar(h.up), total: await scalar(h.total) })),
    )
      .then((hs) => live && setHealth(hs))
      .catch((e: Error) => {
        if (!live) return;
        setHealth(null);
        setMetricsError(
          e instanceof ApiError && e.status === 403
            ? `${me.user} may not query metrics: bind the ClusterRole calico-metrics-viewer in kube-system to see cluster health. (${e.message})`
            : `Cluster health is unavailable: ${e.message}`,
        );
      });
    return () => {
      live = false;
    };
  }, [rangeKey, me.user]);

  useEffect(() => {
    if (!me.logs.flows) return;
    let live = true;
    const tr = timeRange(url);
    setError("");
    flowSummary({ from: tr.from, to: tr.to, buckets: 12 })
      .then((s) => {
        if (!live) return;
        setBuckets(s.buckets);
        setDenied(s.denied);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rangeKey, me.logs.flows]);

  const totalAllowed = (buckets ?? []).reduce((a, b) => a + b.allowed, 0);
  const totalDenied = (buckets ?? []).reduce((a, b) => a + b.denied, 0);

  return (
    <section aria-labelledby="dash-title">
      <div className="page-head">
        <h1 id="dash-title">Dashboard</h1>
      </div>
      <h2>Cluster health</h2>
      {metricsError && <div className="notice">{metricsError}</div>}
      {!metricsError && !health && <p className="muted">Asking Prometheus…</p>}
      {health && (
        <ul className="cards" aria-label="Cluster health">
          {health.map((h) => {
            const ok = h.total !== undefined && h.total > 0 && h.up === h.total;
            return (
              <li key={h.label} className={`card stat ${h.total === 0 ? "unknown" : ok ? "ok" : "bad"}`}>
                <span className="stat-label">{h.label}</span>
                <span className="stat-value">
                  {h.total === 0 ? "—" : `${h.up} / ${h.total}`}
                  <span aria-hidden="true">{h.total === 0 ? "" : ok ? " ✓" : " ⚠"}</span>
                </span>
                <span className="muted small">{h.total === 0 ? "no data yet" : h.detail}</span>
              </li>
            );
          })}
        </ul>
      )}

      {security && (
        <>
          <h2>Security</h2>
          <ul className="cards" aria-label="Security events">
            <li className={`card stat ${security.high > 0 ? "bad" : "ok"}`}>
              <span className="stat-label">Open security events</span>
              <span className="stat-value">
                <a href={`/security${url.search}`} onClick={(e) => (e.preventDefault(), navigate(`/security${url.search}`))}>
                  {security.all}
                </a>
              </span>
              <span className="muted small">{security.high > 0 ? `${security.high} of high severity` : security.all > 0 ? "none of high severity" : "none in this time range"}</span>
            </li>
          </ul>
        </>
      )}

      <h2>Traffic</h2>
      {!me.logs.flows && <NoFlowAccess user={me.user} />}
      {error && <ErrorNote error={error} />}
      {me.logs.flows && !buckets && !error && <p className="muted">Loading traffic…</p>}
      {buckets && totalAllowed + totalDenied === 0 && (
        <Empty title="No flows in this time range yet">
          Flow logs are flushed every 15 s by default and reach the log store within about half a minute.
        </Empty>
      )}
      {buckets && totalAllowed + totalDenied > 0 && (
        <>
          <ul className="cards" aria-label="Traffic totals">
            <li className="card stat ok">
              <span className="stat-label">Allowed connections</span>
              <span className="stat-value">{totalAllowed}</span>
            </li>
            <li className={`card stat ${totalDenied > 0 ? "bad" : "ok"}`}>
              <span className="stat-label">Denied connections</span>
              <span className="stat-value">{totalDenied}</span>
            </li>
          </ul>
          <Timeline buckets={buckets} />
          <h2>Denied traffic</h2>
          {denied.length === 0 ? (
            <p className="muted">Nothing was denied in this time range.</p>
          ) : (
            <div className="table-wrap">
              <table className="flows">
                <thead>
                  <tr>
                    <th scope="col">Source</th>
                    <th scope="col">Destination</th>
                    <th scope="col">Port</th>
                    <th scope="col">Denied by</th>
                    <th scope="col">Connections</th>
                    <th scope="col">
                      <span className="visually-hidden">Open</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {denied.map((d, i) => {
                    const p = d.policy ? parsePolicy(d.policy) : null;
                    const link = `/flows?range=${rangeKey}&action=deny&namespace=${encodeURIComponent(d.dest_namespace === "-" ? d.source_namespace : d.dest_namespace)}${p ? `&policy=${encodeURIComponent(p.name)}` : ""}`;
                    return (
                      <tr key={i}>
                        <td>{endpointLabel("", d.source_namespace, d.source_name)}</td>
                        <td>{endpointLabel("", d.dest_namespace, d.dest_name)}</td>
                        <td>{d.port || "-"}</td>
                        <td>{p ? `${p.name} (tier ${p.tier}, ${ruleLabel(p)})` : <span className="muted">not recorded</span>}</td>
                        <td>{d.flows}</td>
                        <td>
                          <a
                            href={link}
                            onClick={(e) => {
                              e.preventDefault();
                              navigate(link);
                            }}
                          >
                            Flows →
                          </a>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

/** Allowed and denied connections per interval, as bars; a table for screen readers. */
function Timeline({ buckets }: { buckets: Bucket[] }) {
  const w = 900;
  const h = 160;
  const pad = 28;
  const max = Math.max(1, ...buckets.map((b) => b.allowed + b.denied));
  const bw = (w - pad) / buckets.length;
  const fmt = (s: string) => new Date(s).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <figure className="card timeline">
      <figcaption className="muted small">
        Connections per interval: <span className="swatch allowed" aria-hidden="true" /> allowed{" "}
        <span className="swatch denied" aria-hidden="true" /> denied (hatched)
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h + 20}`} role="img" aria-label="Allowed and denied connections over time">
        <defs>
          <pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="6" height="6" className="bar denied" />
            <line x1="0" y1="0" x2="0" y2="6" className="hatch" />
          </pattern>
        </defs>
        <text x={0} y={10} className="axis">
          {max}
        </text>
        {buckets.map((b, i) => {
          const ha = ((h - 10) * b.allowed) / max;
          const hd = ((h - 10) * b.denied) / max;
          const x = pad + i * bw + 2;
          return (
            <g key={i}>
              <rect x={x} y={h - ha} width={bw - 4} height={ha} className="bar allowed" />
              <rect x={x} y={h - ha - hd} width={bw - 4} height={hd} fill="url(#hatch)" />
              <title>{`${fmt(b.start)}–${fmt(b.end)}: ${b.allowed} allowed, ${b.denied} denied`}</title>
              {(i === 0 || i === buckets.length - 1 || i === Math.floor(buckets.length / 2)) && (
                <text x={x} y={h + 16} className="axis">
                  {fmt(b.start)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <table className="visually-hidden">
        <caption>Connections per interval</caption>
        <thead>
          <tr>
            <th>From</th>
            <th>Allowed</th>
            <th>Denied</th>
          </tr>
        </thead>
        <tbody>
          {buckets.map((b, i) => (
            <tr key={i}>
              <td>{fmt(b.start)}</td>
              <td>{b.allowed}</td>
              <td>{b.denied}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
