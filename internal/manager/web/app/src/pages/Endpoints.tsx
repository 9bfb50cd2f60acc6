import { useEffect, useMemo, useState } from "react";
import { endpoints, type EndpointInfo, type Whoami } from "../api";
import { navigate, setParams, useLocation } from "../route";
import { captureLink } from "./Captures";
import { Empty, ErrorNote } from "../flows";

/** Labels Calico adds to every workload endpoint, shown apart from the pod's own. */
const calicoLabel = /^(projectcalico\.org\/|pcns\.|pcsa\.)/;

export function Endpoints({ me }: { me: Whoami }) {
  const url = useLocation();
  const ns = url.searchParams.get("namespace") ?? "";
  const search = url.searchParams.get("q") ?? "";
  const [list, setList] = useState<EndpointInfo[] | null>(null);
  const [hidden, setHidden] = useState<string[]>([]);
  const [policiesKnown, setPoliciesKnown] = useState(true);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [draft, setDraft] = useState({ namespace: ns, q: search });

  useEffect(() => setDraft({ namespace: ns, q: search }), [ns, search]);
  useEffect(() => {
    let live = true;
    setError("");
    setList(null);
    endpoints(ns)
      .then((r) => {
        if (!live) return;
        setList(r.endpoints);
        setHidden(r.hidden);
        setPoliciesKnown(r.policies_known);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [ns]);

  const shown = useMemo(() => {
    if (!list) return [];
    const q = search.toLowerCase();
    if (!q) return list;
    return list.filter(
      (e) =>
        `${e.namespace ?? ""}/${e.pod ?? e.name}`.toLowerCase().includes(q) ||
        e.node.toLowerCase().includes(q) ||
        e.addresses.some((a) => a.includes(q)) ||
        Object.entries(e.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q)) ||
        e.policies.some((p) => p.name.toLowerCase().includes(q)),
    );
  }, [list, search]);

  return (
    <section aria-labelledby="ep-title">
      <div className="page-head">
        <h1 id="ep-title">Endpoints</h1>
      </div>
      <form
        className="filters"
        aria-label="Endpoint filters"
        onSubmit={(e) => {
          e.preventDefault();
          setParams({ namespace: draft.namespace, q: draft.q });
        }}
      >
        <label>
          Namespace
          <input name="namespace" value={draft.namespace} placeholder="all" onChange={(e) => setDraft({ ...draft, namespace: e.target.value })} />
        </label>
        <label>
          Search
          <input name="q" value={draft.q} placeholder="name, label, address, policy" onChange={(e) => setDraft({ ...draft, q: e.target.value })} />
        </label>
        <button type="submit">Apply</button>
      </form>
      {hidden.length > 0 && (
        <div className="notice">
          {me.user} may not list {hidden.join(", ")}, so {policiesKnown ? "those are absent here" : "the policies that apply cannot be shown"}.
        </div>
      )}
      {error && <ErrorNote error={error} />}
      {!list && !error && <p className="muted">Loading endpoints…</p>}
      {list && shown.length === 0 && (
        <Empty title={list.length === 0 ? "No endpoints" : "No endpoint matches"}>
          {list.length === 0 ? "Pods appear here once their node has wired them." : "Clear the search to see them all."}
        </Empty>
      )}
      {shown.length > 0 && (
        <div className="table-wrap">
          <table className="flows endpoints">
            <thead>
              <tr>
                <th scope="col">Endpoint</th>
                <th scope="col">Node</th>
                <th scope="col">Addresses</th>
                <th scope="col">Labels</th>
                <th scope="col">Policies, in order</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => {
                const id = `${e.kind}/${e.namespace ?? ""}/${e.name}`;
                const own = Object.entries(e.labels).filter(([k]) => !calicoLabel.test(k));
                return (
                  <tr key={id}>
                    <td>
                      <span className="muted small">{e.kind === "HostEndpoint" ? "host" : "pod"}</span>{" "}
                      {e.namespace ? `${e.namespace}/` : ""}
                      <strong>{e.pod || e.name}</strong>
                      {e.interface && <div className="muted small">{e.interface}</div>}
                    </td>
                    <td>{e.node}</td>
                    <td>{e.addresses.join(", ") || "-"}</td>
                    <td>
                      <ul className="labels">
                        {(open === id ? own : own.slice(0, 4)).map(([k, v]) => (
                          <li key={k}>
                            <code>
                              {k}={v}
                            </code>
                          </li>
                        ))}
                        {own.length > 4 && (
                          <li>
                            <button type="button" className="link" onClick={() => setOpen(open === id ? null : id)}>
                              {open === id ? "fewer" : `+${own.length - 4} more`}
                            </button>
                          </li>
                        )}
                      </ul>
                    </td>
                    <td>
                      {!policiesKnown ? (
                        <span className="muted">unknown: you may not list every kind of policy</span>
                      ) : e.policies.length === 0 ? (
                        <span className="muted">none: the namespace's profile decides</span>
                      ) : (
                        <ol className="applied">
                          {e.policies.map((p) => (
                            <li key={`${p.kind}/${p.namespace}/${p.name}`}>
                              <span className="muted small">{p.tier}</span> {p.namespace ? `${p.namespace}/` : ""}
                              {p.name}{" "}
                              <span className="muted small">
                                ({[p.ingress && "ingress", p.egress && "egress"].filter(Boolean).join(", ")}
                                {p.kind.startsWith("Staged") ? ", staged" : ""})
                              </span>
                            </li>
                          ))}
                        </ol>
                      )}
                    </td>
                    <td className="actions">
                      {e.kind === "WorkloadEndpoint" && e.namespace && (
                        <button
                          type="button"
                          className="ghost small-button"
                          title="Capture the packets of this pod and its like (same labels)"
                          onClick={() => navigate(captureLink(e.namespace!, e.labels))}
                        >
                          Capture
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
