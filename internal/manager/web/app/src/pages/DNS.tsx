import { useEffect, useState } from "react";
import { dnsLogs, type DNSLog, type DNSQuery, type Whoami } from "../api";
import { timeRange } from "../route";
import { Empty, ErrorNote, FilterForm, time, usePages } from "../flows";

const filters = ["namespace", "name", "qname", "rcode"] as const;
const pageSize = 100;

function queryOf(url: URL): DNSQuery {
  const tr = timeRange(url);
  const q: DNSQuery = { from: tr.from, to: tr.to };
  for (const f of filters) {
    const v = url.searchParams.get(f);
    if (v) q[f] = v;
  }
  return q;
}

/** The DNS tab of the flows view: the answers pods received, from the nodes' DNS logs. */
export function DNSLogs({ me, url }: { me: Whoami; url: URL }) {
  const q = queryOf(url);
  const key = JSON.stringify({ ...q, from: undefined, to: undefined, range: url.searchParams.get("range") });
  const { after, page, setNext, pager } = usePages(key);
  const [items, setItems] = useState<DNSLog[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState("");

  useEffect(() => {
    if (!me.logs.dns) return;
    let live = true;
    setError("");
    dnsLogs({ ...q, page_size: pageSize, after_key: after })
      .then((p) => {
        if (!live) return;
        setItems(p.items);
        setNext(p.after_key);
        setTotal(p.total_hits);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, after, me.logs.dns]);

  if (!me.logs.dns)
    return (
      <Empty title="You may not see DNS logs">
        {me.user} needs <code>get</code> on <code>lma.tigera.io</code> resource <code>cluster</code>, resourceName{" "}
        <code>dns</code>. Ask a cluster administrator for it.
      </Empty>
    );

  return (
    <>
      <DNSFilterBar url={url} />
      {error && <ErrorNote error={error} />}
      {items === null && !error && <p className="muted">Loading DNS logs…</p>}
      {items !== null && items.length === 0 && (
        <Empty title="No DNS answers match">
          Nodes log the answers their pods receive from the cluster's DNS servers, and flush them every few minutes
          (dnsLogsFlushInterval). Widen the time range or clear a filter.
        </Empty>
      )}
      {items !== null && items.length > 0 && (
        <>
          <p className="muted small" aria-live="polite">
            {total === 1 ? "1 DNS log matches" : `${total} DNS logs match`}; showing {page > 1 ? `page ${page}` : "the newest"}{" "}
            {items.length}.
          </p>
          <div className="table-wrap">
            <table className="flows" aria-label="DNS logs">
              <thead>
                <tr>
                  <th scope="col">End time</th>
                  <th scope="col">Client</th>
                  <th scope="col">Query</th>
                  <th scope="col">Result</th>
                  <th scope="col">Answers</th>
                  <th scope="col">Server</th>
                  <th scope="col">Count</th>
                  <th scope="col">Latency</th>
                </tr>
              </thead>
              <tbody>
                {items.map((d, i) => (
                  <DNSRow key={i} d={d} />
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

function DNSRow({ d }: { d: DNSLog }) {
  if (d.type === "unlogged")
    return (
      <tr>
        <td>{time(d.end_time).toLocaleTimeString()}</td>
        <td colSpan={5} className="muted">
          {d.host ?? "A node"} left {d.count} answer(s) out: more than its dnsLogsFilePerNodeLimit in the interval
        </td>
        <td>{d.count}</td>
        <td />
      </tr>
    );
  const answers = (d.rrsets ?? []).flatMap((s) => s.rdata.map((r) => (s.type === "A" || s.type === "AAAA" ? r : `${s.type} ${r}`)));
  const ok = d.rcode === "NOERROR";
  const server = (d.servers ?? [])[0];
  const client = d.client_namespace && d.client_namespace !== "-" ? `${d.client_namespace}/${d.client_name === "-" ? d.client_name_aggr : d.client_name}` : d.client_ip ?? d.client_name_aggr;
  return (
    <tr>
      <td title={`${time(d.start_time).toLocaleString()} to ${time(d.end_time).toLocaleString()}`}>{time(d.end_time).toLocaleTimeString()}</td>
      <td>{client}</td>
      <td>
        <code>{d.qname}</code> <span className="muted">{d.qtype}</span>
      </td>
      <td>
        <span className={`verdict ${ok ? "allowed" : "denied"}`}>{d.rcode}</span>
      </td>
      <td>{answers.length ? answers.join(", ") : <span className="muted">none</span>}</td>
      <td>{server ? (server.namespace && server.namespace !== "-" ? `${server.namespace}/${server.name}` : server.ip) : "-"}</td>
      <td>{d.count}</td>
      <td>{d.latency_count > 0 && d.latency_mean ? `${(d.latency_mean / 1e6).toFixed(1)} ms` : <span className="muted">-</span>}</td>
    </tr>
  );
}

function DNSFilterBar({ url }: { url: URL }) {
  return (
    <FilterForm url={url} filters={filters} label="DNS filters">
      {({ field, select }) => (
        <>
          {field("namespace", "Client namespace", "any")}
          {field("name", "Client", "frontend-* …")}
          {field("qname", "Name asked", "*.example.com")}
          {select("rcode", "Result", [["", "any"], ["NOERROR", "NOERROR"], ["NXDOMAIN", "NXDOMAIN"], ["SERVFAIL", "SERVFAIL"], ["REFUSED", "REFUSED"]])}
        </>
      )}
    </FilterForm>
  );
}
