import { useEffect, useState } from "react";
import { changeEvents, putResource, securityEvents, type EventQuery, type SecurityEvent, type Whoami } from "../api";
import { navigate, ranges, timeRange } from "../route";
import { Empty, ErrorNote, FilterForm, usePages } from "../flows";

const filters = ["min_severity", "type", "namespace", "origin", "dismissed"] as const;
const pageSize = 50;

export const eventTypes: [string, string][] = [
  ["gtf_suspicious_flow", "Suspicious flow (threat feed)"],
  ["gtf_suspicious_dns_query", "Suspicious DNS query (threat feed)"],
  ["global_alert", "Alert rule"],
];

function queryOf(url: URL): EventQuery {
  const tr = timeRange(url);
  const q: EventQuery = { from: tr.from, to: tr.to };
  const p = (k: string) => url.searchParams.get(k) ?? "";
  if (p("min_severity")) q.min_severity = Number(p("min_severity"));
  if (p("type")) q.type = p("type");
  if (p("namespace")) q.namespace = p("namespace");
  if (p("origin")) q.origin = p("origin");
  if (p("dismissed") === "show") q.include_dismissed = true;
  return q;
}

/** Severity as a word and a number, so colour is not the only signal. */
export function Severity({ n }: { n: number }) {
  const [word, cls] = n >= 80 ? ["High", "high"] : n >= 50 ? ["Medium", "medium"] : ["Low", "low"];
  return (
    <span className={`severity ${cls}`} title={`Severity ${n} of 100`}>
      {word} {n}
    </span>
  );
}

function typeLabel(t: string): string {
  return eventTypes.find(([k]) => k === t)?.[1] ?? t;
}

function side(ns?: string | null, name?: string | null, aggr?: string | null, ip?: string | null): string {
  const n = name || aggr;
  if (ns && n) return `${ns}/${n}`;
  return n || ip || "-";
}

/** The smallest time range of the picker that reaches back to t (unix seconds). */
function rangeFor(t: number): string {
  const age = Date.now() - t * 1000 + 5 * 60e3;
  return Object.entries(ranges).find(([, r]) => r.ms >= age)?.[0] ?? "7d";
}

/** The flows (or DNS logs) an event is about, in the flows view. */
export function flowsLink(e: SecurityEvent): string {
  const p = new URLSearchParams({ range: rangeFor(e.time) });
  if (e.type === "gtf_suspicious_dns_query") {
    p.set("view", "dns");
    if (e.source_namespace) p.set("namespace", e.source_namespace);
    if (e.source_name_aggr) p.set("name", e.source_name_aggr);
    const rec = e.record as { qname?: string } | undefined;
    if (rec?.qname) p.set("qname", rec.qname);
    return "/flows?" + p.toString();
  }
  const ns = e.source_namespace || e.dest_namespace;
  if (ns) p.set("namespace", ns);
  const name = e.source_namespace ? e.source_name_aggr : e.dest_name_aggr;
  if (name) p.set("name", name);
  if (e.dest_port) p.set("port", String(e.dest_port));
  return "/flows?" + p.toString();
}

