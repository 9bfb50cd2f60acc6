import { useEffect, useState } from "react";
import { flowLogs, type FlowLog, type FlowQuery, type Whoami } from "../api";
import { setParams, timeRange, useLocation } from "../route";
import { bytes, deciding, Empty, endpointLabel, ErrorNote, FilterForm, NoFlowAccess, ruleLabel, time, usePages, Verdict } from "../flows";
import { DNSLogs } from "./DNS";

const filters = ["namespace", "name", "action", "policy", "port", "reporter"] as const;
const pageSize = 100;

/** The flow filter the URL holds. */
export function queryOf(url: URL): FlowQuery {
  const tr = timeRange(url);
  const q: FlowQuery = { from: tr.from, to: tr.to };
  for (const f of filters) {
    const v = url.searchParams.get(f);
    if (v) (q as Record<string, unknown>)[f] = f === "port" ? Number(v) : v;
  }
  const sort = url.searchParams.get("sort");
  if (sort) {
    q.sort = sort.replace(/^-/, "");
    q.desc = sort.startsWith("-");
  }
  return q;
}

const columns: { key: string; label: string; sort?: string }[] = [
  { key: "time", label: "End time", sort: "end_time" },
  { key: "action", label: "Verdict", sort: "action" },
  { key: "src", label: "Source", sort: "source_namespace" },
  { key: "dst", label: "Destination", sort: "dest_namespace" },
  { key: "port", label: "Port", sort: "dest_port" },
  { key: "reporter", label: "Reporter", sort: "reporter" },
  { key: "policy", label: "Deciding policy" },
  { key: "bytes", label: "Bytes", sort: "bytes_out" },
];

/** The flows view: flow logs, or (view=dns) the DNS logs. */
export function Flows({ me }: { me: Whoami }) {
  const url = useLocation();
  const dns = url.searchParams.get("view") === "dns";
  return (
    <section aria-labelledby="flows-title">
      <div className="page-head">
        <h1 id="flows-title">{dns ? "DNS" : "Flows"}</h1>
        <div role="group" aria-label="Which logs" className="segmented">
          {(["flows", "dns"] as const).map((v) => (
            <button
              key={v}
              type="button"
              className={(v === "dns") === dns ? "" : "ghost"}
              aria-pressed={(v === "dns") === dns}
              onClick={() => setParams({ view: v === "dns" ? "dns" : undefined })}
            >
              {v === "dns" ? "DNS" : "Flows"}
            </button>
          ))}
        </div>
      </div>
      {dns ? <DNSLogs me={me} url={url} /> : <FlowLogs me={me} url={url} />}
    </section>
  );
}

