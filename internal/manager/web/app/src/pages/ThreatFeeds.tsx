import { useEffect, useState } from "react";
import { stringify } from "yaml";
import { listResources, type Resource } from "../api";
import { CheckNote, EditorActions, useDryRun, useSaveDelete } from "../editing";
import { setParams } from "../route";
import { Empty, ErrorNote } from "../flows";

interface Draft {
  name: string;
  description: string;
  content: "IPSet" | "DomainNameSet";
  mode: "Enabled" | "Disabled";
  url: string;
  period: string;
  format: "newline" | "json" | "csv";
  path: string;
  column: string;
  labels: string;
  base?: Resource;
}

type Pull = { period?: string; http?: { url?: string; format?: { json?: { path?: string }; csv?: { fieldNum?: number; fieldName?: string; header?: boolean } } } };

function toDraft(r: Resource): Draft {
  const pull = (r.spec.pull ?? {}) as Pull;
  const fmt = pull.http?.format ?? {};
  const gns = r.spec.globalNetworkSet as { labels?: Record<string, string> } | undefined;
  return {
    name: r.metadata.name,
    description: String(r.spec.description ?? ""),
    content: (r.spec.content as Draft["content"]) ?? "IPSet",
    mode: (r.spec.mode as Draft["mode"]) ?? "Enabled",
    url: pull.http?.url ?? "",
    period: pull.period ?? "",
    format: fmt.json ? "json" : fmt.csv ? "csv" : "newline",
    path: fmt.json?.path ?? "",
    column: fmt.csv ? String(fmt.csv.fieldName ?? fmt.csv.fieldNum ?? "") : "",
    labels: Object.entries(gns?.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    base: r,
  };
}

function fromDraft(d: Draft): Resource {
  const spec: Record<string, unknown> = { ...(d.base?.spec ?? {}), content: d.content, mode: d.mode };
  if (d.description) spec.description = d.description;
  else delete spec.description;
  const format: Record<string, unknown> = {};
  if (d.format === "json") format.json = { path: d.path };
  else if (d.format === "csv") format.csv = /^\d+$/.test(d.column) ? { fieldNum: Number(d.column) } : { fieldName: d.column, header: true };
  else format.newlineDelimited = {};
  const http: Record<string, unknown> = { ...((d.base?.spec.pull as Pull | undefined)?.http ?? {}), url: d.url.trim(), format };
  const pull: Record<string, unknown> = { http };
  if (d.period) pull.period = d.period;
  spec.pull = pull;
  const labels: Record<string, string> = {};
  for (const line of d.labels.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    labels[i < 0 ? t : t.slice(0, i).trim()] = i < 0 ? "" : t.slice(i + 1).trim();
  }
  if (d.content === "IPSet" && Object.keys(labels).length) spec.globalNetworkSet = { labels };
  else delete spec.globalNetworkSet;
  return { apiVersion: "projectcalico.org/v3", kind: "GlobalThreatFeed", metadata: { ...(d.base?.metadata ?? {}), name: d.name.trim() }, spec };
}

function when(v: unknown): string {
  return v ? new Date(String(v)).toLocaleString() : "not yet";
}

/** The threat feeds: what each holds, where it comes from, and how its last pull and search went. */
export function ThreatFeeds({ url }: { url: URL }) {
  const editing = url.searchParams.get("edit") ?? "";
  const [items, setItems] = useState<Resource[] | null>(null);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    listResources("GlobalThreatFeed")
      .then((r) => live && setItems(r.items))
      .catch((e: Error) => live && (setError(`You may not list GlobalThreatFeeds: ${e.message}`), setItems([])));
    return () => {
      live = false;
    };
  }, [reload]);

  const current = items?.find((r) => r.metadata.name === editing);
  return (
    <>
      <div className="toolbar">
        <button type="button" onClick={() => setParams({ edit: "new" })}>
          New threat feed
        </button>
      </div>
      {error && <ErrorNote error={error} />}
      {(editing === "new" || current) && (
        <FeedEditor
          key={editing}
          initial={
            current
              ? toDraft(current)
              : { name: "", description: "", content: "IPSet", mode: "Enabled", url: "", period: "", format: "newline", path: "", column: "", labels: "" }
          }
          onDone={(saved) => {
            setParams({ edit: undefined });
            if (saved) setReload(reload + 1);
          }}
        />
      )}
      {items === null && <p className="muted">Loading threat feeds…</p>}
      {items !== null && items.length === 0 && !error && (
        <Empty title="No threat feeds">
          A threat feed is a list of addresses or domain names known to be malicious, pulled from a URL. Flows and DNS lookups
          that involve them become security events, and an address feed can be kept in a network set that a policy denies.
        </Empty>
      )}
      {items !== null && items.length > 0 && (
        <div className="table-wrap">
          <table className="flows" aria-label="Threat feeds">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Holds</th>
                <th scope="col">Source</th>
                <th scope="col">Last sync</th>
                <th scope="col">Last search</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const st = r.status ?? {};
                const errs = (st.errorConditions as { type: string; message: string }[] | undefined) ?? [];
                const pull = (r.spec.pull ?? {}) as Pull;
                const gns = r.spec.globalNetworkSet as { labels?: Record<string, string> } | undefined;
                return (
                  <tr key={r.metadata.name}>
                    <td>
                      <strong>{r.metadata.name}</strong>
                      {r.spec.mode === "Disabled" && <span className="badge">disabled</span>}
                      {r.spec.description ? <div className="muted small">{String(r.spec.description)}</div> : null}
                    </td>
                    <td>
                      {r.spec.content === "DomainNameSet" ? "Domain names" : "Addresses"}
                      {gns && (
                        <div className="muted small">
                          kept in network set <code>threatfeed.{r.metadata.name}</code> (
                          {Object.entries(gns.labels ?? {})
                            .map(([k, v]) => `${k}=${v}`)
                            .join(", ")}
                          )
                        </div>
                      )}
                    </td>
                    <td>
                      {pull.http?.url ? <code className="wrap">{pull.http.url}</code> : <span className="muted">pushed through Linseed</span>}
                      {pull.http && <div className="muted small">every {pull.period ?? "24h"}</div>}
                    </td>
                    <td>
                      {when(st.lastSuccessfulSync)}
                      {errs.map((e) => (
                        <div className="error small" key={e.type}>
                          ✕ {e.message}
                        </div>
                      ))}
                    </td>
                    <td>{when(st.lastSuccessfulSearch)}</td>
                    <td className="actions">
                      <button type="button" className="ghost" onClick={() => setParams({ edit: r.metadata.name })}>
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
    </>
  );
}

function FeedEditor({ initial, onDone }: { initial: Draft; onDone: (saved: boolean) => void }) {
  const [d, setD] = useState<Draft>(initial);
  const obj = fromDraft(d);
  const existing = !!d.base;
  const check = useDryRun(obj);
  const { saveError, busy, save, remove } = useSaveDelete(obj, onDone, `Delete the threat feed ${d.name}? Its network set goes with it.`);

  const shown = { ...obj, metadata: { name: obj.metadata.name } };
  return (
    <form
      className="card editor"
      aria-label={existing ? `Edit ${d.name}` : "New threat feed"}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="editor-form">
        <h2>{existing ? `Edit threat feed ${d.name}` : "New threat feed"}</h2>
        <label>
          Name
          <input value={d.name} disabled={existing} required onChange={(e) => setD({ ...d, name: e.target.value })} />
        </label>
        <label>
          Description
          <input value={d.description} onChange={(e) => setD({ ...d, description: e.target.value })} />
        </label>
        <div className="form-row">
          <label>
            Holds
            <select value={d.content} onChange={(e) => setD({ ...d, content: e.target.value as Draft["content"] })}>
              <option value="IPSet">addresses and networks</option>
              <option value="DomainNameSet">domain names</option>
            </select>
          </label>
          <label>
            State
            <select value={d.mode} onChange={(e) => setD({ ...d, mode: e.target.value as Draft["mode"] })}>
              <option>Enabled</option>
              <option>Disabled</option>
            </select>
          </label>
          <label>
            Pulled every
            <input value={d.period} placeholder="24h (at least 5m)" onChange={(e) => setD({ ...d, period: e.target.value })} />
          </label>
        </div>
        <label>
          URL
          <input value={d.url} placeholder="https://feeds.example.com/bad-ips.txt" required onChange={(e) => setD({ ...d, url: e.target.value })} />
        </label>
        <div className="form-row">
          <label>
            Format
            <select value={d.format} onChange={(e) => setD({ ...d, format: e.target.value as Draft["format"] })}>
              <option value="newline">one per line</option>
              <option value="json">JSON</option>
              <option value="csv">CSV</option>
            </select>
          </label>
          {d.format === "json" && (
            <label>
              JSONPath
              <input value={d.path} placeholder="{.ips[*]}" onChange={(e) => setD({ ...d, path: e.target.value })} />
            </label>
          )}
          {d.format === "csv" && (
            <label>
              Column (number, or name from the header)
              <input value={d.column} placeholder="1" onChange={(e) => setD({ ...d, column: e.target.value })} />
            </label>
          )}
        </div>
        {d.content === "IPSet" && (
          <label>
            Network set labels (key=value per line; a policy can deny the feed's addresses by them)
            <textarea rows={2} value={d.labels} onChange={(e) => setD({ ...d, labels: e.target.value })} />
          </label>
        )}
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <EditorActions busy={busy} canSave={!!obj.metadata.name} existing={existing} onCancel={() => onDone(false)} onDelete={remove} />
      </div>
      <div className="editor-yaml">
        <h3 className="small-title">As YAML</h3>
        <pre aria-label="The feed as YAML">{stringify(shown)}</pre>
      </div>
    </form>
  );
}
