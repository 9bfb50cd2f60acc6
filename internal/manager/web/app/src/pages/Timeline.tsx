import { useEffect, useState } from "react";
import { timeline, type Change, type Whoami } from "../api";
import { setParams, timeRange, useLocation } from "../route";
import { Empty, ErrorNote } from "../flows";
import { diffLines, objectLines, type DiffLine } from "../diff";

const filters = ["resource", "namespace", "name", "user", "verb"] as const;

function shortUser(u: string): string {
  const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(u);
  return m ? `${m[2]} (${m[1]})` : u;
}

export function Timeline({ me }: { me: Whoami }) {
  const url = useLocation();
  const type = (url.searchParams.get("type") ?? "calico") as "calico" | "kube";
  const access = type === "calico" ? "audit_ee" : "audit_kube";
  const key = url.search;
  const [items, setItems] = useState<Change[] | null>(null);
  const [next, setNext] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [draft, setDraft] = useState<Record<string, string>>({});

  useEffect(() => {
    const d: Record<string, string> = {};
    for (const f of filters) d[f] = url.searchParams.get(f) ?? "";
    setDraft(d);
  }, [url.search]);

  const load = (after: Record<string, unknown> | null) => {
    const tr = timeRange(url);
    const q: Record<string, string> = {};
    for (const f of filters) {
      const v = url.searchParams.get(f);
      if (v) q[f] = v;
    }
    return timeline({ type, from: tr.from, to: tr.to, page_size: 50, after_key: after, ...q });
  };

  useEffect(() => {
    if (!me.logs[access]) return;
    let live = true;
    setError("");
    setItems(null);
    load(null)
      .then((p) => {
        if (!live) return;
        setItems(p.items);
        setNext(p.after_key);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, me.logs[access]]);

  return (
    <section aria-labelledby="tl-title">
      <div className="page-head">
        <h1 id="tl-title">Timeline</h1>
        <div role="group" aria-label="Which resources" className="segmented">
          {(["calico", "kube"] as const).map((t) => (
            <button key={t} type="button" className={t === type ? "" : "ghost"} aria-pressed={t === type} onClick={() => setParams({ type: t })}>
              {t === "calico" ? "Calico resources" : "Kubernetes resources"}
            </button>
          ))}
        </div>
      </div>
      <form
        className="filters"
        aria-label="Timeline filters"
        onSubmit={(e) => {
          e.preventDefault();
          setParams(draft);
        }}
      >
        {filters.map((f) => (
          <label key={f}>
            {f[0].toUpperCase() + f.slice(1)}
            <input name={f} value={draft[f] ?? ""} placeholder="any" onChange={(e) => setDraft({ ...draft, [f]: e.target.value })} />
          </label>
        ))}
        <button type="submit">Apply</button>
      </form>
      {!me.logs[access] && (
        <Empty title="You may not see this audit log">
          {me.user} needs <code>get</code> on <code>lma.tigera.io</code> resource <code>cluster</code>, resourceName{" "}
          <code>{access}</code>.
        </Empty>
      )}
      {error && <ErrorNote error={error} />}
      {me.logs[access] && !items && !error && <p className="muted">Loading changes…</p>}
      {items && items.length === 0 && (
        <Empty title="No changes in this time range">
          The API server's audit log reaches the log store within about half a minute of a change.
        </Empty>
      )}
      {items && items.length > 0 && (
        <>
          <ol className="timeline-list">
            {items.map((c) => (
              <li key={c.audit_id} className={c.code >= 300 ? "refused" : undefined}>
                <button type="button" className="link change" aria-expanded={open === c.audit_id} onClick={() => setOpen(open === c.audit_id ? null : c.audit_id)}>
                  <time dateTime={c.time}>{new Date(c.time).toLocaleString()}</time> <strong>{shortUser(c.user)}</strong> {c.verb}{" "}
                  {c.resource} {c.namespace ? `${c.namespace}/` : ""}
                  {c.name}
                  {c.code >= 300 && <span className="badge">refused: {c.code}</span>}
                </button>
                {open === c.audit_id && <ChangeDetail c={c} type={type} />}
              </li>
            ))}
          </ol>
          {next && (
            <button
              type="button"
              className="ghost"
              onClick={() =>
                load(next)
                  .then((p) => {
                    setItems([...items, ...p.items]);
                    setNext(p.after_key);
                  })
                  .catch((e: Error) => setError(e.message))
              }
            >
              Older changes
            </button>
          )}
        </>
      )}
    </section>
  );
}

function ChangeDetail({ c, type }: { c: Change; type: "calico" | "kube" }) {
  const [lines, setLines] = useState<DiffLine[] | null>(null);
  const [note, setNote] = useState("");
  useEffect(() => {
    if (c.code >= 300) {
      setNote(`The API server refused this ${c.verb}: ${c.message ?? ""}`);
      setLines(objectLines(c.object).map((text) => ({ op: " ", text })));
      return;
    }
    if (!c.name) {
      setLines(objectLines(c.object).map((text) => ({ op: " ", text })));
      return;
    }
    timeline({ type, resource: c.resource, namespace: c.namespace, name: c.name, before: c.time, from: new Date(Date.parse(c.time) - 30 * 24 * 3600e3).toISOString(), to: c.time })
      .then((p) => {
        const prev = p.items.find((x) => x.audit_id !== c.audit_id && x.code < 300);
        if (c.verb === "delete") {
          setNote("Deleted. Its last version:");
          setLines(objectLines(prev?.object ?? c.object).map((text) => ({ op: "-", text })));
        } else if (!prev) {
          setNote(c.verb === "create" ? "Created:" : "No earlier change in the log; the object as written:");
          setLines(objectLines(c.object).map((text) => ({ op: "+", text })));
        } else {
          setNote(`Changes since ${shortUser(prev.user)}'s ${prev.verb} at ${new Date(prev.time).toLocaleString()}:`);
          setLines(diffLines(objectLines(prev.object), objectLines(c.object)));
        }
      })
      .catch((e: Error) => setNote(e.message));
  }, [c, type]);
  return (
    <div className="change-detail">
      {note && <p className="muted">{note}</p>}
      {lines && (
        <pre className="diff" aria-label="The change">
          {lines.map((l, i) => (
            <div key={i} className={l.op === "+" ? "add" : l.op === "-" ? "del" : undefined}>
              <span aria-hidden="true">{l.op}</span>
              <span className="visually-hidden">{l.op === "+" ? "added: " : l.op === "-" ? "removed: " : ""}</span>
              {l.text}
            </div>
          ))}
        </pre>
      )}
    </div>
  );
}