/** The security events: filters, a page of events, dismiss and delete. */
export function Alerts({ me, url }: { me: Whoami; url: URL }) {
  const q = queryOf(url);
  const key = JSON.stringify({ ...q, from: undefined, to: undefined, range: url.searchParams.get("range") });
  const { after, page, setNext, pager } = usePages(key);
  const [items, setItems] = useState<SecurityEvent[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    if (!me.logs.events) return;
    let live = true;
    setError("");
    securityEvents({ ...q, page_size: pageSize, after_key: after })
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
  }, [key, after, me.logs.events, reload]);

  if (!me.logs.events)
    return (
      <Empty title="You may not see security events">
        {me.user} needs <code>get</code> on <code>lma.tigera.io</code> resource <code>cluster</code>, resourceName{" "}
        <code>events</code>. Ask a cluster administrator for it.
      </Empty>
    );

  const except = async (e: SecurityEvent) => {
    const selector = exceptionSelector(e);
    if (!window.confirm(`Suppress new events matching\n\n  ${selector}\n\nfrom now on? (An AlertException; delete it to stop.)`)) return;
    setNote("");
    try {
      const name = `console-${e.origin}-${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, 63);
      await putResource({
        apiVersion: "projectcalico.org/v3",
        kind: "AlertException",
        metadata: { name },
        spec: { description: `Added from the console by ${me.user}`, selector, startTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
      });
      setNote(`Events matching ${selector} are suppressed from now on (AlertException ${name}).`);
    } catch (err) {
      setError(`The API server refused the exception: ${(err as Error).message}`);
    }
  };

  const act = async (verb: "dismiss" | "delete", e: SecurityEvent) => {
    if (verb === "delete" && !window.confirm(`Delete the event "${e.description}"? It cannot be brought back.`)) return;
    setNote("");
    try {
      await changeEvents(verb, [e.id]);
      setNote(verb === "dismiss" ? "Event dismissed." : "Event deleted.");
      setReload(reload + 1);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <>
      <FilterForm url={url} filters={filters} label="Event filters">
        {({ field, select }) => (
          <>
            {select("min_severity", "Severity", [["", "any"], ["50", "Medium and above (≥ 50)"], ["80", "High (≥ 80)"]])}
            {select("type", "Type", [["", "any"], ...eventTypes])}
            {field("namespace", "Namespace", "any")}
            {field("origin", "Feed or rule", "any")}
            {select("dismissed", "Dismissed", [["", "hidden"], ["show", "shown"]])}
          </>
        )}
      </FilterForm>
      {error && <ErrorNote error={error} />}
      {note && (
        <p className="check ok" role="status">
          ✓ {note}
        </p>
      )}
      {items === null && !error && <p className="muted">Loading security events…</p>}
      {items !== null && items.length === 0 && (
        <Empty title="No security events match">
          Events come from the threat feeds (a flow or DNS lookup that involves a listed address or domain) and from the
          alert rules, each run of a rule adding an event per bucket that fires. Widen the time range, clear a filter, or
          add a threat feed or an alert rule.
        </Empty>
      )}
      {items !== null && items.length > 0 && (
        <>
          <p className="muted small" aria-live="polite">
            {total === 1 ? "1 event matches" : `${total} events match`}; showing {page > 1 ? `page ${page}` : "the newest"} {items.length}.
          </p>
          <div className="table-wrap">
            <table className="flows events" aria-label="Security events">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Type</th>
                  <th scope="col">Description</th>
                  <th scope="col">Source</th>
                  <th scope="col">Destination</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => (
                  <EventRow key={e.id} e={e} open={open === e.id} toggle={() => setOpen(open === e.id ? null : e.id)} act={act} except={except} />
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

/** The exception an event suggests: its feed or rule, and its source namespace. */
function exceptionSelector(e: SecurityEvent): string {
  const terms = [`origin = ${JSON.stringify(e.origin)}`];
  if (e.source_namespace) terms.push(`source_namespace = ${JSON.stringify(e.source_namespace)}`);
  return terms.join(" AND ");
}

function EventRow({ e, open, toggle, act, except }: {
  e: SecurityEvent;
  open: boolean;
  toggle: () => void;
  act: (v: "dismiss" | "delete", e: SecurityEvent) => void;
  except: (e: SecurityEvent) => void;
}) {
  const at = new Date(e.time * 1000);
  const dst = e.type === "gtf_suspicious_dns_query" ? e.dest_name ?? "-" : side(e.dest_namespace, e.dest_name, e.dest_name_aggr, e.dest_ip);
  return (
    <>
      <tr className={e.dismissed ? "dismissed" : undefined}>
        <td title={at.toLocaleString()}>{at.toLocaleTimeString()}</td>
        <td>
          <Severity n={e.severity} />
        </td>
        <td>
          {typeLabel(e.type)}
          <div className="muted small">{e.origin}</div>
        </td>
        <td>
          <button type="button" className="link" aria-expanded={open} onClick={toggle}>
            {e.description}
          </button>
          {e.dismissed && <span className="badge">dismissed</span>}
        </td>
        <td>{side(e.source_namespace, e.source_name, e.source_name_aggr, e.source_ip)}</td>
        <td>
          {dst}
          {e.dest_port ? <span className="muted">:{e.dest_port}</span> : null}
        </td>
        <td className="actions">
          <a
            href={flowsLink(e)}
            onClick={(ev) => {
              ev.preventDefault();
              navigate(flowsLink(e));
            }}
          >
            {e.type === "gtf_suspicious_dns_query" ? "DNS logs" : "Flows"}
          </a>{" "}
          {!e.dismissed && (
            <button type="button" className="ghost" onClick={() => act("dismiss", e)}>
              Dismiss
            </button>
          )}
          <button type="button" className="ghost danger-text" onClick={() => act("delete", e)}>
            Delete
          </button>
        </td>
      </tr>
      {open && (
        <tr className="detail">
          <td colSpan={7}>
            <dl className="event-detail">
              <dt>When</dt>
              <dd>{at.toLocaleString()}</dd>
              {e.host && (
                <>
                  <dt>Node</dt>
                  <dd>{e.host}</dd>
                </>
              )}
              {(e.mitigations ?? []).length > 0 && (
                <>
                  <dt>What to do</dt>
                  <dd>
                    <ul>
                      {(e.mitigations ?? []).map((m) => (
                        <li key={m}>{m}</li>
                      ))}
                    </ul>
                  </dd>
                </>
              )}
              <dt>Too noisy?</dt>
              <dd>
                <button type="button" className="ghost" onClick={() => except(e)}>
                  Suppress events like this
                </button>{" "}
                <span className="muted small">
                  an AlertException for <code>{exceptionSelector(e)}</code>
                </span>
              </dd>
              <dt>Record</dt>
              <dd>
                <pre>{JSON.stringify(e.record, null, 2)}</pre>
              </dd>
            </dl>
          </td>
        </tr>
      )}
    </>
  );
}
