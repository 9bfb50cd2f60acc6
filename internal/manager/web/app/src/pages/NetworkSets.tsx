import { useEffect, useState } from "react";
import { listResources, type Resource, type Whoami } from "../api";
import { CheckNote, EditorActions, useDryRun, useSaveDelete } from "../editing";
import { setParams, useLocation } from "../route";
import { Empty, ErrorNote } from "../flows";

const kinds = ["GlobalNetworkSet", "NetworkSet"] as const;

interface Draft {
  kind: (typeof kinds)[number];
  namespace: string;
  name: string;
  labels: string;
  nets: string;
  base?: Resource;
}

function toDraft(r: Resource): Draft {
  return {
    kind: r.kind as Draft["kind"],
    namespace: r.metadata.namespace ?? "",
    name: r.metadata.name,
    labels: Object.entries(r.metadata.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    nets: ((r.spec.nets as string[] | undefined) ?? []).join("\n"),
    base: r,
  };
}

function fromDraft(d: Draft): Resource {
  const labels: Record<string, string> = {};
  for (const line of d.labels.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    labels[i < 0 ? t : t.slice(0, i).trim()] = i < 0 ? "" : t.slice(i + 1).trim();
  }
  const nets = d.nets
    .split(/[\n,]/)
    .map((n) => n.trim())
    .filter(Boolean);
  const metadata: Resource["metadata"] = { ...(d.base?.metadata ?? {}), name: d.name.trim(), labels };
  if (d.kind === "NetworkSet") metadata.namespace = d.namespace.trim();
  else delete metadata.namespace;
  return { apiVersion: "projectcalico.org/v3", kind: d.kind, metadata, spec: { ...(d.base?.spec ?? {}), nets } };
}

/** Shows an object as YAML-ish text (JSON is valid YAML), for the side view. */
function asYAML(r: Resource): string {
  const { apiVersion, kind, metadata, spec } = r;
  const meta: Record<string, unknown> = { name: metadata.name };
  if (metadata.namespace) meta.namespace = metadata.namespace;
  if (metadata.labels && Object.keys(metadata.labels).length) meta.labels = metadata.labels;
  const lines = [`apiVersion: ${apiVersion}`, `kind: ${kind}`, "metadata:"];
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v === "object") {
      lines.push(`  ${k}:`);
      for (const [lk, lv] of Object.entries(v as Record<string, string>)) lines.push(`    ${lk}: ${JSON.stringify(lv)}`);
    } else lines.push(`  ${k}: ${v}`);
  }
  lines.push("spec:", "  nets:");
  for (const n of (spec.nets as string[]) ?? []) lines.push(`  - ${n}`);
  return lines.join("\n");
}

export function NetworkSets({ me }: { me: Whoami }) {
  const url = useLocation();
  const editing = url.searchParams.get("edit") ?? "";
  const [items, setItems] = useState<Resource[] | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    Promise.all(
      kinds.map((k) =>
        listResources(k)
          .then((r) => ({ k, items: r.items, err: "" }))
          .catch((e: Error) => ({ k, items: [] as Resource[], err: e.message })),
      ),
    ).then((rs) => {
      if (!live) return;
      setItems(rs.flatMap((r) => r.items));
      setErrors(Object.fromEntries(rs.filter((r) => r.err).map((r) => [r.k, r.err])));
    });
    return () => {
      live = false;
    };
  }, [reload]);

  const current = items?.find((r) => key(r) === editing);
  const isNew = editing === "new";
  return (
    <section aria-labelledby="ns-title">
      <div className="page-head">
        <h1 id="ns-title">Network sets</h1>
        <button type="button" onClick={() => setParams({ edit: "new" })}>
          New network set
        </button>
      </div>
      {Object.entries(errors).map(([k, e]) => (
        <div className="notice" key={k}>
          {me.user} may not list {k}s: {e}
        </div>
      ))}
      {(isNew || current) && (
        <Editor
          key={editing}
          initial={current ? toDraft(current) : { kind: "NetworkSet", namespace: "default", name: "", labels: "", nets: "" }}
          onDone={(saved) => {
            setParams({ edit: undefined });
            if (saved) setReload(reload + 1);
          }}
        />
      )}
      {!items && <p className="muted">Loading network sets…</p>}
      {items && items.length === 0 && (
        <Empty title="No network sets">
          Network sets name groups of addresses (CIDRs) that policies select by label, like endpoints.
        </Empty>
      )}
      {items && items.length > 0 && (
        <div className="table-wrap">
          <table className="flows netsets">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Labels</th>
                <th scope="col">Networks</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const nets = (r.spec.nets as string[] | undefined) ?? [];
                return (
                  <tr key={key(r)}>
                    <td>
                      {r.metadata.namespace ? `${r.metadata.namespace}/` : ""}
                      <strong>{r.metadata.name}</strong>
                    </td>
                    <td>{r.kind}</td>
                    <td>
                      <ul className="labels">
                        {Object.entries(r.metadata.labels ?? {}).map(([k, v]) => (
                          <li key={k}>
                            <code>
                              {k}={v}
                            </code>
                          </li>
                        ))}
                      </ul>
                    </td>
                    <td>
                      {nets.slice(0, 3).join(", ")}
                      {nets.length > 3 && <span className="muted"> and {nets.length - 3} more</span>}
                    </td>
                    <td className="actions">
                      <button type="button" className="ghost" onClick={() => setParams({ edit: key(r) })}>
                        Edit
                      </button>
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

function key(r: Resource): string {
  return `${r.kind}/${r.metadata.namespace ?? "-"}/${r.metadata.name}`;
}

function Editor({ initial, onDone }: { initial: Draft; onDone: (saved: boolean) => void }) {
  const [d, setD] = useState<Draft>(initial);
  const obj = fromDraft(d);
  const existing = !!d.base;

  // Validated as the user types: a dry run of the write, as the user.
  const check = useDryRun(obj);
  const { saveError, busy, save, remove } = useSaveDelete(obj, onDone, `Delete ${d.kind} ${d.name}?`);

  return (
    <form
      className="card editor"
      aria-label={existing ? `Edit ${d.name}` : "New network set"}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="editor-form">
        <h2>{existing ? `Edit ${d.kind} ${d.name}` : "New network set"}</h2>
        <label>
          Kind
          <select value={d.kind} disabled={existing} onChange={(e) => setD({ ...d, kind: e.target.value as Draft["kind"] })}>
            {kinds.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        {d.kind === "NetworkSet" && (
          <label>
            Namespace
            <input value={d.namespace} disabled={existing} onChange={(e) => setD({ ...d, namespace: e.target.value })} required />
          </label>
        )}
        <label>
          Name
          <input name="name" value={d.name} disabled={existing} onChange={(e) => setD({ ...d, name: e.target.value })} required />
        </label>
        <label>
          Labels (key=value, one per line)
          <textarea name="labels" rows={3} value={d.labels} onChange={(e) => setD({ ...d, labels: e.target.value })} />
        </label>
        <label>
          Networks (CIDRs, one per line)
          <textarea name="nets" rows={5} value={d.nets} onChange={(e) => setD({ ...d, nets: e.target.value })} />
        </label>
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <EditorActions busy={busy} canSave={!!obj.metadata.name} existing={existing} onCancel={() => onDone(false)} onDelete={remove} />
      </div>
      <div className="editor-yaml">
        <h3 className="small-title">As YAML</h3>
        <pre aria-label="The object as YAML">{asYAML(obj)}</pre>
      </div>
    </form>
  );
}