function FlowLogs({ me, url }: { me: Whoami; url: URL }) {
  const q = queryOf(url);
  const key = JSON.stringify({ ...q, from: undefined, to: undefined, range: url.searchParams.get("range") });
  const { after, page, setNext, pager } = usePages(key);
  const [items, setItems] = useState<FlowLog[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<number | null>(null);

  useEffect(() => {
    if (!me.logs.flows) return;
    let live = true;
    setError("");
    flowLogs({ ...q, page_size: pageSize, after_key: after })
      .then((p) => {
        if (!live) return;
        setItems(p.items);
        setNext(p.after_key);
        setTotal(p.total_hits);
        setOpen(null);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, after, me.logs.flows]);

  if (!me.logs.flows) return <NoFlowAccess user={me.user} />;

  const sortParam = url.searchParams.get("sort") ?? "-end_time";
  const exportCSV = async () => {
    const rows: FlowLog[] = [];
    let k: Record<string, unknown> | null = null;
    do {
      const p = await flowLogs({ ...q, page_size: 1000, after_key: k });
      rows.push(...p.items);
      k = p.after_key;
    } while (k && rows.length < 10000);
    downloadCSV(rows);
  };

  return (
    <>
      <div className="actions-row">
        <FilterBar url={url} />
        <button type="button" className="ghost" onClick={() => exportCSV().catch((e) => setError(e.message))}>
          Export CSV
        </button>
      </div>
      {error && <ErrorNote error={error} />}
      {items === null && !error && <p className="muted">Loading flows…</p>}
      {items !== null && items.length === 0 && (
        <Empty title="No flows match">
          Flow logs are flushed every 15 s by default, and reach the log store within about half a minute. Widen the time
          range or clear a filter.
        </Empty>
      )}
      {items !== null && items.length > 0 && (
        <>
          <p className="muted small" aria-live="polite">
            {total === 1 ? "1 flow log matches" : `${total} flow logs match`}; showing {page > 1 ? `page ${page}` : "the newest"}{" "}
            {items.length}.
          </p>
          <div className="table-wrap">
            <table className="flows" aria-label="Flow logs">
              <thead>
                <tr>
                  {columns.map((c) => {
                    const active = c.sort && sortParam.replace(/^-/, "") === c.sort;
                    const desc = sortParam.startsWith("-");
                    return (
                      <th key={c.key} aria-sort={active ? (desc ? "descending" : "ascending") : undefined} scope="col">
                        {c.sort ? (
                          <button
                            type="button"
                            className="sort"
                            onClick={() => setParams({ sort: active && desc ? c.sort : `-${c.sort}` })}
                          >
                            {c.label} {active ? (desc ? "▼" : "▲") : ""}
                          </button>
                        ) : (
                          c.label
                        )}
                      </th>
                    );
                  })}
                </tr>
              </thead>
              <tbody>
                {items.map((f, i) => (
                  <FlowRow key={i} f={f} open={open === i} onToggle={() => setOpen(open === i ? null : i)} />
                ))}
              </tbody>
            </table>
          </div>
          {pager}
        </>
      )}
    </>
  );
}

function FlowRow({ f, open, onToggle }: { f: FlowLog; open: boolean; onToggle: () => void }) {
  const d = deciding(f);
  const enforced = (f.policies?.enforced_policies ?? []).map((s) => s.split("|"));
  // Pending policies are the verdict with staged policies in force; only
  // worth showing when they would decide differently.
  const pendingRaw = f.policies?.pending_policies ?? [];
  const pending = pendingRaw.join() === (f.policies?.enforced_policies ?? []).join() ? [] : pendingRaw.map((s) => s.split("|"));
  return (
    <>
      <tr className={open ? "open" : undefined}>
        <td>
          <button type="button" className="link" aria-expanded={open} onClick={onToggle}>
            {time(f.end_time).toLocaleTimeString()}
          </button>
        </td>
        <td>
          <Verdict action={f.action} />
        </td>
        <td>{endpointLabel(f.source_type, f.source_namespace, f.source_name_aggr)}</td>
        <td>
          {endpointLabel(f.dest_type, f.dest_namespace, f.dest_name_aggr)}
          {f.dest_service_name && f.dest_service_name !== "-" ? <span className="muted"> (svc {f.dest_service_name})</span> : null}
          {f.dest_domains?.length ? <span className="muted"> ({f.dest_domains.join(", ")})</span> : null}
        </td>
        <td>
          {f.proto}/{f.dest_port ?? "-"}
        </td>
        <td>{f.reporter === "dst" ? "destination" : "source"}</td>
        <td>{d ? `${d.name} (${d.tier})` : <span className="muted">none recorded</span>}</td>
        <td>{bytes(f.bytes_in + f.bytes_out)}</td>
      </tr>
      {open && (
        <tr className="detail">
          <td colSpan={columns.length}>
            <h2 className="small-title">Policy trace, as the {f.reporter === "dst" ? "destination" : "source"} node evaluated it</h2>
            {enforced.length === 0 ? (
              <p className="muted">This flow log has no policies recorded (the node's flowLogsFileIncludePolicies is off).</p>
            ) : (
              <ol className="trace">
                {enforced
                  .sort((a, b) => Number(a[0]) - Number(b[0]))
                  .map((p, i) => (
                    <li key={i} className={i === enforced.length - 1 ? "decided" : undefined}>
                      <span className="tier">tier {p[1]}</span> <strong>{p[2]}</strong>: {p[3]} ({ruleLabel({ rule: p[4] })})
                      {i === enforced.length - 1 && <span className="badge">decided</span>}
                    </li>
                  ))}
              </ol>
            )}
            {pending.length > 0 && (
              <>
                <h3 className="small-title">With the staged policies in force, it would go</h3>
                <ol className="trace">
                  {pending.map((p, i) => (
                    <li key={i}>
                      <span className="tier">tier {p[1]}</span> <strong>{p[2]}</strong>: {p[3]} ({ruleLabel({ rule: p[4] })})
                    </li>
                  ))}
                </ol>
              </>
            )}
            <p className="muted small">
              {f.source_ip ?? ""} → {f.dest_ip ?? ""} · {f.num_flows} connection(s) · reported by {f.host ?? "a node"} ·{" "}
              {time(f.start_time).toLocaleString()} to {time(f.end_time).toLocaleTimeString()}
            </p>
          </td>
        </tr>
      )}
    </>
  );
}

function FilterBar({ url }: { url: URL }) {
  return (
    <FilterForm url={url} filters={filters} label="Flow filters">
      {({ field, select }) => (
        <>
          {field("namespace", "Namespace", "any")}
          {field("name", "Name", "frontend-* …")}
          {select("action", "Verdict", [["", "any"], ["allow", "allowed"], ["deny", "denied"]])}
          {field("policy", "Policy", "tier.name")}
          {field("port", "Port", "any")}
          {select("reporter", "Reporter", [["", "either"], ["src", "source"], ["dst", "destination"]])}
        </>
      )}
    </FilterForm>
  );
}

function downloadCSV(rows: FlowLog[]) {
  const cols: (keyof FlowLog)[] = ["start_time", "end_time", "action", "reporter", "proto", "source_type", "source_namespace",
    "source_name_aggr", "source_ip", "dest_type", "dest_namespace", "dest_name_aggr", "dest_ip", "dest_port", "dest_service_name",
    "bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows"];
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [cols.join(",") + ",enforced_policies"];
  for (const r of rows) lines.push(cols.map((c) => esc(r[c])).join(",") + "," + esc((r.policies?.enforced_policies ?? []).join(" ")));
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "flows.csv";
  a.click();
  URL.revokeObjectURL(a.href);
}
